// lcmd plot: log.jsonl -> Vega-Lite spec -> SVG -> PNG (lib/curves.ts), and the command's flags (bin/commands/plot.ts).
import { Command } from 'commander';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { registerPlot } from '../bin/commands/plot';
import {
  accuracyFields,
  buildCurvesSpec,
  checkPictureTarget,
  lossFields,
  parseTrainingLog,
  readTrainingLog,
  renderCurves,
  writeFileAtomic,
  type TrainingLog,
} from '../lib/curves';
import { LcmdError } from '../lib/errors';

interface SyntheticOptions {
  steps?: number;
  logEvery?: number;
  evalEvery?: number;
  /** step lines carry embedNorm / embedDistanceRatio (the lead's new fields) */
  stepEmbeddings?: boolean;
  /** step lines carry a cross-entropy term `ce` */
  ce?: boolean;
  /** eval lines (with vlb, table, embeddings) */
  evals?: boolean;
}

/** A log.jsonl like lcmd train writes, for a run whose embeddings slowly collapse. */
function syntheticLog(o: SyntheticOptions = {}): string {
  const steps = o.steps ?? 400;
  const logEvery = o.logEvery ?? 10;
  const evalEvery = o.evalEvery ?? 100;
  const lines: string[] = [];
  for (let step = 1; step <= steps; step = step === 1 && logEvery > 1 ? logEvery : step + logEvery) {
    const f = step / steps;
    const diff = 48 * Math.exp(-4.5 * f);
    const cm = 0.8 * Math.exp(-3 * f) + 0.01;
    const entry: Record<string, unknown> = {
      type: 'step',
      step,
      loss: cm + 0.1 * diff,
      recon: 0,
      cm,
      diff,
      prior: 2e-8,
      accuracyT: 0.25 - 0.15 * f,
      gradNorm: 0.4,
      lr: 2e-4,
      lambdaCm: 1,
      lambdaDiff: 0.1,
      skippedSteps: 0,
      imagesPerSecond: 300,
      seconds: step / 10,
    };
    if (o.ce) entry.ce = 2.5 * Math.exp(-f);
    if (o.stepEmbeddings) {
      entry.embedNorm = 4 * Math.exp(-2.3 * f);
      entry.embedDistanceRatio = 1.41 - 0.6 * f;
    }
    lines.push(JSON.stringify(entry));
    if (o.evals !== false && step % evalEvery === 0) {
      const table = Array.from({ length: 10 }, (_, i) => ({ tLow: i / 10, tHigh: (i + 1) / 10, logsnr: 2 - i, accuracy: Math.max(0.06, 0.9 - i * 0.12 - 0.1 * f), crossEntropy: 0.3 + i * 0.25 }));
      lines.push(
        JSON.stringify({
          type: 'eval',
          step,
          heldout: 32,
          bitsPerToken: 5.5 - f,
          vlb: { reconBits: 0.01, priorBits: 3e-8, diffusionBits: 5.49 - f, diffusionStderrBits: 0.2, totalBits: 5.5 - f, tokens: 512 },
          table,
          embeddings: { meanNorm: 4 * Math.exp(-2.3 * f), meanPairwiseDistance: 5, minPairwiseDistance: 3, distanceToNorm: 1.41 - 0.6 * f },
        }),
      );
    }
    if (step % 200 === 0) lines.push(JSON.stringify({ type: 'checkpoint', step, path: 'run/checkpoint.safetensors' }));
  }
  lines.push(JSON.stringify({ type: 'end', step: steps, seconds: 40 }));
  return lines.join('\n') + '\n';
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-curves-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function errorOf(fn: () => unknown): LcmdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    return err as LcmdError;
  }
  throw new Error('expected an LcmdError');
}

function panelNames(log: TrainingLog): string[] {
  const { spec } = buildCurvesSpec(log, { width: 1200 });
  return ((spec as unknown as { concat: { name: string }[] }).concat ?? []).map((p) => p.name);
}

