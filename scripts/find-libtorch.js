#!/usr/bin/env node
// Locates libtorch in the documented order and prints what a build needs.
// Never downloads anything: if no libtorch is found it fails with one message naming every way to provide one.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const { execFileSync } = require('child_process');

const CONFIG = 'TorchConfig.cmake';

function torchDirUnder(prefix) {
  const candidates = [
    prefix,
    path.join(prefix, 'share', 'cmake', 'Torch'),
    path.join(prefix, 'lib', 'cmake', 'Torch'),
    path.join(prefix, 'cmake', 'Torch'),
  ];
  return candidates.find((dir) => fs.existsSync(path.join(dir, CONFIG)));
}

function fromEnvironment() {
  const tried = [];
  const { LIBTORCH, Torch_DIR, CMAKE_PREFIX_PATH } = process.env;
  if (Torch_DIR) {
    tried.push(`Torch_DIR=${Torch_DIR}`);
    const dir = torchDirUnder(Torch_DIR);
    if (dir) return { dir, via: 'Torch_DIR' };
  }
  if (LIBTORCH) {
    tried.push(`LIBTORCH=${LIBTORCH}`);
    const dir = torchDirUnder(LIBTORCH);
    if (dir) return { dir, via: 'LIBTORCH' };
  }
  for (const prefix of (CMAKE_PREFIX_PATH || '').split(path.delimiter).filter(Boolean)) {
    tried.push(`CMAKE_PREFIX_PATH entry ${prefix}`);
    const dir = torchDirUnder(prefix);
    if (dir) return { dir, via: 'CMAKE_PREFIX_PATH' };
  }
  return { tried };
}

function fromPython() {
  const script = 'import torch.utils, sys; sys.stdout.write(torch.utils.cmake_prefix_path)';
  const pythons = [process.env.PYTHON, 'python3', 'python', '/usr/bin/python3'].filter(Boolean);
  for (const python of pythons) {
    try {
      const prefix = execFileSync(python, ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000 }).toString().trim();
      const dir = torchDirUnder(prefix);
      if (dir) return { dir, via: `python torch (${python})` };
    } catch {
      // this interpreter has no torch; try the next one
    }
  }
  return {};
}

function fromSystem() {
  const arch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[os.arch()] || '';
  const prefixes = [
    `/usr/lib/${arch}/cmake/Torch`,
    '/usr/lib/cmake/Torch',
    '/usr/share/cmake/Torch',
    '/usr/local/lib/cmake/Torch',
    '/usr/local/share/cmake/Torch',
  ];
  for (const prefix of prefixes) {
    const dir = torchDirUnder(prefix);
    if (dir) return { dir, via: 'system install' };
  }
  return {};
}

function locateLibtorch() {
  const env = fromEnvironment();
  if (env.dir) return env;
  const py = fromPython();
  if (py.dir) return py;
  const sys = fromSystem();
  if (sys.dir) return sys;
  const tried = env.tried.length ? `\n(tried: ${env.tried.join(', ')})` : '';
  throw new Error(
    'lcmd: libtorch was not found. Provide it in one of these ways:\n' +
      '  1. set LIBTORCH (an unpacked libtorch zip), Torch_DIR (the folder holding TorchConfig.cmake) or CMAKE_PREFIX_PATH;\n' +
      '  2. install PyTorch for Python (pip install torch), whose bundled libtorch is then used;\n' +
      '  3. install the system package: sudo apt-get install -y libtorch-dev libopenblas0-pthread\n' +
      'then run npm install (or npm rebuild lcmd) again.' + tried,
  );
}

// Asks CMake itself what find_package(Torch) yields, so node-gyp compiles with the same flags as cmake-js.
function probe(torchDir) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-torch-probe-'));
  try {
    fs.writeFileSync(
      path.join(work, 'CMakeLists.txt'),
      [
        'cmake_minimum_required(VERSION 3.18)',
        'project(probe CXX)',
        'find_package(Torch REQUIRED)',
        'get_target_property(inc torch INTERFACE_INCLUDE_DIRECTORIES)',
        'file(WRITE ${CMAKE_BINARY_DIR}/probe.txt "INCLUDES=${TORCH_INCLUDE_DIRS}\\nLIBS=${TORCH_LIBRARIES}\\nFLAGS=${TORCH_CXX_FLAGS}\\nPREFIX=${TORCH_INSTALL_PREFIX}\\nVERSION=${Torch_VERSION}\\n")',
      ].join('\n'),
    );
    execFileSync('cmake', ['-S', work, '-B', path.join(work, 'b'), `-DTorch_DIR=${torchDir}`], { stdio: 'ignore' });
    const out = {};
    for (const line of fs.readFileSync(path.join(work, 'b', 'probe.txt'), 'utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return out;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function libraryDirs(libs) {
  const dirs = new Set();
  for (const lib of libs) if (lib.startsWith('/') && fs.existsSync(lib)) dirs.add(path.dirname(lib));
  return [...dirs];
}

function hasLibrary(dirs, name) {
  return dirs.some((d) => fs.existsSync(path.join(d, name)));
}

module.exports = { locateLibtorch, probe };

if (require.main === module) {
  const what = process.argv[2] || 'dir';
  try {
    const found = locateLibtorch();
    if (what === 'dir') {
      process.stdout.write(found.dir);
    } else if (what === 'via') {
      process.stdout.write(found.via);
    } else {
      const p = probe(found.dir);
      const libs = p.LIBS.split(';').filter(Boolean);
      const libFiles = libs.filter((l) => l.startsWith('/'));
      const torchLibDir = libraryDirs([
        ...libFiles.filter((l) => /lib(torch|c10)/.test(path.basename(l))),
        path.join(p.PREFIX || '/nonexistent', 'lib', 'libtorch.so'),
      ]);
      const results = {
        includes: p.INCLUDES.split(';').filter(Boolean).join(' '),
        // gyp wants plain linker arguments; imported targets resolve to these libraries
        libraries: [
          ...torchLibDir.map((d) => `-L${d} -Wl,-rpath,${d}`),
          // libtorch_cuda registers the CUDA backend from static initialisers: keep it even if no symbol is used
          '-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10',
          ...(hasLibrary(torchLibDir, 'libtorch_cuda.so') ? ['-ltorch_cuda', '-lc10_cuda'] : []),
          ...libFiles.filter((l) => /cuda/.test(path.basename(l)) && !/lib(torch|c10)_cuda\.so$/.test(l)),
        ].join(' '),
        cflags: p.FLAGS,
        version: p.VERSION,
      };
      process.stdout.write(results[what] ?? '');
    }
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
