// Fuzz suite, command lines: a seeded bad value for every numeric, enum and file flag of every command (the parser
// refuses it: exit 1, naming the flag), and the combinations and targets that only the command can refuse: outputs
// that would destroy an input or a file of another kind (E_USAGE unless --force), outputs under /proc, under a file
// or on a read-only file system (E_IO, at once, never a hang), run folders whose files are folders, the launcher's
// checks. Each case runs in its own folder, under a timeout, and must leave that folder as it was.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { lcg, pool, runCli, tmpDir, writeNpyFile } from './cli-run';
import { cliOutcome, runCliTimed, snapshot, type CliExpectation } from './fuzz-harness';
import { labelNpy, npyBytes, pngBytes, tokenNpy } from './fuzz-inputs';
import { native } from '../lib/binding';
import { Tokenizer } from '../lib/tokenizer';

const M = ['--preset', 'cm-data-small', '--layers', '1', '--hidden', '32', '--embed-dim', '16', '--heads', '2', '--vocab-size', '16', '--steps', '2', '--no-blas-check'];

const root = tmpDir('lcmd-fuzz-cli-');
const fx = { dir: path.join(root, 'fixtures'), tokens: '', checkpoint: '', tokenizer: '', images: '', run: '' };

type Files = Record<string, Buffer | string | null>;

interface Case {
  id: string;
  args: () => string[];
  expect: CliExpectation;
  /** files of the case folder, made before it runs */
  files?: () => Files;
  /** run under a read-only bind mount of the case folder (skipped where unshare cannot mount) */
  readOnly?: boolean;
  /** more to check in the output */
  check?: (stderr: string) => string | undefined;
  /** the case expects a machine without CUDA */
  withoutCuda?: boolean;
  dir?: string;
  before?: string[];
  outcome?: string;
}

const cases: Case[] = [];
const add = (id: string, expect: CliExpectation, args: () => string[], extra: Partial<Case> = {}) => cases.push({ id, expect, args, ...extra });
const code = (c: string): CliExpectation => ({ code: c });

// ---- every flag with a bad value (seeded) ---------------------------------------------------------------------------

const BAD_VALUES: Record<string, string[]> = {
  int1: ['0', '-1', '1.5', 'NaN', 'Infinity', '1e999', 'abc', '', '0x10', '9007199254740993'],
  int0: ['-1', '1.5', 'NaN', 'abc', '', '1e999', '-0.5'],
  pos: ['0', '-1', 'NaN', 'Infinity', '1e999', 'abc', '', '-1e-9'],
  nonneg: ['-1', 'NaN', 'Infinity', 'abc', '', '-1e-9'],
  unit: ['1', '-0.1', 'NaN', '2', 'abc', 'Infinity'],
  enum: ['bogus', '', 'CPU', 'small2'],
  port: ['0', '65536', 'abc', '-5'],
  width: ['299', '8001', 'abc', '1.5', ''],
  downsample: ['3', '16', 'abc', '0'],
  classes: ['a', '1,,2', '-1', '', '1.5'],
  file: ['missing.npy', 'no/such/file.safetensors'],
};

interface CommandFlags {
  base: () => string[];
  flags: [string, keyof typeof BAD_VALUES][];
}