describe('parseTrainingLog', () => {
  test('reads step and eval lines, skips other types, sorts by step and keeps finite numbers only', () => {
    const text = [
      JSON.stringify({ type: 'step', step: 20, loss: 1, cm: null, accuracyT: 0.2 }),
      JSON.stringify({ type: 'checkpoint', step: 20, path: 'x' }),
      '',
      JSON.stringify({ type: 'step', step: 10, loss: 2, note: 'text' }),
      JSON.stringify({ type: 'eval', step: 20, bitsPerToken: 3, vlb: { diffusionBits: 3 }, table: [{ tLow: 0, tHigh: 0.5, accuracy: 0.5 }, { bogus: 1 }] }),
      JSON.stringify({ type: 'end', step: 20 }),
    ].join('\n');
    const log = parseTrainingLog(text, 'x.jsonl');
    expect(log.steps.map((s) => s.step)).toEqual([10, 20]);
    expect(log.steps[1].values).toEqual({ loss: 1, accuracyT: 0.2 });
    expect(log.steps[0].values).toEqual({ loss: 2 });
    expect(log.evals).toHaveLength(1);
    expect(log.evals[0].table).toEqual([{ tLow: 0, tHigh: 0.5, accuracy: 0.5, crossEntropy: undefined }]);
    expect(log.lines).toBe(5);
  });

  test('a step logged twice keeps the later line (a resumed run)', () => {
    const text = [{ type: 'step', step: 10, loss: 5 }, { type: 'step', step: 20, loss: 4 }, { type: 'step', step: 10, loss: 3 }].map((e) => JSON.stringify(e)).join('\n');
    const log = parseTrainingLog(text);
    expect(log.steps.map((s) => [s.step, s.values.loss])).toEqual([
      [10, 3],
      [20, 4],
    ]);
  });

  test('malformed lines are E_DATA naming their line numbers', () => {
    const good = JSON.stringify({ type: 'step', step: 10, loss: 1 });
    const err = errorOf(() => parseTrainingLog([good, good, '{"type":"step", "step": 3', good, '[1, 2]', good].join('\n') + '\n', 'run/log.jsonl'));
    expect(err.code).toBe('E_DATA');
    expect(err.message).toContain('run/log.jsonl');
    expect(err.message).toMatch(/line 3 \(not JSON/);
    expect(err.message).toMatch(/line 5 \(not a JSON object/);
    expect(err.message).not.toMatch(/line [146] /);
  });

  test('a step or eval line without a numeric step is E_DATA with its line number', () => {
    const err = errorOf(() => parseTrainingLog(`${JSON.stringify({ type: 'step', step: 1, loss: 1 })}\n${JSON.stringify({ type: 'eval', step: 'x' })}\n`));
    expect(err.code).toBe('E_DATA');
    expect(err.message).toMatch(/line 2 \(an eval line without a numeric "step"\)/);
  });

  test('a cut-off last line (no newline: a run killed while writing it) is skipped with a warning', () => {
    const text = `${JSON.stringify({ type: 'step', step: 10, loss: 1 })}\n{"type":"step","step":20,"lo`;
    const log = parseTrainingLog(text, 'log.jsonl');
    expect(log.steps).toHaveLength(1);
    expect(log.warnings).toEqual([expect.stringMatching(/line 2 is cut off/)]);
    // the same line in the middle of the file is an error
    expect(errorOf(() => parseTrainingLog(`${text}\n${JSON.stringify({ type: 'step', step: 30, loss: 1 })}\n`)).code).toBe('E_DATA');
  });

  test('an empty log, or one without step or eval lines, is E_DATA', () => {
    for (const text of ['', '\n\n', `${JSON.stringify({ type: 'checkpoint', step: 10, path: 'x' })}\n${JSON.stringify({ type: 'end', step: 10 })}\n`]) {
      const err = errorOf(() => parseTrainingLog(text, 'empty.jsonl'));
      expect(err.code).toBe('E_DATA');
      expect(err.message).toMatch(/empty\.jsonl has no step or eval lines/);
    }
  });

  test('step lines without any plottable number are E_DATA when the spec is built', () => {
    const log = parseTrainingLog(`${JSON.stringify({ type: 'step', step: 10, gradNorm: 1 })}\n`);
    const err = errorOf(() => buildCurvesSpec(log));
    expect(err.code).toBe('E_DATA');
    expect(err.message).toMatch(/no numbers to plot/);
  });
});

describe('readTrainingLog', () => {
  test('takes a file or a run folder; E_IO for a missing file or a folder without a log', () => {
    const run = path.join(dir, 'run-read');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'log.jsonl'), syntheticLog({ steps: 50 }));
    expect(readTrainingLog(run).source).toBe(path.join(run, 'log.jsonl'));
    expect(readTrainingLog(path.join(run, 'log.jsonl')).steps.length).toBeGreaterThan(0);
    const missing = errorOf(() => readTrainingLog(path.join(dir, 'nope.jsonl')));
    expect(missing.code).toBe('E_IO');
    expect(missing.message).toContain('nope.jsonl');
    const emptyFolder = path.join(dir, 'no-log');
    fs.mkdirSync(emptyFolder);
    const noLog = errorOf(() => readTrainingLog(emptyFolder));
    expect(noLog.code).toBe('E_IO');
    expect(noLog.message).toMatch(/holds no log\.jsonl/);
  });
});

