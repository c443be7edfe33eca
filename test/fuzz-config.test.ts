// Fuzz suite, configs and API calls: generated bad configurations (NaN, Infinity, null, wrong types, unknown keys,
// out-of-range values) for Trainer.create, Model.create, Trainer.resume and TrainingRun.open, bad arguments to the
// other API calls (tensors, files, datasets, sampling), all in one child process under a timeout; and bad JSON
// config files through `lcmd train --config`. Every case must fail with its code and leave its folder unchanged.
import * as fs from 'fs';
import * as path from 'path';
import { pool, runCli, tmpDir, writeNpyFile } from './cli-run';
import { apiOutcome, cliOutcome, runApiCases, runCliTimed, snapshot, type ApiCase } from './fuzz-harness';

const M = ['--preset', 'cm-data-small', '--layers', '1', '--hidden', '32', '--embed-dim', '16', '--heads', '2', '--vocab-size', '16', '--steps', '2', '--no-blas-check'];
/** The tiny model as a config (JS source, for the child). */
const TINY = "{ preset: 'cm-data-small', model: { layers: 1, hidden: 32, embedDim: 16, heads: 2, vocabSize: 16, height: 4, width: 4, numClasses: 0 } }";

const root = tmpDir('lcmd-fuzz-config-');
const fixtures = path.join(root, 'fixtures');
const tokens = path.join(fixtures, 'tokens.npy');
const checkpoint = path.join(fixtures, 'run', 'checkpoint.safetensors');

interface Case {
  id: string;
  /** the expected LcmdError code */
  code: string;
  /** what the error message (API) or stderr (CLI) must name: the key or the flag */
  names?: RegExp;
  api?: string;
  cli?: string[];
  /** files for the case folder (a config file, ...) */
  files?: Record<string, string>;
  dir?: string;
  before?: string[];
  outcome?: string;
}

const cases: Case[] = [];
const api = (id: string, code: string, body: string, names?: RegExp) => cases.push({ id: `api: ${id}`, code, api: body, names });

// ---- configs: every kind of bad value for a spread of keys, on Trainer.create --------------------------------------

const NUMERIC_KEYS = [
  'model.layers', 'model.hidden', 'model.heads', 'model.embedDim', 'model.vocabSize', 'model.shift', 'model.maxLogsnr', 'model.embedInitStd',
  'train.lr', 'train.emaDecay', 'train.dropRate', 'train.seed', 'train.warmupSteps', 'train.gradClip', 'train.lambdaCm', 'train.weightDecay',
];
const NON_FINITE = ['NaN', 'Infinity', '-Infinity', 'null'];
for (const key of NUMERIC_KEYS) {
  const [section, name] = key.split('.');
  for (const value of NON_FINITE) {
    api(`Trainer.create with ${key} = ${value}`, 'E_CONFIG', `lib.Trainer.create({ preset: 'cm-data-small', ${section}: { ${name}: ${value} } }).dispose();`);
  }
}
// the same through Model.create and TrainingRun.open (which name the flag's key the same way)
for (const [key, value] of [['layers', 'NaN'], ['hidden', 'Infinity'], ['heads', 'null'], ['shift', '-Infinity']]) {
  api(`Model.create with model.${key} = ${value}`, 'E_CONFIG', `lib.Model.create({ preset: 'cm-data-small', model: { ${key}: ${value} } }).dispose();`);
}
const runOptions = (extra: string) => `{ out: path.join(dir, 'run'), data: ${JSON.stringify(tokens)}, steps: 1, batchSize: 4, preset: 'cm-data-small', model: { layers: 1, hidden: 32, embedDim: 16, heads: 2, vocabSize: 16 }, blasCheck: false, ${extra} }`;
for (const [extra, what] of [['train: { lr: NaN }', 'train.lr NaN'], ['train: { emaDecay: Infinity }', 'train.emaDecay Infinity'], ['model: { layers: NaN }', 'model.layers NaN'], ['train: { seed: null }', 'train.seed null']]) {
  api(`TrainingRun.open with ${what}`, 'E_CONFIG', `(await lib.TrainingRun.open(${runOptions(extra)})).dispose();`);
}