const COMMANDS: Record<string, CommandFlags> = {
  train: {
    base: () => ['train', '--data', fx.tokens, '--out', 'run', '--steps', '1', '--no-blas-check'],
    flags: [
      ['--steps', 'int1'], ['--batch-size', 'int1'], ['--log-every', 'int1'], ['--eval-every', 'int1'], ['--num-classes', 'int1'],
      ['--vocab-size', 'int1'], ['--embed-dim', 'int1'], ['--layers', 'int1'], ['--hidden', 'int1'], ['--heads', 'int1'],
      ['--nproc-per-node', 'int1'], ['--nnodes', 'int1'], ['--checkpoint-every', 'int0'], ['--heldout', 'int0'], ['--seed', 'int0'],
      ['--warmup-steps', 'int0'], ['--node-rank', 'int0'], ['--shift', 'pos'], ['--lr', 'pos'], ['--dist-timeout', 'pos'],
      ['--lambda-cm', 'nonneg'], ['--lambda-diff', 'nonneg'], ['--weight-decay', 'nonneg'], ['--grad-clip', 'nonneg'],
      ['--ema-decay', 'unit'], ['--teacher-decay', 'unit'], ['--drop-rate', 'unit'], ['--class-dropout', 'unit'],
      ['--preset', 'enum'], ['--ablation', 'enum'], ['--teacher', 'enum'], ['--cm-target', 'enum'], ['--lr-schedule', 'enum'],
      ['--objective', 'enum'], ['--device', 'enum'], ['--precision', 'enum'], ['--backend', 'enum'], ['--master-port', 'port'],
      ['--data', 'file'], ['--labels', 'file'], ['--config', 'file'], ['--codebook', 'file'],
    ],
  },
  sample: {
    base: () => ['sample', '--checkpoint', fx.checkpoint, '--out', 's.npy'],
    flags: [['-n', 'int1'], ['--steps', 'int1'], ['--batch-size', 'int1'], ['--seed', 'int0'], ['--guidance', 'nonneg'], ['--sampler', 'enum'], ['--device', 'enum'], ['--classes', 'classes'], ['--checkpoint', 'file'], ['--tokenizer', 'file']],
  },
  eval: {
    base: () => ['eval', '--checkpoint', fx.checkpoint, '--data', fx.tokens],
    flags: [['--limit', 'int1'], ['--importance-samples', 'int1'], ['--bins', 'int1'], ['--batch-size', 'int1'], ['--seed', 'int0'], ['--device', 'enum'], ['--samples', 'file'], ['--labels', 'file']],
  },
  'tokenize train': {
    base: () => ['tokenize', 'train', '--images', fx.images, '--out', 't.safetensors'],
    flags: [['--steps', 'int1'], ['--batch-size', 'int1'], ['--codebook-size', 'int1'], ['--code-dim', 'int1'], ['--hidden-channels', 'int1'], ['--limit', 'int1'], ['--eval-limit', 'int1'], ['--seed', 'int0'], ['--lr', 'pos'], ['--downsample', 'downsample']],
  },
  'tokenize encode': { base: () => ['tokenize', 'encode', '--tokenizer', fx.tokenizer, '--images', fx.images, '--out', 't.npy'], flags: [['--batch-size', 'int1'], ['--limit', 'int1']] },
  'tokenize decode': { base: () => ['tokenize', 'decode', '--tokenizer', fx.tokenizer, '--tokens', fx.tokens, '--out', 'g.png'], flags: [['--limit', 'int1'], ['--cols', 'int1'], ['--batch-size', 'int1']] },
  'score train': { base: () => ['score', 'train', '--images', fx.images, '--out', 's.safetensors'], flags: [['--steps', 'int1'], ['--batch-size', 'int1'], ['--limit', 'int1'], ['--lr', 'pos'], ['--seed', 'int0']] },
  'score eval': { base: () => ['score', 'eval', '--scorer', fx.checkpoint, '--images', fx.images], flags: [['--seed', 'int0'], ['--scorer', 'file'], ['--tokens', 'file'], ['--labels', 'file']] },
  inpaint: { base: () => ['inpaint', '--checkpoint', fx.checkpoint, '--tokens', fx.tokens, '--region', 'half:top', '--out', 'i.npy'], flags: [['--completions', 'int1'], ['--steps', 'int1'], ['--class', 'int0'], ['--guidance', 'nonneg'], ['--sampler', 'enum'], ['--checkpoint', 'file']] },
  plot: { base: () => ['plot', '--log', fx.run], flags: [['--width', 'width']] },
  demo: { base: () => ['demo', '--out', 'demo'], flags: [['--steps', 'int1'], ['--sample-steps', 'int1'], ['--guidance', 'nonneg'], ['--seed', 'int0']] },
  bench: { base: () => ['bench'], flags: [['--which', 'enum'], ['--device', 'enum']] },
};