describe('buildCurvesSpec', () => {
  test('a full log has all six panels; ce joins the loss terms, bookkeeping fields do not', () => {
    const log = parseTrainingLog(syntheticLog({ stepEmbeddings: true, ce: true }));
    expect(lossFields(log.steps)).toEqual(['loss', 'recon', 'cm', 'diff', 'prior', 'ce']);
    expect(accuracyFields(log.steps)).toEqual(['accuracyT']);
    const { panels, spec } = buildCurvesSpec(log, { width: 1200, vocabSize: 16 });
    expect(panels.map((p) => p.id)).toEqual(['losses', 'accuracy', 'bits', 'noiseAccuracy', 'embedNorm', 'embedRatio']);
    expect(panelNames(log)).toEqual(['panel-losses', 'panel-accuracy', 'panel-bits', 'panel-noiseAccuracy', 'panel-embedNorm', 'panel-embedRatio']);
    const losses = panels.find((p) => p.id === 'losses')!;
    // diff spans 48 -> 0.5 and cm 0.8 -> 0.05: a log scale; recon = 0 and the tiny prior are named, not drawn
    expect(losses.scale).toBe('log');
    expect(losses.series).toEqual(['loss', 'cm', 'diff', 'ce']);
    expect(losses.omitted).toEqual([expect.stringMatching(/^recon = 0/), expect.stringMatching(/^prior < /)]);
    expect(panels.find((p) => p.id === 'noiseAccuracy')!.series).toHaveLength(10);
    expect(panels.find((p) => p.id === 'embedNorm')!.series).toEqual(['training log (embedNorm)', 'evaluations (embeddings.meanNorm)']);
    const json = JSON.stringify(spec);
    for (const field of ['gradNorm', 'imagesPerSecond', 'lambdaCm', 'skippedSteps']) expect(json).not.toContain(`"${field}"`);
  });

  test('panels appear only for the fields present', () => {
    // no eval lines, no embedding fields: losses and accuracy only
    const trainOnly = parseTrainingLog(syntheticLog({ evals: false }));
    expect(panelNames(trainOnly)).toEqual(['panel-losses', 'panel-accuracy']);
    expect(JSON.stringify(buildCurvesSpec(trainOnly).spec)).not.toMatch(/bits per token|embedding/i);
    // embedding fields on the step lines but no evaluations
    const stepEmbeddings = parseTrainingLog(syntheticLog({ evals: false, stepEmbeddings: true }));
    expect(panelNames(stepEmbeddings)).toEqual(['panel-losses', 'panel-accuracy', 'panel-embedNorm', 'panel-embedRatio']);
    expect(buildCurvesSpec(stepEmbeddings).panels[2].series).toEqual(['training log (embedNorm)']);
    // only eval lines
    const evalsOnly = parseTrainingLog(
      syntheticLog()
        .split('\n')
        .filter((l) => l.includes('"eval"'))
        .join('\n'),
    );
    expect(panelNames(evalsOnly)).toEqual(['panel-bits', 'panel-noiseAccuracy', 'panel-embedNorm', 'panel-embedRatio']);
    // eval lines without a table or embeddings, step lines without accuracyT
    const sparse = parseTrainingLog([{ type: 'step', step: 5, loss: 2, cm: 1 }, { type: 'step', step: 10, loss: null, cm: 0.9 }, { type: 'eval', step: 10, bitsPerToken: 4 }].map((e) => JSON.stringify(e)).join('\n'));
    expect(panelNames(sparse)).toEqual(['panel-losses', 'panel-bits']);
    expect(buildCurvesSpec(sparse).panels[0].scale).toBe('linear');
  });

  test('long logs are thinned to maxStepLines, keeping the last step', () => {
    const log = parseTrainingLog(syntheticLog({ steps: 5000, logEvery: 1, evalEvery: 1000 }));
    const built = buildCurvesSpec(log, { maxStepLines: 500 });
    expect(built.stepLinesDrawn).toBeLessThanOrEqual(501);
    const losses = (built.spec as unknown as { concat: { data: { values: { step: number }[] } }[] }).concat[0].data.values;
    expect(Math.max(...losses.map((r) => r.step))).toBe(5000);
  });
});