const BAD_CONFIGS: [string, string, string][] = [
  // [what, config (JS source), code]
  ['null', 'null', 'E_TYPE'],
  ['a number', '5', 'E_TYPE'],
  ['an array', '[]', 'E_TYPE'],
  ['true', 'true', 'E_TYPE'],
  ['undefined', 'undefined', 'E_TYPE'],
  ['an unknown preset name', "'huge'", 'E_CONFIG'],
  ["the preset name 'constructor'", "'constructor'", 'E_CONFIG'],
  ['an unknown top-level key', "{ preset: 'cm-data-small', modle: { layers: 2 } }", 'E_CONFIG'],
  ['a misspelt train section', "{ preset: 'cm-data-small', trian: {} }", 'E_CONFIG'],
  ['a preset that is a number', '{ preset: 7 }', 'E_CONFIG'],
  ['a preset of null', '{ preset: null }', 'E_CONFIG'],
  ['an unknown ablation', "{ preset: 'cm-data-small', ablation: 'nope' }", 'E_CONFIG'],
  ['an ablation that is a number', "{ preset: 'cm-data-small', ablation: 3 }", 'E_CONFIG'],
  ['model as an array', '{ model: [] }', 'E_CONFIG'],
  ['model as a string', "{ model: 'big' }", 'E_CONFIG'],
  ['train as null', "{ preset: 'cm-data-small', train: null }", 'E_CONFIG'],
  ['a bigint value', "{ preset: 'cm-data-small', model: { layers: 2n } }", 'E_CONFIG'],
  ['a function value', "{ preset: 'cm-data-small', train: { lr: () => 1 } }", 'E_CONFIG'],
  ['layers as a string', "{ preset: 'cm-data-small', model: { layers: '4' } }", 'E_CONFIG'],
  ['layers as a boolean', "{ preset: 'cm-data-small', model: { layers: true } }", 'E_CONFIG'],
  ['layers as an object', "{ preset: 'cm-data-small', model: { layers: {} } }", 'E_CONFIG'],
  ['layers as an array', "{ preset: 'cm-data-small', model: { layers: [4] } }", 'E_CONFIG'],
  ['layers 0', "{ preset: 'cm-data-small', model: { layers: 0 } }", 'E_CONFIG'],
  ['layers -1', "{ preset: 'cm-data-small', model: { layers: -1 } }", 'E_CONFIG'],
  ['layers 1.5', "{ preset: 'cm-data-small', model: { layers: 1.5 } }", 'E_CONFIG'],
  ['heads that do not divide hidden', "{ preset: 'cm-data-small', model: { hidden: 32, heads: 3 } }", 'E_CONFIG'],
  ['vocabSize 0', "{ preset: 'cm-data-small', model: { vocabSize: 0 } }", 'E_CONFIG'],
  ['height 0', "{ preset: 'cm-data-small', model: { height: 0 } }", 'E_CONFIG'],
  ['an unknown method', "{ preset: 'cm-data-small', model: { method: 'gan' } }", 'E_CONFIG'],
  ['an unknown model key', "{ preset: 'cm-data-small', model: { lyers: 2 } }", 'E_CONFIG'],
  ['an unknown train key', "{ preset: 'cm-data-small', train: { learningRate: 1 } }", 'E_CONFIG'],
  ['lr -1', "{ preset: 'cm-data-small', train: { lr: -1 } }", 'E_CONFIG'],
  ['emaDecay 1.5', "{ preset: 'cm-data-small', train: { emaDecay: 1.5 } }", 'E_CONFIG'],
  ['dropRate 1', "{ preset: 'cm-data-small', train: { dropRate: 1 } }", 'E_CONFIG'],
  ['device tpu', "{ preset: 'cm-data-small', train: { device: 'tpu' } }", 'E_DEVICE'],
  ['precision fp8', "{ preset: 'cm-data-small', train: { precision: 'fp8' } }", 'E_CONFIG'],
  ['an unknown lr schedule', "{ preset: 'cm-data-small', train: { lrSchedule: 'linear' } }", 'E_CONFIG'],
  ['an objective that is a number', "{ preset: 'cm-data-small', train: { objective: 1 } }", 'E_CONFIG'],
];
// the native uint64 seed would wrap -3 to 2^64 - 3 (lcmd train --seed -3 is refused by the flag parser)
api('Trainer.create with a negative seed', 'E_CONFIG', "lib.Trainer.create({ preset: 'cm-data-small', train: { seed: -3 } }).dispose();", /train\.seed/);
api('Trainer.create with layers 1e300', 'E_CONFIG', "lib.Trainer.create({ preset: 'cm-data-small', model: { layers: 1e300 } }).dispose();", /model\.layers/);
for (const [what, config, code] of BAD_CONFIGS) api(`Trainer.create with ${what}`, code, `lib.Trainer.create(${config}).dispose();`);
// sizes beyond this machine's memory are refused before anything is allocated
api('Trainer.create with model.layers = 1e8', 'E_MEMORY', "lib.Trainer.create({ preset: 'cm-data-small', model: { layers: 1e8 } }).dispose();", /model\.layers/);
api('Trainer.create with model.hidden = 1e9', 'E_MEMORY', "lib.Trainer.create({ preset: 'cm-data-small', model: { hidden: 1e9 } }).dispose();", /model\.hidden/);

