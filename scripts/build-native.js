#!/usr/bin/env node
// npm install hook: builds the addon with cmake-js against the libtorch that find-libtorch.js locates.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { locateLibtorch } = require('./find-libtorch');

let found;
try {
  found = locateLibtorch();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
console.log(`lcmd: building against libtorch from ${found.via}: ${found.dir}`);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'compile', '--out', 'build', `--CDTorch_DIR=${found.dir}`, `--CDLCMD_TORCH_VIA=${found.via}`];
if (process.env.LCMD_CUDA_ARCH) args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.LCMD_CUDA_ARCH}`);
if (process.env.LCMD_ONEDNN) args.push(`--CDLCMD_ONEDNN=${process.env.LCMD_ONEDNN}`);
if (process.env.LCMD_BUILD_TYPE === 'Debug') args.push('--debug');
const jobs = process.env.CMAKE_BUILD_PARALLEL_LEVEL || String(require('os').availableParallelism());
const result = spawnSync(process.execPath, args, {
  cwd: path.join(__dirname, '..'),
  stdio: 'inherit',
  env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: jobs },
});
process.exit(result.status ?? 1);
