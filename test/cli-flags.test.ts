// Every flag of train, sample, eval, demo and bench rejects a bad value: a non-zero exit and a message that names the
// flag (or the problem) and what was expected. Table-driven; each case is a child process of the compiled CLI.
import * as fs from 'fs';
import * as path from 'path';
import { pool, runCli, tinyTokenData, TINY_MODEL, tmpDir, type CliResult } from './cli-run';

let dir: string;
let data: ReturnType<typeof tinyTokenData>;
let checkpoint: string;
let aFile: string;

beforeAll(async () => {
  dir = tmpDir('lcmd-flags-');
  data = tinyTokenData(dir, { n: 24, h: 2, w: 2, vocab: 16, classes: 3 });
  aFile = path.join(dir, 'a-file.txt');
  fs.writeFileSync(aFile, 'not a folder');
  const r = await runCli(['train', ...TINY_MODEL, '--data', data.tokens, '--labels', data.labels, '--out', path.join(dir, 'run'), '--steps', '1', '--batch-size', '4']);
  if (r.status !== 0) throw new Error(`training the fixture failed: ${r.stderr}`);
  checkpoint = path.join(dir, 'run', 'checkpoint.safetensors');
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Case = [string, () => string[], RegExp];

/** Arguments that, with one flag changed, make a valid train command. */
/** Extra arguments may be functions, evaluated when the case runs (after the fixture exists). */
type Arg = string | (() => string);
const resolve = (extra: Arg[]) => extra.map((a) => (typeof a === 'function' ? a() : a));
let counter = 0;
const train = (...extra: Arg[]) => () => ['train', ...TINY_MODEL, '--data', data.tokens, '--labels', data.labels, '--out', path.join(dir, `t-${counter++}`), '--steps', '1', '--batch-size', '4', ...resolve(extra)];
const sample = (...extra: Arg[]) => () => ['sample', '--checkpoint', checkpoint, '--out', path.join(dir, 's.npy'), ...resolve(extra)];
const evaluate = (...extra: Arg[]) => () => ['eval', '--checkpoint', checkpoint, '--data', data.tokens, ...resolve(extra)];
const inDir = (name: string) => () => path.join(dir, name);

const bad = (flag: string, value: string, expected: string): RegExp => new RegExp(`option '${flag}[^']*' argument '${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' is invalid\\. ${expected}`);

const CASES: Case[] = [
  // lcmd train: parse-time checks
  ['train --preset', train('--preset', 'huge'), bad('--preset', 'huge', 'expected one of small, ')],
  ['train --config', train('--config', 'missing.json'), bad('--config', 'missing.json', 'file "missing.json" does not exist')],
  ['train --ablation', train('--ablation', 'no-such'), bad('--ablation', 'no-such', 'expected one of csdm, ')],
  ['train --data', train('--data', 'missing.npy'), bad('--data', 'missing.npy', 'file "missing.npy" does not exist')],
  ['train --labels', train('--labels', 'no/labels.npy'), /option '--labels <labels.npy>' argument .* is invalid\. file .* does not exist/],
  ['train --num-classes', train('--num-classes', '0'), bad('--num-classes', '0', 'expected an integer >= 1')],
  ['train --out', () => train()().concat('--out', aFile), /option '--out <dir>' argument .* is invalid\. .* is a file; expected a folder/],
  ['train --steps', train('--steps', '0'), bad('--steps', '0', 'expected an integer >= 1')],
  ['train --steps (not a number)', train('--steps', 'ten'), bad('--steps', 'ten', 'expected an integer >= 1')],
  ['train --batch-size', train('--batch-size', '2.5'), bad('--batch-size', '2.5', 'expected an integer >= 1')],
  ['train --checkpoint-every', train('--checkpoint-every', '-1'), bad('--checkpoint-every', '-1', 'expected an integer >= 0')],
  ['train --log-every', train('--log-every', '0'), bad('--log-every', '0', 'expected an integer >= 1')],
  ['train --heldout', train('--heldout', '-3'), bad('--heldout', '-3', 'expected an integer >= 0')],
  ['train --eval-every', train('--eval-every', '0'), bad('--eval-every', '0', 'expected an integer >= 1')],
  ['train --vocab-size', train('--vocab-size', '0'), bad('--vocab-size', '0', 'expected an integer >= 1')],
  ['train --embed-dim', train('--embed-dim', '1.5'), bad('--embed-dim', '1.5', 'expected an integer >= 1')],
  ['train --layers', train('--layers', '-2'), bad('--layers', '-2', 'expected an integer >= 1')],
  ['train --hidden', train('--hidden', 'abc'), bad('--hidden', 'abc', 'expected an integer >= 1')],
  ['train --heads', train('--heads', '0'), bad('--heads', '0', 'expected an integer >= 1')],
  ['train --shift', train('--shift', '0'), bad('--shift', '0', 'expected a number > 0')],
  ['train --lr', train('--lr', '-1'), bad('--lr', '-1', 'expected a number > 0')],
  ['train --lr (not a number)', train('--lr', '1e-3x'), bad('--lr', '1e-3x', 'expected a number > 0')],
  ['train --lambda-cm', train('--lambda-cm', '-0.5'), bad('--lambda-cm', '-0.5', 'expected a number >= 0')],
  ['train --lambda-diff', train('--lambda-diff', 'NaN'), bad('--lambda-diff', 'NaN', 'expected a number >= 0')],
  ['train --seed', train('--seed', '-1'), bad('--seed', '-1', 'expected an integer >= 0')],
  ['train --teacher', train('--teacher', 'student'), bad('--teacher', 'student', 'expected one of ema, sampling, online')],
  ['train --cm-target', train('--cm-target', 'x'), bad('--cm-target', 'x', 'expected one of teacher, data')],
  ['train --ema-decay', train('--ema-decay', '1'), bad('--ema-decay', '1', 'expected a number in \\[0, 1\\)')],
  ['train --teacher-decay', train('--teacher-decay', '-0.1'), bad('--teacher-decay', '-0.1', 'expected a number in \\[0, 1\\)')],
  ['train --warmup-steps', train('--warmup-steps', '-5'), bad('--warmup-steps', '-5', 'expected an integer >= 0')],
  ['train --lr-schedule', train('--lr-schedule', 'linear'), bad('--lr-schedule', 'linear', 'expected one of constant, cosine')],
  ['train --drop-rate', train('--drop-rate', '1.5'), bad('--drop-rate', '1.5', 'expected a number in \\[0, 1\\)')],
  ['train --class-dropout', train('--class-dropout', '2'), bad('--class-dropout', '2', 'expected a number in \\[0, 1\\)')],
  ['train --weight-decay', train('--weight-decay', '-1'), bad('--weight-decay', '-1', 'expected a number >= 0')],
  ['train --grad-clip', train('--grad-clip', 'inf'), bad('--grad-clip', 'inf', 'expected a number >= 0')],
  ['train --time-warp', train('--time-warp', 'cosine'), bad('--time-warp', 'cosine', 'expected one of uniform, learned')],
  ['train --time-sampling', train('--time-sampling', 'sobol'), bad('--time-sampling', 'sobol', 'expected one of iid, low-discrepancy')],
  ['train --objective', train('--objective', 'mle'), bad('--objective', 'mle', 'expected one of lcmd, vlb')],
  ['train --device', train('--device', 'gpu'), bad('--device', 'gpu', 'expected cpu, cuda or cuda:N')],
  ['train --device (index)', train('--device', 'cuda:x'), bad('--device', 'cuda:x', 'expected cpu, cuda or cuda:N')],
  ['train --precision', train('--precision', 'fp16'), bad('--precision', 'fp16', 'expected one of fp32, bf16')],
  ['train --nproc-per-node', train('--nproc-per-node', '0'), bad('--nproc-per-node', '0', 'expected an integer >= 1')],
  ['train --nnodes', train('--nnodes', '0'), bad('--nnodes', '0', 'expected an integer >= 1')],
  ['train --node-rank', train('--node-rank', '-1'), bad('--node-rank', '-1', 'expected an integer >= 0')],
  ['train --master-port', train('--master-port', '70000'), bad('--master-port', '70000', 'expected an integer in \\[1, 65535\\]')],
  // lcmd train: checks across flags and against the data
  ['train without --out', () => ['train', '--data', data.tokens, '--steps', '1'], /E_USAGE.*give --out DIR/],
  ['train without --data', () => ['train', '--out', path.join(dir, 'x'), '--steps', '1'], /E_USAGE.*give --data tokens\.npy/],
  ['train without --steps', () => ['train', '--data', data.tokens, '--out', path.join(dir, 'x')], /E_USAGE.*give --steps N/],
  ['train --eval-every without --heldout', train('--eval-every', '5'), /E_USAGE.*--eval-every needs --heldout/],
  ['train --num-classes without --labels', () => ['train', ...TINY_MODEL, '--data', data.tokens, '--out', path.join(dir, 'y'), '--steps', '1', '--num-classes', '4'], /E_USAGE.*--num-classes needs --labels/],
  ['train --num-classes below the labels', train('--num-classes', '2'), /E_RANGE.*--num-classes must be at least 3, got 2/],
  ['train --master-port without --nproc-per-node', train('--master-port', '29500'), /E_USAGE.*--master-port only applies with --nproc-per-node/],
  ['train --resume of a missing checkpoint', () => ['train', '--resume', path.join(dir, 'none.safetensors')], /E_USAGE.*checkpoint .*none\.safetensors does not exist/],
  ['train --resume with a model flag', () => ['train', '--resume', checkpoint, '--layers', '3', '--steps', '5'], /E_USAGE.*would change it: layers/],
  ['train over an existing checkpoint', () => ['train', ...TINY_MODEL, '--data', data.tokens, '--out', path.join(dir, 'run'), '--steps', '1', '--batch-size', '4'], /E_USAGE.*already holds a checkpoint.*--resume/],
  ['train --batch-size above the data', train('--batch-size', '64'), /E_DATA.*fewer than one global batch of 64: lower the batch size/],
  ['train --device of a missing GPU', train('--device', 'cuda:99'), /E_DEVICE.*--device cuda:99: (this libtorch .* has no usable CUDA device|there are only \d+ CUDA devices)/],
  ['train --config with an unknown key', () => {
    const file = path.join(dir, 'bad-config.json');
    fs.writeFileSync(file, JSON.stringify({ preset: 'cm-data-small', modle: {} }));
    return ['train', '--config', file, '--data', data.tokens, '--out', path.join(dir, 'z'), '--steps', '1'];
  }, /E_CONFIG.*unknown key 'modle'/],
  ['train --config that is not JSON', () => {
    const file = path.join(dir, 'not-json.json');
    fs.writeFileSync(file, '{ preset: cm-data-small');
    return ['train', '--config', file, '--data', data.tokens, '--out', path.join(dir, 'z2'), '--steps', '1'];
  }, /E_CONFIG.*is not valid JSON/],
  ['train --config with a bad model value', () => {
    const file = path.join(dir, 'bad-value.json');
    fs.writeFileSync(file, JSON.stringify({ preset: 'cm-data-small', model: { layers: 1, hidden: 32, heads: 3, embedDim: 8, vocabSize: 16 } }));
    return ['train', '--config', file, '--data', data.tokens, '--out', path.join(dir, 'z3'), '--steps', '1', '--batch-size', '4', '--no-blas-check'];
  }, /E_CONFIG.*heads/],

  // lcmd sample
  ['sample --checkpoint', () => ['sample', '--checkpoint', 'missing.safetensors', '--out', 'x.npy'], bad('--checkpoint', 'missing.safetensors', 'file "missing.safetensors" does not exist')],
  ['sample -n', sample('-n', '0'), /option '-n, --num <n>' argument '0' is invalid\. expected an integer >= 1/],
  ['sample --steps', sample('--steps', '-4'), bad('--steps', '-4', 'expected an integer >= 1')],
  ['sample --sampler', sample('--sampler', 'euler'), bad('--sampler', 'euler', 'expected one of ancestral, ddim')],
  ['sample --guidance', sample('--guidance', '-1'), bad('--guidance', '-1', 'expected a number >= 0')],
  ['sample --classes (words)', sample('--classes', 'a,b'), /option '--classes <list>' argument 'a,b' is invalid\. in "a,b": expected an integer >= 0/],
  ['sample --classes (empty item)', sample('--classes', '1,,2'), /option '--classes <list>' argument '1,,2' is invalid\. expected 'all' or a comma-separated list of class ids/],
  ['sample --classes (out of range)', sample('--classes', '0,7'), /E_RANGE.*--classes: class 7 is not a class of this model, which has 3/],
  ['sample --seed', sample('--seed', '1.5'), bad('--seed', '1.5', 'expected an integer >= 0')],
  ['sample --batch-size', sample('--batch-size', '0'), bad('--batch-size', '0', 'expected an integer >= 1')],
  ['sample --device', sample('--device', 'tpu'), bad('--device', 'tpu', 'expected cpu, cuda or cuda:N')],
  ['sample --out', () => ['sample', '--checkpoint', checkpoint, '--out', dir], /option '--out <tokens.npy>' argument .* is invalid\. .* is a folder; expected a file path/],
  ['sample --labels-out', sample('--labels-out', () => dir), /option '--labels-out <labels.npy>' argument .* is invalid\. .* is a folder/],
  ['sample --tokenizer', sample('--tokenizer', 'missing-tok.safetensors'), bad('--tokenizer', 'missing-tok.safetensors', 'file "missing-tok.safetensors" does not exist')],
  ['sample --grid', sample('--grid', () => dir), /option '--grid <file.png>' argument .* is invalid\. .* is a folder/],
  ['sample --folder', sample('--folder', () => aFile), /option '--folder <dir>' argument .* is invalid\. .* is a file; expected a folder/],
  ['sample without outputs', () => ['sample', '--checkpoint', checkpoint], /E_USAGE.*nothing to write/],
  ['sample --grid without --tokenizer', sample('--grid', inDir('g.png')), /E_USAGE.*--grid and --folder .* need --tokenizer/],
  ['sample --time-grid', sample('--time-grid', 'cosine'), bad('--time-grid', 'cosine', 'expected one of uniform, learned')],
  ['sample --time-grid learned with --grid-shift', sample('--time-grid', 'learned', '--grid-shift', '0.7'), /E_USAGE.*--time-grid learned places every step itself: drop --grid-shift/],
  ['sample --commit-temperature without the commit sampler', sample('--commit-temperature', '2', '--sampler', 'ddim'), /E_USAGE.*--commit-temperature applies to --sampler commit \(got ddim\)/],
  ['sample --commit-temperature', sample('--commit-temperature', '-1', '--sampler', 'commit'), bad('--commit-temperature', '-1', 'expected a number >= 0')],
  ['sample --solver-order without ddim or commit', sample('--solver-order', '2', '--sampler', 'ancestral'), /E_USAGE.*--solver-order 2 applies to --sampler ddim or commit \(got ancestral\)/],
  ['sample --solver-order', sample('--solver-order', '3', '--sampler', 'ddim'), bad('--solver-order', '3', 'expected an integer in \\[1, 2\\]')],
  ['sample --corrector without ddim or commit', sample('--corrector', '--sampler', 'consistency'), /E_USAGE.*--corrector applies to --sampler ddim or commit \(got consistency\)/],
  ['sample --time-grid learned without a learned warp', sample('--time-grid', 'learned'), /E_CONFIG.*--time-grid learned: .*checkpoint\.safetensors was trained without the learned time warp \(lcmd train --time-warp learned\)/],
  ['sample --tokenizer that is not one', sample('--tokenizer', () => data.tokens, '--grid', inDir('g.png')), /lcmd: error \[E_/],

  // lcmd eval
  ['eval --checkpoint', () => ['eval', '--checkpoint', 'nope.safetensors', '--data', data.tokens], bad('--checkpoint', 'nope.safetensors', 'file "nope.safetensors" does not exist')],
  ['eval --data', () => ['eval', '--checkpoint', checkpoint, '--data', 'nope.npy'], bad('--data', 'nope.npy', 'file "nope.npy" does not exist')],
  ['eval --labels', evaluate('--labels', 'nope.npy'), bad('--labels', 'nope.npy', 'file "nope.npy" does not exist')],
  ['eval --samples', evaluate('--samples', 'nope.npy'), bad('--samples', 'nope.npy', 'file "nope.npy" does not exist')],
  ['eval --limit', evaluate('--limit', '0'), bad('--limit', '0', 'expected an integer >= 1')],
  ['eval --importance-samples', evaluate('--importance-samples', 'many'), bad('--importance-samples', 'many', 'expected an integer >= 1')],
  ['eval --bins', evaluate('--bins', '0'), bad('--bins', '0', 'expected an integer >= 1')],
  ['eval --batch-size', evaluate('--batch-size', '-8'), bad('--batch-size', '-8', 'expected an integer >= 1')],
  ['eval --seed', evaluate('--seed', 'x'), bad('--seed', 'x', 'expected an integer >= 0')],
  ['eval --device', evaluate('--device', 'cuda:'), bad('--device', 'cuda:', 'expected cpu, cuda or cuda:N')],
  ['eval without --data', () => ['eval', '--checkpoint', checkpoint], /required option '--data <tokens.npy>' not specified/],
  ['eval --samples of the wrong shape', evaluate('--samples', () => data.labels), /E_SHAPE.*--samples .*expected token grids \[n, 2, 2\]/],

  // lcmd demo
  ['demo --steps', () => ['demo', '--steps', '0'], bad('--steps', '0', 'expected an integer >= 1')],
  ['demo --guidance', () => ['demo', '--guidance', 'lots'], bad('--guidance', 'lots', 'expected a number >= 0')],
  ['demo --sample-steps', () => ['demo', '--sample-steps', '-1'], bad('--sample-steps', '-1', 'expected an integer >= 1')],
  ['demo --seed', () => ['demo', '--seed', '-3'], bad('--seed', '-3', 'expected an integer >= 0')],
  ['demo --out', () => ['demo', '--out', aFile], /option '--out <dir>' argument .* is invalid\. .* is a file; expected a folder/],

  // lcmd bench
  ['bench --which', () => ['bench', '--which', 'training,speed'], /option '--which <list>' argument 'training,speed' is invalid\. in "training,speed": expected one of training, sampling, distributed/],
  ['bench --which (empty)', () => ['bench', '--which', ''], /option '--which <list>' argument '' is invalid\. expected a comma-separated list/],
  ['bench --device', () => ['bench', '--device', 'cuda0'], bad('--device', 'cuda0', 'expected cpu, cuda or cuda:N')],
  ['bench --out', () => ['bench', '--out', dir], /option '--out <file.json>' argument .* is invalid\. .* is a folder/],

  // unknown flags
  ['train --no-such-flag', train('--no-such-flag'), /unknown option '--no-such-flag'/],
];

let results: Map<string, CliResult>;

beforeAll(async () => {
  const outcomes = await pool(CASES.map(([name, args]) => async () => [name, await runCli(args())] as const), 4);
  results = new Map(outcomes);
}, 300000);

test.each(CASES)('%s is rejected with a clear message', (name, _args, message) => {
  const r = results.get(name)!;
  expect(r.status).not.toBe(0);
  expect(r.status).not.toBeNull(); // exited, not killed
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at .*\(/); // no stack trace
});

describe('the parsers and the progress line, in process', () => {
  // imported here so the table above stays about the CLI
  const { integerIn, numberIn, classList, device } = require('../bin/cli-options') as typeof import('../bin/cli-options');
  const { ProgressLine, formatDuration, renderProgress } = require('../bin/progress') as typeof import('../bin/progress');

  test('number parsers accept exactly their ranges', () => {
    expect(integerIn(1, 3)('3')).toBe(3);
    expect(() => integerIn(1, 3)('4')).toThrow('expected an integer in [1, 3], got "4".');
    expect(() => integerIn(0)('1e3')).toThrow(/expected an integer >= 0/);
    expect(numberIn({ min: 0, max: 1, maxInclusive: false })('0')).toBe(0);
    expect(numberIn({ min: 0, max: 1, maxInclusive: false })('.5')).toBe(0.5);
    expect(numberIn({ min: 0, minInclusive: false })('2e-4')).toBe(2e-4);
    expect(() => numberIn({ min: 0, minInclusive: false })('0')).toThrow('expected a number > 0, got "0".');
    expect(() => numberIn()('Infinity')).toThrow('expected a number, got "Infinity".');
    expect(classList('all')).toBe('all');
    expect(classList(' 3, 1 ,2')).toEqual([3, 1, 2]);
    expect(device('cuda:1')).toBe('cuda:1');
  });

  test('the ETA reads h:mm:ss or m:ss', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(3600 + 2 * 60 + 3)).toBe('1:02:03');
    expect(formatDuration(undefined)).toBe('--:--');
    expect(formatDuration(Infinity)).toBe('--:--');
    expect(renderProgress({ step: 5, total: 20, values: { loss: 1.23456 }, rate: 12.34, etaSeconds: 75 }, { barWidth: 4 })).toBe('5/20  [#...]  25%  loss 1.235  12.3 img/s  ETA 1:15');
  });

  test('without a terminal the progress line writes a plain line every N steps and at the end', () => {
    const lines: string[] = [];
    const stream = { write: (s: string) => (lines.push(s), true), isTTY: false } as unknown as NodeJS.WritableStream;
    const p = new ProgressLine({ stream, plainEvery: 3, label: 'train' });
    for (let step = 1; step <= 7; step++) p.update({ step, total: 7 });
    p.log('a message');
    p.finish();
    expect(lines.map((l) => l.split('  ')[1] ?? l)).toEqual(['3/7', '6/7', '7/7', 'a message\n']);
    expect(lines.every((l) => !l.includes('\r') && !l.includes('\x1b'))).toBe(true);
  });

  test('on a terminal it redraws one line in place and prints messages above it', () => {
    let text = '';
    const stream = { write: (s: string) => ((text += s), true), isTTY: true, columns: 200 } as unknown as NodeJS.WritableStream;
    const p = new ProgressLine({ stream, minIntervalMs: 0 });
    p.update({ step: 1, total: 2 });
    p.log('hello');
    p.update({ step: 2, total: 2 });
    p.finish();
    expect(text.split('\n').length).toBe(3); // the message line, the final progress line, and the end
    expect(text).toContain('\r\x1b[Khello\n');
    expect(text.endsWith('\n')).toBe(true);
    expect(text).toMatch(/\r2\/2 .*100%.*\x1b\[K/);
  });
});