// the preset's value stays when an override is left undefined (it is not replaced by the built-in default)
api('Trainer.create keeps the preset layers for an undefined override (then rejects a NaN lr)', 'E_CONFIG', `
  const t = lib.Trainer.create({ preset: 'cm-data-small', model: { layers: undefined } });
  const layers = t.config.model.layers;
  t.dispose();
  if (layers !== lib.PRESETS['cm-data-small'].model.layers) throw new Error('layers became ' + layers);
  lib.Trainer.create({ preset: 'cm-data-small', train: { lr: NaN } });`);

// Trainer.resume overrides
api('Trainer.resume with lr NaN', 'E_CONFIG', `(await lib.Trainer.resume(${JSON.stringify(checkpoint)}, { lr: NaN })).dispose();`);
api('Trainer.resume with emaDecay Infinity', 'E_CONFIG', `(await lib.Trainer.resume(${JSON.stringify(checkpoint)}, { emaDecay: Infinity })).dispose();`);
api('Trainer.resume with overrides null', 'E_TYPE', `(await lib.Trainer.resume(${JSON.stringify(checkpoint)}, null)).dispose();`);
api('Trainer.resume with an unknown override', 'E_CONFIG', `(await lib.Trainer.resume(${JSON.stringify(checkpoint)}, { wings: 2 })).dispose();`);
api('Trainer.resume of a missing file', 'E_IO', "(await lib.Trainer.resume(path.join(dir, 'none.safetensors'))).dispose();");
api('Trainer.resume of a number', 'E_TYPE', '(await lib.Trainer.resume(5)).dispose();');

// ---- other API calls ---------------------------------------------------------------------------------------------

