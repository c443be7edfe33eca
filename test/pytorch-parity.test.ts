// An independent implementation of lcmd's network, objective and samplers in plain PyTorch (bench/pytorch/lcmd_model.py,
// on Debian's python3-torch) agrees with the addon: logits to 1e-4 relative, one training step's loss terms and updated
// parameters, and DDIM / ancestral samples from the same noise (bench/cpu-vs-pytorch.ts --check only; its four
// configurations cover exact-likelihood logits, self-conditioning, L2-normalised embeddings, dropping, both CM targets
// and both teachers).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
const env = { ...process.env, LCMD_NUM_THREADS: '1', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };

(hasTorch ? test : test.skip)('the PyTorch reimplementation matches lcmd (bench/cpu-vs-pytorch --check only)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-parity-'));
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'cpu-vs-pytorch.js'), '--check', 'only', '--python', PYTHON, '--out', path.join(dir, 'report.json')], {
    cwd: dir, env, encoding: 'utf8', timeout: 300000,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  const output = `${r.stdout}\n${r.stderr}`;
  expect({ status: r.status, ok: /numerics check: ok/.test(output) }).toEqual({ status: 0, ok: true });
  // every configuration was compared
  for (const name of ['bench', 'exact-selfcond-l2-posterior', 'data-target-online']) expect(output).toContain(`${name}: logits`);
}, 300000);