const pick = lcg(20240611);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
for (const [command, spec] of Object.entries(COMMANDS)) {
  for (const [flag, kind] of spec.flags) {
    const pool = BAD_VALUES[kind];
    const value = pool[Math.floor(pick() * pool.length)];
    // commander: "error: option '--steps <n>' argument 'NaN' is invalid. ..."
    const parser = new RegExp(`error: option '(-\\w, )?${escape(flag)}[ ,][^']*' argument '${escape(value)}' is invalid`);
    add(`flags: ${command} ${flag} ${JSON.stringify(value)}`, { parser }, () => [...spec.base(), flag, value]);
  }
}
add('flags: an unknown command', { parser: /error: unknown command 'trian'/ }, () => ['trian']);
add('flags: an unknown option', { parser: /error: unknown option '--stpes'/ }, () => ['train', '--stpes', '3']);
add('flags: train --out that is a file', { parser: /option '--out <dir>' argument .* is invalid\. .* is a file/ }, () => ['train', '--data', fx.tokens, '--out', fx.tokens]);
add('flags: sample --out that is a folder', { parser: /option '--out <tokens\.npy>' argument .* is invalid\. .* is a folder/ }, () => ['sample', '--checkpoint', fx.checkpoint, '--out', fx.dir]);

// ---- combinations the commands refuse -------------------------------------------------------------------------------

const ck = () => ({ 'ck.safetensors': fs.readFileSync(fx.checkpoint) });
const tok = () => ({ 'tok.safetensors': fs.readFileSync(fx.tokenizer) });
/** Arguments may be functions, read when the case runs (after the fixtures exist). */
type Arg = string | (() => string);
const resolve = (args: Arg[]) => args.map((a) => (typeof a === 'function' ? a() : a));
const sample = (...extra: Arg[]) => () => ['sample', '--checkpoint', fx.checkpoint, '-n', '1', '--steps', '1', ...resolve(extra)];
const train = (...extra: Arg[]) => () => ['train', ...M, '--batch-size', '16', '--data', fx.tokens, ...resolve(extra)];
const fixture = (name: 'tokenizer' | 'checkpoint' | 'images') => () => fx[name];
const images = () => ({ 'imgs.npy': npyBytes({ descr: '|u1', shape: '(2, 16, 16)', body: Buffer.alloc(512, 7) }) });

add('sample with nothing to write', code('E_USAGE'), sample());
add('sample --grid without --tokenizer', code('E_USAGE'), sample('--grid', 'g.png'));
add('sample --tokenizer without --grid or --folder', code('E_USAGE'), () => [...sample('--out', 's.npy')(), '--tokenizer', fx.tokenizer]);
add('sample --labels-out without --out', code('E_USAGE'), sample('--labels-out', 'l.npy', '--grid', 'g.png', '--tokenizer', fixture('tokenizer')));
add('sample --out and --labels-out the same file', code('E_USAGE'), sample('--out', 's.npy', '--labels-out', './s.npy'));
add('sample --out onto its own --checkpoint', code('E_USAGE'), () => ['sample', '--checkpoint', 'ck.safetensors', '--out', 'ck.safetensors'], { files: ck });
add('sample --out onto a training checkpoint', code('E_USAGE'), sample('--out', 'ck.safetensors'), { files: ck });
add('sample --out onto a tokenizer', code('E_USAGE'), sample('--out', 'tok.safetensors'), { files: tok });
add('sample --out onto a PNG', code('E_USAGE'), sample('--out', 'p.npy'), { files: () => ({ 'p.npy': pngBytes(4, 4) }) });
add('sample --out onto a text file', code('E_USAGE'), sample('--out', 'notes.npy'), { files: () => ({ 'notes.npy': 'my notes\n' }) });
add('sample --grid onto a checkpoint', code('E_USAGE'), () => [...sample('--grid', 'ck.safetensors')(), '--tokenizer', fx.tokenizer], { files: ck });
add('sample --out under /proc (no hang)', code('E_IO'), sample('--out', '/proc/lcmd-fuzz/x.npy'));
add('sample --folder under /proc (no hang)', code('E_IO'), () => [...sample('--folder', '/proc/lcmd-fuzz')(), '--tokenizer', fx.tokenizer]);
add('sample --grid under /proc (no hang)', code('E_IO'), () => [...sample('--grid', '/proc/lcmd-fuzz/g.png')(), '--tokenizer', fx.tokenizer]);
add('sample --out under a file', code('E_IO'), sample('--out', 'a-file/x.npy'), { files: () => ({ 'a-file': 'x' }) });
add('sample --guidance on an unconditional model', code('E_USAGE'), sample('--out', 's.npy', '--guidance', '2'));
add('sample --classes on an unconditional model', code('E_USAGE'), sample('--out', 's.npy', '--classes', '3'));
add('sample --device cuda:7', code('E_DEVICE'), sample('--out', 's.npy', '--device', 'cuda:7'));