const API_CALLS: [string, string, string][] = [
  ['Tensor.zeros of 2^40 x 2^20', 'E_RANGE', 'lib.Tensor.zeros([2 ** 40, 2 ** 20]);'],
  ['Tensor.zeros of 2^20 x 2^20 (past V8\'s limit)', 'E_MEMORY', 'lib.Tensor.zeros([2 ** 20, 2 ** 20]);'],
  ['Tensor.zeros of a negative shape', 'E_SHAPE', 'lib.Tensor.zeros([-1]);'],
  ['Tensor.zeros of a fractional shape', 'E_SHAPE', 'lib.Tensor.zeros([1.5]);'],
  ['Tensor.zeros of a string shape', 'E_SHAPE', "lib.Tensor.zeros('3');"],
  ['Tensor.zeros of an unknown dtype', 'E_DTYPE', "lib.Tensor.zeros([2], 'complex64');"],
  ['Tensor.from of null', 'E_TYPE', 'lib.Tensor.from(null, [1]);'],
  ['Tensor.from of a plain array', 'E_TYPE', 'lib.Tensor.from([1, 2], [2]);'],
  ['Tensor.from of a DataView', 'E_TYPE', 'lib.Tensor.from(new DataView(new ArrayBuffer(4)), [1]);'],
  ['Tensor.from with a wrong length', 'E_SHAPE', 'lib.Tensor.from(new Float32Array(5), [2, 3]);'],
  ['Tensor.from with a huge shape', 'E_SHAPE', 'lib.Tensor.from(new Float32Array(5), [2 ** 40, 2 ** 40]);'],
  ['Tensor.from with the wrong array type', 'E_DTYPE', "lib.Tensor.from(new Float32Array(1), [1], 'int64');"],
  ['Tensor.fromArray of ragged arrays', 'E_SHAPE', 'lib.Tensor.fromArray([[1, 2], [3]]);'],
  ['Tensor.fromArray of strings', 'E_TYPE', "lib.Tensor.fromArray(['a', 'b']);"],
  ['Tensor.fromArray of objects', 'E_TYPE', 'lib.Tensor.fromArray([{}, {}]);'],
  ['a disposed tensor', 'E_DISPOSED', 'const t = lib.Tensor.zeros([2]); t.dispose(); t.toTypedArray();'],
  ['Tensor.to an unknown device', 'E_DEVICE', "lib.Tensor.zeros([2]).to('tpu');"],
  ['writeNpy under /proc', 'E_IO', "await lib.writeNpy('/proc/lcmd-fuzz.npy', lib.Tensor.zeros([2]));"],
  ['writeNpy into a missing folder', 'E_IO', "await lib.writeNpy(path.join(dir, 'no', 'such', 'x.npy'), lib.Tensor.zeros([2]));"],
  ['writeNpy onto a folder', 'E_IO', 'await lib.writeNpy(dir, lib.Tensor.zeros([2]));'],
  ['writeNpy to an empty path', 'E_TYPE', "await lib.writeNpy('', lib.Tensor.zeros([2]));"],
  ['writeNpy of a number', 'E_TYPE', "await lib.writeNpy(path.join(dir, 'x.npy'), 5);"],
  ['writeNpy of floats as int32', 'E_DTYPE', "await lib.writeNpy(path.join(dir, 'x.npy'), lib.Tensor.zeros([2]), { dtype: 'int32' });"],
  ['writeNpy of ints that do not fit uint8', 'E_RANGE', "await lib.writeNpy(path.join(dir, 'x.npy'), lib.Tensor.from(new Int32Array([300]), [1]), { dtype: 'uint8' });"],
  ['writeSafetensors under /proc', 'E_IO', "await lib.writeSafetensors('/proc/lcmd-fuzz.safetensors', { a: lib.Tensor.zeros([2]) });"],
  ['writeSafetensors of a number', 'E_TYPE', "await lib.writeSafetensors(path.join(dir, 'x.safetensors'), { a: 5 });"],
  ['writeSafetensors with numeric metadata', 'E_TYPE', "await lib.writeSafetensors(path.join(dir, 'x.safetensors'), { a: lib.Tensor.zeros([2]) }, { step: 5 });"],
  ['readNpy of a folder', 'E_IO', 'await lib.readNpy(dir);'],
  ['readNpy of a number', 'E_TYPE', 'await lib.readNpy(5);'],
  ['readSafetensors of a missing file', 'E_IO', "await lib.readSafetensors(path.join(dir, 'none.safetensors'));"],
  ['Model.load of a number', 'E_TYPE', '(await lib.Model.load(5)).dispose();'],
  ['Model.load of a missing file', 'E_IO', "(await lib.Model.load(path.join(dir, 'none.safetensors'))).dispose();"],
  ['Model.load on an unknown device', 'E_DEVICE', `(await lib.Model.load(${JSON.stringify(checkpoint)}, { device: 'tpu' })).dispose();`],
  ['TokenDataset.open of batchSize 0', 'E_RANGE', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 0 })).dispose();`],
  ['TokenDataset.open of batchSize NaN', 'E_RANGE', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: NaN })).dispose();`],
  ['TokenDataset.open of a batch that does not split', 'E_CONFIG', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 3, worldSize: 2 })).dispose();`],
  ['TokenDataset.open of rank 2 of 2', 'E_RANGE', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 2, rank: 2, worldSize: 2 })).dispose();`],
  ['TokenDataset.open of heldout -1', 'E_RANGE', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 2, heldout: -1 })).dispose();`],
  ['TokenDataset.open of heldout NaN', 'E_RANGE', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 2, heldout: NaN })).dispose();`],
  ['TokenDataset.open of more held out than there are examples', 'E_CONFIG', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 2, heldout: 1000 })).dispose();`],
  ['TokenDataset.open of prefetch 0', 'E_RANGE', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 2, prefetch: 0 })).dispose();`],
  ['TokenDataset.open of vocabSize 4 (ids up to 15)', 'E_RANGE', `(await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 2, vocabSize: 4 })).dispose();`],
  ['TokenDataset.open of null', 'E_TYPE', '(await lib.TokenDataset.open(null)).dispose();'],
  ['TokenDataset.seek past the epoch', 'E_RANGE', `const d = await lib.TokenDataset.open({ tokens: ${JSON.stringify(tokens)}, batchSize: 2 }); try { d.seek({ epoch: 0, step: 1e6 }); } finally { d.dispose(); }`],
  ['TrainingRun.open of null', 'E_TYPE', '(await lib.TrainingRun.open(null)).dispose();'],
  ['TrainingRun.open without options', 'E_USAGE', '(await lib.TrainingRun.open({})).dispose();'],
  ['TrainingRun.open without steps', 'E_USAGE', `(await lib.TrainingRun.open({ out: path.join(dir, 'run'), data: ${JSON.stringify(tokens)} })).dispose();`],
  ['TrainingRun.open under /proc', 'E_IO', `(await lib.TrainingRun.open({ ...${runOptions('')}, out: '/proc/lcmd-fuzz-run' })).dispose();`],
  ['TrainingRun.open with a batch larger than the data', 'E_DATA', `(await lib.TrainingRun.open({ ...${runOptions('')}, batchSize: 64 })).dispose();`],
  ['TrainingRun.resume of a missing checkpoint', 'E_USAGE', "(await lib.TrainingRun.resume(path.join(dir, 'none.safetensors'))).dispose();"],
  ['sample with n = 0', 'E_RANGE', `const m = await lib.Model.load(${JSON.stringify(checkpoint)}); try { await lib.sample(m, { n: 0 }); } finally { m.dispose(); }`],
  ['sample with steps NaN', 'E_RANGE', `const m = await lib.Model.load(${JSON.stringify(checkpoint)}); try { await lib.sample(m, { steps: NaN }); } finally { m.dispose(); }`],
  ['sample with guidance -1', 'E_RANGE', `const m = await lib.Model.load(${JSON.stringify(checkpoint)}); try { await lib.sample(m, { guidance: -1 }); } finally { m.dispose(); }`],
  ['sample with a class on an unconditional model', 'E_CONFIG', `const m = await lib.Model.load(${JSON.stringify(checkpoint)}); try { await lib.sample(m, { classes: 3 }); } finally { m.dispose(); }`],
  ['sample with an unknown sampler', 'E_CONFIG', `const m = await lib.Model.load(${JSON.stringify(checkpoint)}); try { await lib.sample(m, { sampler: 'magic' }); } finally { m.dispose(); }`],
  ['sample with seed -1', 'E_RANGE', `const m = await lib.Model.load(${JSON.stringify(checkpoint)}); try { await lib.sample(m, { seed: -1 }); } finally { m.dispose(); }`],
  ['Trainer.step of null', 'E_TYPE', `const t = lib.Trainer.create(${TINY}); try { await t.step(null); } finally { t.dispose(); }`],
  ['Trainer.step of float tokens', 'E_DTYPE', `const t = lib.Trainer.create(${TINY}); try { await t.step({ tokens: lib.Tensor.zeros([2, 16]) }); } finally { t.dispose(); }`],
  ['Trainer.step of tokens of another length', 'E_SHAPE', `const t = lib.Trainer.create(${TINY}); try { await t.step({ tokens: lib.Tensor.from(new Int32Array(10), [2, 5]) }); } finally { t.dispose(); }`],
  ['Trainer.step of ids above K', 'E_RANGE', `const t = lib.Trainer.create(${TINY}); try { await t.step({ tokens: lib.Tensor.from(new Int32Array(32).fill(99), [2, 16]) }); } finally { t.dispose(); }`],
  ['Trainer.save under /proc', 'E_IO', `const t = lib.Trainer.create(${TINY}); try { await t.save('/proc/lcmd-fuzz/ck.safetensors'); } finally { t.dispose(); }`],
  ['Tokenizer.create with an unknown preset', 'E_CONFIG', "lib.Tokenizer.create('huge').dispose();"],
  ['Tokenizer.create with codebookSize 0', 'E_CONFIG', 'lib.Tokenizer.create({ codebookSize: 0 }).dispose();'],
  ['Tokenizer.create with downsample 3', 'E_CONFIG', 'lib.Tokenizer.create({ downsample: 3 }).dispose();'],
  ['loadImages of an empty string', 'E_TYPE', "await lib.loadImages('');"],
  ['loadImages of a file that is not .npy', 'E_USAGE', `await lib.loadImages(${JSON.stringify(checkpoint)});`],
  ['loadImages of a missing folder', 'E_IO', "await lib.loadImages(path.join(dir, 'none'));"],
];
for (const [what, code, body] of API_CALLS) api(what, code, body);