describe('renderCurves', () => {
  test('renders a PNG of the requested width, with ink in every panel', async () => {
    const log = parseTrainingLog(syntheticLog({ stepEmbeddings: true, ce: true }), path.join(dir, 'run', 'log.jsonl'));
    const picture = await renderCurves(log, { width: 900, vocabSize: 16 });
    expect(picture.svg).toMatch(/^<svg/);
    expect(picture.svg).toContain('Training loss terms');
    expect(picture.svg).toContain('Mean embedding norm');
    const png = PNG.sync.read(picture.png);
    expect(png.width).toBe(900);
    expect(picture.width).toBe(900);
    expect(png.height).toBe(picture.height);
    expect(png.height).toBeGreaterThan(600);
    // every horizontal band of the picture a panel occupies holds drawn (non-white) pixels
    const rows = 6;
    for (let band = 0; band < rows; band++) {
      let ink = 0;
      const y0 = Math.floor((band * png.height) / rows);
      const y1 = Math.floor(((band + 1) * png.height) / rows);
      for (let y = y0; y < y1; y++) for (let x = 0; x < png.width; x++) if (png.data[4 * (y * png.width + x)] < 200) ink++;
      expect(ink).toBeGreaterThan(200);
    }
  });

  test('narrow pictures get one column; the width is exact', async () => {
    const log = parseTrainingLog(syntheticLog({ steps: 100, evalEvery: 50 }));
    const picture = await renderCurves(log, { width: 500 });
    expect(PNG.sync.read(picture.png).width).toBe(500);
    expect((picture.spec as unknown as { columns: number }).columns).toBe(1);
    expect(picture.height).toBeGreaterThan(picture.width);
  });
});