const tokTrain = (...extra: string[]) => () => ['tokenize', 'train', '--images', fx.images, '--steps', '1', '--batch-size', '1', '--codebook-size', '16', '--code-dim', '4', '--hidden-channels', '8', ...extra];
add('tokenize train --out onto a training checkpoint', code('E_USAGE'), tokTrain('--out', 'ck.safetensors'), { files: ck });
add('tokenize train --out onto its own --images', code('E_USAGE'), () => ['tokenize', 'train', '--images', 'imgs.npy', '--out', 'imgs.npy', '--steps', '1'], { files: images });
add('tokenize train --out under /proc (no hang)', code('E_IO'), tokTrain('--out', '/proc/lcmd-fuzz/t.safetensors'));
add('tokenize train --images missing', code('E_IO'), () => ['tokenize', 'train', '--images', 'none', '--out', 't.safetensors']);
add('tokenize train --preset unknown', code('E_USAGE'), tokTrain('--out', 't.safetensors', '--preset', 'huge'));
add('tokenize encode --out onto its own --images', code('E_USAGE'), () => ['tokenize', 'encode', '--tokenizer', fx.tokenizer, '--images', 'imgs.npy', '--out', 'imgs.npy'], { files: images });
add('tokenize encode --out onto its --tokenizer', code('E_USAGE'), () => ['tokenize', 'encode', '--tokenizer', 'tok.safetensors', '--images', fx.images, '--out', 'tok.safetensors'], { files: tok });
add('tokenize encode --out under /proc (no hang)', code('E_IO'), () => ['tokenize', 'encode', '--tokenizer', fx.tokenizer, '--images', fx.images, '--out', '/proc/lcmd-fuzz/e.npy']);
add('tokenize encode --labels-out for a PNG folder', code('E_USAGE'), () => ['tokenize', 'encode', '--tokenizer', fx.tokenizer, '--images', fx.images, '--out', 't.npy', '--labels-out', 'l.npy']);
add('tokenize encode --out and --labels-out the same file', code('E_USAGE'), () => ['tokenize', 'encode', '--tokenizer', fx.tokenizer, '--images', fx.images, '--out', 't.npy', '--labels-out', 't.npy']);
add('tokenize decode without --out or --folder', code('E_USAGE'), () => ['tokenize', 'decode', '--tokenizer', fx.tokenizer, '--tokens', fx.tokens]);
add('tokenize decode --out onto its own --tokens', code('E_USAGE'), () => ['tokenize', 'decode', '--tokenizer', fx.tokenizer, '--tokens', 'x.npy', '--out', 'x.npy'], { files: () => ({ 'x.npy': tokenNpy(2, 4, 4, 16) }) });
add('tokenize decode --folder under /proc (no hang)', code('E_IO'), () => ['tokenize', 'decode', '--tokenizer', fx.tokenizer, '--tokens', fx.tokens, '--folder', '/proc/lcmd-fuzz']);