// ---- JSON config files through lcmd train --config ---------------------------------------------------------------

const CONFIG_FILES: [string, string, string, RegExp?][] = [
  // [what, file content, code, what the message names]
  ['an unknown top-level key', '{"preset": "cm-data-small", "modle": {"layers": 2}}', 'E_CONFIG'],
  ['a top-level array', '[{"preset": "cm-data-small"}]', 'E_CONFIG'],
  ['an empty file', '', 'E_CONFIG'],
  ['not JSON', '{ preset: cm-data-small', 'E_CONFIG'],
  ['NaN (not JSON)', '{"model": {"layers": NaN}}', 'E_CONFIG'],
  ['a byte-order mark', '\ufeff{"preset": "cm-data-small"}', 'E_CONFIG'],
  ['layers 1e400 (Infinity once parsed)', '{"model": {"layers": 1e400}}', 'E_CONFIG'],
  ['lr -1e999 (-Infinity once parsed)', '{"train": {"lr": -1e999}}', 'E_CONFIG'],
  ['layers null', '{"model": {"layers": null}}', 'E_CONFIG'],
  ['layers as a string', '{"model": {"layers": "4"}}', 'E_CONFIG'],
  ['an unknown model key', '{"model": {"wings": 2}}', 'E_CONFIG'],
  ['an unknown train key', '{"train": {"learningRate": 0.1}}', 'E_CONFIG'],
  ['an unknown preset', '{"preset": "huge"}', 'E_CONFIG'],
  ['a preset that is a number', '{"preset": 4}', 'E_CONFIG'],
  ['model as an array', '{"model": [1, 2]}', 'E_CONFIG'],
  ['an unknown ablation', '{"ablation": "no-everything"}', 'E_CONFIG'],
  ['heads that do not divide hidden', '{"model": {"hidden": 32, "heads": 5}}', 'E_CONFIG'],
  ['a nested object for a number', '{"train": {"lr": {"value": 0.1}}}', 'E_CONFIG'],
  ['a negative embedDim', '{"model": {"embedDim": -16}}', 'E_CONFIG'],
  ['device tpu', '{"train": {"device": "tpu"}}', 'E_DEVICE'],
  ['a device that is a number', '{"train": {"device": 0}}', 'E_CONFIG'],
];
CONFIG_FILES.push(
  ['layers 1e8 (beyond memory)', '{"model": {"layers": 1e8}}', 'E_MEMORY', /model\.layers/],
  ['layers 1e300 (beyond any integer a double holds exactly)', '{"model": {"layers": 1e300}}', 'E_CONFIG', /model\.layers/],
  ['a negative seed', '{"train": {"seed": -3}}', 'E_CONFIG', /train\.seed/],
);
for (const [what, content, code, names] of CONFIG_FILES) {
  // no --preset: the file's applies (flags would override the file)
  cases.push({ id: `--config: ${what}`, code, names, cli: ['train', '--vocab-size', '16', '--steps', '1', '--batch-size', '4', '--no-blas-check', '--data', tokens, '--config', 'c.json', '--out', 'run'], files: { 'c.json': content } });
}
// flags of sizes beyond memory: refused at once, naming the flag (they used to allocate without bound, or fail in
// libtorch naming nothing)
const cliTrain = (...extra: string[]) => ['train', ...M, '--batch-size', '4', '--data', tokens, '--out', 'run', ...extra];
cases.push({ id: 'cli: train --layers 100000000', code: 'E_MEMORY', names: /--layers/, cli: cliTrain('--layers', '100000000') });
cases.push({ id: 'cli: train --hidden 1000000000', code: 'E_MEMORY', names: /--hidden/, cli: cliTrain('--hidden', '1000000000') });