describe('writing', () => {
  test('checkPictureTarget refuses non-PNG files, folders and other extensions; accepts PNGs and new paths', async () => {
    const png = path.join(dir, 'old.png');
    const log = parseTrainingLog(syntheticLog({ steps: 30, evalEvery: 10 }));
    writeFileAtomic(png, (await renderCurves(log, { width: 400 })).png);
    expect(() => checkPictureTarget(png, 'png', '--out')).not.toThrow();
    expect(() => checkPictureTarget(path.join(dir, 'new.png'), 'png', '--out')).not.toThrow();
    const text = path.join(dir, 'notes.png');
    fs.writeFileSync(text, 'not a picture');
    const err = errorOf(() => checkPictureTarget(text, 'png', '--out'));
    expect(err.code).toBe('E_USAGE');
    expect(err.message).toMatch(/--out .*notes\.png exists and is not a PNG file; refusing to overwrite it/);
    expect(errorOf(() => checkPictureTarget(path.join(dir, 'log.jsonl'), 'png', '--out')).message).toMatch(/must end in \.png/);
    fs.mkdirSync(path.join(dir, 'folder.png'));
    expect(errorOf(() => checkPictureTarget(path.join(dir, 'folder.png'), 'png', '--out')).code).toBe('E_USAGE');
    const svg = path.join(dir, 'a.svg');
    fs.writeFileSync(svg, '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>');
    expect(() => checkPictureTarget(svg, 'svg', '--svg')).not.toThrow();
    fs.writeFileSync(svg, 'hello');
    expect(errorOf(() => checkPictureTarget(svg, 'svg', '--svg')).code).toBe('E_USAGE');
  });

  test('writeFileAtomic creates folders and leaves no temporary file; E_IO when it cannot write', () => {
    const target = path.join(dir, 'deep', 'er', 'x.png');
    writeFileAtomic(target, Buffer.from('abc'));
    expect(fs.readFileSync(target, 'utf8')).toBe('abc');
    expect(fs.readdirSync(path.dirname(target))).toEqual(['x.png']);
    const blocker = path.join(dir, 'blocker');
    fs.writeFileSync(blocker, '');
    expect(errorOf(() => writeFileAtomic(path.join(blocker, 'x.png'), 'abc')).code).toBe('E_IO');
  });
});

describe('lcmd plot (in process)', () => {
  async function plot(args: string[]): Promise<{ out: string; err: string }> {
    const program = new Command();
    program.exitOverride();
    registerPlot(program);
    const out: string[] = [];
    const errs: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errs.push(a.join(' ')));
    try {
      await program.parseAsync(['node', 'lcmd', 'plot', ...args]);
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
    return { out: out.join('\n'), err: errs.join('\n') };
  }

  test('writes curves.png into the run folder by default, and --out / --svg / --width', async () => {
    const run = path.join(dir, 'run-cli');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'log.jsonl'), syntheticLog({ stepEmbeddings: true }));
    fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify({ model: { vocabSize: 256 } }));
    const first = await plot(['--log', run]);
    expect(first.out).toMatch(/^wrote .*curves\.png \(1200 x \d+ px\) from 41 step lines and 4 eval lines/);
    expect(first.out).toMatch(/Training loss terms: loss, cm, diff \(log scale\)/);
    expect(PNG.sync.read(fs.readFileSync(path.join(run, 'curves.png'))).width).toBe(1200);
    const out = path.join(dir, 'pictures', 'c.png');
    const svg = path.join(dir, 'pictures', 'c.svg');
    await plot(['--log', path.join(run, 'log.jsonl'), '--out', out, '--svg', svg, '--width', '640']);
    expect(PNG.sync.read(fs.readFileSync(out)).width).toBe(640);
    expect(fs.readFileSync(svg, 'utf8')).toContain('chance 1/K = 0.00391');
    // a second run replaces the PNG it wrote before
    await plot(['--log', run, '--out', out, '--width', '700']);
    expect(PNG.sync.read(fs.readFileSync(out)).width).toBe(700);
  });

  test('refuses to overwrite a file that is not a PNG, and reports bad logs', async () => {
    const run = path.join(dir, 'run-cli-bad');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'log.jsonl'), syntheticLog({ steps: 30 }));
    const precious = path.join(run, 'precious.png');
    fs.writeFileSync(precious, 'my notes');
    await expect(plot(['--log', run, '--out', precious])).rejects.toMatchObject({ code: 'E_USAGE' });
    expect(fs.readFileSync(precious, 'utf8')).toBe('my notes');
    fs.writeFileSync(path.join(run, 'log.jsonl'), '');
    await expect(plot(['--log', run])).rejects.toMatchObject({ code: 'E_DATA' });
    await expect(plot(['--log', path.join(run, 'missing.jsonl')])).rejects.toMatchObject({ code: 'E_IO' });
    expect(fs.existsSync(path.join(run, 'curves.png'))).toBe(false);
  });
});