add('train --out under /proc (no hang)', code('E_IO'), train('--out', '/proc/lcmd_run'));
add('train --out under a file', code('E_IO'), train('--out', 'a-file/run'), { files: () => ({ 'a-file': 'x' }) });
add('train --out that holds a checkpoint', code('E_USAGE'), train('--out', 'run'), { files: () => ({ run: null, 'run/checkpoint.safetensors': fs.readFileSync(fx.checkpoint) }) });
add('train --resume with a model flag', code('E_USAGE'), () => ['train', '--resume', 'ck.safetensors', '--layers', '2', '--no-blas-check'], { files: ck });
add('train --resume of a missing checkpoint', code('E_USAGE'), () => ['train', '--resume', 'none.safetensors', '--no-blas-check']);
add('train --num-classes without --labels', code('E_USAGE'), train('--out', 'run', '--num-classes', '3'));
add('train --eval-every without --heldout', code('E_USAGE'), train('--out', 'run', '--eval-every', '1'));
add('train without --steps', code('E_USAGE'), () => ['train', '--data', fx.tokens, '--out', 'run', '--no-blas-check']);
add('train without --data', code('E_USAGE'), () => ['train', '--out', 'run', '--steps', '1', '--no-blas-check']);
add('train --heldout of every example', code('E_CONFIG'), train('--out', 'run', '--heldout', '100'));
add('train --batch-size larger than the data', code('E_DATA'), () => [...train('--out', 'run')(), '--batch-size', '64']);
add('train --labels with a label above --num-classes', code('E_RANGE'), () => [...train('--out', 'run', '--labels', 'l.npy', '--num-classes', '2')()], { files: () => ({ 'l.npy': labelNpy(Array.from({ length: 32 }, (_, i) => i % 4)) }) });
add('train --ablation csdm-dagger without --codebook', code('E_USAGE'), train('--out', 'run', '--ablation', 'csdm-dagger'));
add('train --codebook whose size does not match', code('E_SHAPE'), train('--out', 'run', '--codebook', fixture('tokenizer')));
add('train --codebook that is a checkpoint', code('E_DATA'), train('--out', 'run', '--codebook', fixture('checkpoint')));
add('train --device cuda without CUDA', code('E_DEVICE'), train('--out', 'run', '--device', 'cuda'), { withoutCuda: true });
add('train: a new run whose log.jsonl is a folder', code('E_IO'), train('--out', 'run'), { files: () => ({ 'run/log.jsonl': null }), check: (e) => (/log\.jsonl/.test(e) ? undefined : 'the message does not name log.jsonl') });
add('train: a new run whose config.json is a folder', code('E_IO'), train('--out', 'run'), { files: () => ({ 'run/config.json': null }), check: (e) => (/config\.json/.test(e) ? undefined : 'the message does not name config.json') });
add('train --resume: a run whose log.jsonl is a folder', code('E_IO'), () => ['train', '--resume', 'run/checkpoint.safetensors', '--steps', '3', '--no-blas-check'], {
  files: () => ({ run: null, 'run/checkpoint.safetensors': fs.readFileSync(fx.checkpoint), 'run/log.jsonl': null }),
  check: (e) => (/log\.jsonl/.test(e) ? undefined : 'the message does not name log.jsonl'),
});
const once = (stderr: string) => {
  const errors = stderr.split('\n').filter((l) => l.includes('lcmd: error'));
  if (errors.length !== 1) return `expected one error line, got ${errors.length}:\n${stderr}`;
  return /\[rank \d+\]/.test(stderr) ? `a worker reported it:\n${stderr}` : undefined;
};
add('train --nproc-per-node 3 with a batch of 16 (once, before the workers)', code('E_USAGE'), train('--out', 'run', '--nproc-per-node', '3'), { check: once });
add('train --nproc-per-node 2 --backend nccl on the CPU (once, before the workers)', code('E_USAGE'), train('--out', 'run', '--nproc-per-node', '2', '--backend', 'nccl'), { check: once });
add('train --nnodes without --nproc-per-node', code('E_USAGE'), train('--out', 'run', '--nnodes', '2'));