// ---- running them ------------------------------------------------------------------------------------------------

/** undefined when `text` (the message, or stderr) matches `names`; otherwise what is missing. */
function named(text: string, names: RegExp | undefined): string | undefined {
  return names === undefined || names.test(text) ? undefined : `the error does not name ${names}: ${text}`;
}

beforeAll(async () => {
  fs.mkdirSync(fixtures);
  writeNpyFile(tokens, Array.from({ length: 32 * 16 }, (_, i) => (i * 5 + 1) % 16), [32, 4, 4], '<i4');
  const trained = await runCli(['train', ...M, '--batch-size', '16', '--data', tokens, '--out', path.join(fixtures, 'run')]);
  if (trained.status !== 0) throw new Error(`the fixture checkpoint could not be trained: ${trained.stderr}`);
  const live = cases;
  live.forEach((c, i) => {
    c.dir = path.join(root, 'cases', String(i));
    fs.mkdirSync(c.dir, { recursive: true });
    for (const [name, content] of Object.entries(c.files ?? {})) fs.writeFileSync(path.join(c.dir, name), content);
    c.before = snapshot(c.dir);
  });
  const fixturesBefore = snapshot(fixtures);
  const apiCases = live.filter((c) => c.api);
  const results = runApiCases(apiCases.map((c): ApiCase => ({ id: c.id, dir: c.dir!, code: c.api! })), root, 90000);
  for (const c of apiCases) {
    const r = results.get(c.id);
    c.outcome = apiOutcome(r, c.code) ?? named(r?.message ?? '', c.names);
  }
  await pool(
    live.filter((c) => c.cli).map((c) => async () => {
      const r = await runCliTimed(c.cli!, { cwd: c.dir!, timeoutMs: 30000 });
      c.outcome = cliOutcome(r, { code: c.code }) ?? named(r.stderr, c.names);
    }),
    3,
  );
  // a case that wrote into the shared fixtures would show here
  if (JSON.stringify(snapshot(fixtures)) !== JSON.stringify(fixturesBefore)) throw new Error('a case changed the fixtures');
}, 240000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe.each(['api', '--config', 'cli'])('%s', (group) => {
  for (const c of cases.filter((x) => x.id.startsWith(`${group}: `))) {
    test(`${c.id} is ${c.code}, leaves nothing behind`, () => {
      expect(c.outcome).toBeUndefined();
      expect(snapshot(c.dir!)).toEqual(c.before);
    });
  }
});

test('there are at least 150 cases', () => {
  expect(cases.length).toBeGreaterThanOrEqual(150);
});
