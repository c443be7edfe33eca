// What the commands do with existing outputs: a file of another kind is replaced only with --force, a file of the
// same kind is replaced without it, and a training run that starts or resumes removes the temporary files that
// killed processes left in its folder (never those of a live process).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { fileKind } from '../lib/output-targets';
import { Tokenizer } from '../lib/tokenizer';
import { runCli, tmpDir, writeNpyFile } from './cli-run';
import { pngBytes } from './fuzz-inputs';

const M = ['--preset', 'cm-data-small', '--layers', '1', '--hidden', '32', '--embed-dim', '16', '--heads', '2', '--vocab-size', '16', '--no-blas-check'];

let dir: string;
let tokens: string;
let checkpoint: string;
let tokenizer: string;

beforeAll(async () => {
  dir = tmpDir('lcmd-outputs-');
  tokens = path.join(dir, 'tokens.npy');
  writeNpyFile(tokens, Array.from({ length: 32 * 16 }, (_, i) => (i * 3) % 16), [32, 4, 4], '<i4');
  const r = await runCli(['train', ...M, '--data', tokens, '--out', path.join(dir, 'run'), '--steps', '2', '--batch-size', '16']);
  if (r.status !== 0) throw new Error(r.stderr);
  checkpoint = path.join(dir, 'run', 'checkpoint.safetensors');
  const t = Tokenizer.create({ codebookSize: 16, downsample: 4, codeDim: 4, hiddenChannels: 8, inChannels: 1 }, { seed: 1 });
  tokenizer = path.join(dir, 'tok.safetensors');
  await t.save(tokenizer);
  t.dispose();
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('sample --out onto a tokenizer is refused, and replaces it with --force', async () => {
  const target = path.join(dir, 'victim.safetensors');
  fs.copyFileSync(tokenizer, target);
  const refused = await runCli(['sample', '--checkpoint', checkpoint, '--out', target, '-n', '1', '--steps', '1']);
  expect(refused.status).toBe(2);
  expect(refused.stderr).toMatch(/\[E_USAGE\]: --out .*victim\.safetensors already exists and is an lcmd tokenizer, not a \.npy array: refusing to overwrite it; choose another path, or add --force/);
  expect(fs.readFileSync(target).equals(fs.readFileSync(tokenizer))).toBe(true);
  const forced = await runCli(['sample', '--checkpoint', checkpoint, '--out', target, '-n', '1', '--steps', '1', '--force']);
  expect(forced.status).toBe(0);
  expect(fileKind(target)).toBe('npy');
});

test('tokenize train --out onto a training checkpoint is refused before training', async () => {
  const images = path.join(dir, 'imgs');
  fs.mkdirSync(images);
  for (let i = 0; i < 2; i++) fs.writeFileSync(path.join(images, `${i}.png`), pngBytes(16, 16, 50 * i));
  const copy = path.join(dir, 'ck-copy.safetensors');
  fs.copyFileSync(checkpoint, copy);
  const r = await runCli(['tokenize', 'train', '--images', images, '--out', copy, '--steps', '1']);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/\[E_USAGE\]: --out .* is an lcmd training checkpoint, not an lcmd tokenizer/);
  expect(r.stderr).not.toMatch(/training a tokenizer/);
  expect(fs.readFileSync(copy).equals(fs.readFileSync(checkpoint))).toBe(true);
});

test('an output of the same kind is replaced without --force', async () => {
  const out = path.join(dir, 'again.npy');
  for (let i = 0; i < 2; i++) {
    const r = await runCli(['sample', '--checkpoint', checkpoint, '--out', out, '-n', '1', '--steps', '1', '--seed', String(i)]);
    expect(r.status).toBe(0);
  }
  expect(fs.readdirSync(dir).filter((n) => n.startsWith('again.npy'))).toEqual(['again.npy']);
});

test('a resumed run removes temporary files of dead processes from its folder, and keeps a live one\'s', async () => {
  const run = path.join(dir, 'resumed');
  const r = await runCli(['train', ...M, '--data', tokens, '--out', run, '--steps', '1', '--batch-size', '16']);
  expect(r.status).toBe(0);
  const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
  const torn = path.join(run, `checkpoint.safetensors.tmp-${dead}`);
  const live = path.join(run, `log.jsonl.tmp-${process.pid}`);
  fs.writeFileSync(torn, Buffer.alloc(1000, 1));
  fs.writeFileSync(live, 'a writer that is still running');
  const resumed = await runCli(['train', '--resume', path.join(run, 'checkpoint.safetensors'), '--steps', '2', '--no-blas-check']);
  expect(resumed.status).toBe(0);
  expect(fs.existsSync(torn)).toBe(false);
  expect(fs.existsSync(live)).toBe(true);
});