add('plot --log missing', code('E_IO'), () => ['plot', '--log', 'none.jsonl']);
add('plot --log a folder without a log', code('E_IO'), () => ['plot', '--log', 'empty'], { files: () => ({ empty: null }) });
add('plot --log that is not JSON lines', code('E_DATA'), () => ['plot', '--log', 'bad.jsonl'], { files: () => ({ 'bad.jsonl': 'not json\nnot json either\n' }) });
add('plot --out onto a checkpoint', code('E_USAGE'), () => ['plot', '--log', fx.run, '--out', 'ck.png'], { files: () => ({ 'ck.png': fs.readFileSync(fx.checkpoint) }) });
add('plot --out under /proc (no hang)', code('E_IO'), () => ['plot', '--log', fx.run, '--out', '/proc/lcmd-fuzz/c.png']);
add('score train --out onto a training checkpoint', code('E_USAGE'), () => ['score', 'train', '--images', fx.images, '--out', 'ck.safetensors', '--steps', '1'], { files: ck });
add('score train --out onto a tokenizer', code('E_USAGE'), () => ['score', 'train', '--images', fx.images, '--out', 'tok.safetensors', '--steps', '1'], { files: tok });
add('score eval --scorer that is a checkpoint', code('E_CHECKPOINT'), () => ['score', 'eval', '--scorer', fx.checkpoint, '--images', fx.images, '--real', fx.images]);
add('bench --out onto a checkpoint (before any benchmark)', code('E_USAGE'), () => ['bench', '--out', 'ck.safetensors'], { files: ck });
add('demo --out under /proc (no hang)', code('E_IO'), () => ['demo', '--out', '/proc/lcmd-fuzz-demo']);
add('eval --samples of float tokens', code('E_DTYPE'), () => ['eval', '--checkpoint', fx.checkpoint, '--data', fx.tokens, '--samples', 'f.npy', '--importance-samples', '1'], { files: () => ({ 'f.npy': npyBytes({ descr: '<f4', shape: '(2, 4, 4)', body: Buffer.alloc(128) }) }) });

// read-only file systems: the message says EROFS, before any work
const erofs = (e: string) => (/read-only file system \(EROFS\)/.test(e) ? undefined : `the message does not say read-only file system (EROFS):\n${e}`);
add('read-only: train --resume', code('E_IO'), () => ['train', '--resume', 'ro/run/checkpoint.safetensors', '--steps', '3', '--no-blas-check'], { readOnly: true, check: erofs, files: () => ({ 'ro/run': null, 'ro/run/checkpoint.safetensors': fs.readFileSync(fx.checkpoint), 'ro/run/log.jsonl': '' }) });
add('read-only: a new train run', code('E_IO'), train('--out', 'ro/run'), { readOnly: true, check: erofs, files: () => ({ ro: null }) });
add('read-only: sample --out in a new folder', code('E_IO'), sample('--out', 'ro/new/s.npy'), { readOnly: true, check: erofs, files: () => ({ ro: null }) });
add('read-only: tokenize train --out (before training)', code('E_IO'), tokTrain('--out', 'ro/t.safetensors'), { readOnly: true, check: erofs, files: () => ({ ro: null }) });
add('read-only: tokenize encode --out', code('E_IO'), () => ['tokenize', 'encode', '--tokenizer', fx.tokenizer, '--images', fx.images, '--out', 'ro/t.npy'], { readOnly: true, check: erofs, files: () => ({ ro: null }) });

// ---- running them -----------------------------------------------------------------------------------------------

let cudaPresent = false;
/** unshare can make a private read-only bind mount here (root, or user namespaces); else the read-only cases skip. */
let canMountReadOnly = false;

beforeAll(async () => {
  fs.mkdirSync(fx.dir);
  fx.tokens = path.join(fx.dir, 'tokens.npy');
  writeNpyFile(fx.tokens, Array.from({ length: 32 * 16 }, (_, i) => (i * 5 + 1) % 16), [32, 4, 4], '<i4');
  const trained = await runCli(['train', ...M, '--batch-size', '16', '--data', fx.tokens, '--out', path.join(fx.dir, 'run')]);
  if (trained.status !== 0) throw new Error(`the fixture checkpoint could not be trained: ${trained.stderr}`);
  fx.run = path.join(fx.dir, 'run');
  fx.checkpoint = path.join(fx.run, 'checkpoint.safetensors');
  const tokenizer = Tokenizer.create({ codebookSize: 16, downsample: 4, codeDim: 4, hiddenChannels: 8, inChannels: 1 }, { seed: 1 });
  fx.tokenizer = path.join(fx.dir, 'tok.safetensors');
  await tokenizer.save(fx.tokenizer);
  tokenizer.dispose();
  fx.images = path.join(fx.dir, 'imgs');
  fs.mkdirSync(fx.images);
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(fx.images, `${i}.png`), pngBytes(16, 16, 40 * i));
  cudaPresent = native().runtimeInfo().cudaAvailable;
  const probe = path.join(root, 'probe');
  fs.mkdirSync(probe);
  canMountReadOnly = spawnSync('unshare', ['-m', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && ! touch "$0/x" 2>/dev/null', probe], { timeout: 10000 }).status === 0;
  const fixturesBefore = snapshot(fx.dir);

  cases.forEach((c, i) => {
    c.dir = path.join(root, 'cases', String(i));
    fs.mkdirSync(c.dir, { recursive: true });
    for (const [name, content] of Object.entries(c.files?.() ?? {})) {
      const file = path.join(c.dir, name);
      fs.mkdirSync(content === null ? file : path.dirname(file), { recursive: true });
      if (content !== null) fs.writeFileSync(file, content);
    }
    c.before = snapshot(c.dir);
  });
  await pool(
    cases.map((c) => async () => {
      if ((c.readOnly && !canMountReadOnly) || (c.withoutCuda && cudaPresent)) return;
      const ro = path.join(c.dir!, 'ro');
      const prefix = c.readOnly ? ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', ro] : undefined;
      const r = await runCliTimed(c.args(), { cwd: c.dir!, timeoutMs: 30000, prefix });
      c.outcome = cliOutcome(r, c.expect) ?? c.check?.(r.stderr);
    }),
    3,
  );
  if (JSON.stringify(snapshot(fx.dir)) !== JSON.stringify(fixturesBefore)) throw new Error('a case changed the fixtures');
}, 240000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe.each(['flags', 'combinations', 'read-only'])('%s', (group) => {
  const inGroup = (c: Case) => (group === 'flags' ? c.id.startsWith('flags: ') : group === 'read-only' ? c.id.startsWith('read-only: ') : !c.id.startsWith('flags: ') && !c.id.startsWith('read-only: '));
  for (const c of cases.filter(inGroup)) {
    const expected = 'code' in c.expect ? c.expect.code : 'refused by the parser';
    test(`${c.id}: ${expected}, leaves nothing behind`, () => {
      if (c.readOnly && !canMountReadOnly) return; // no private mounts here (not root, no user namespaces)
      if (c.withoutCuda && cudaPresent) return;
      expect(c.outcome).toBeUndefined();
      expect(snapshot(c.dir!)).toEqual(c.before);
    });
  }
});

test('every command of lcmd has flag cases', () => {
  expect(Object.keys(COMMANDS).length).toBeGreaterThanOrEqual(12);
  expect(cases.length).toBeGreaterThanOrEqual(150);
});
