// The addon loader: one clear E_NATIVE_LOAD error when the addon is missing or cannot be loaded.
// Each case runs in a child process, because a process loads the addon once and keeps it.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..');
const BINDING = path.join(ROOT, 'dist', 'lib', 'binding.js');

interface Outcome {
  loaded?: boolean;
  name?: string;
  code?: string;
  message?: string;
  dlopenMessage?: string;
}

/** Loads the addon through dist/lib/binding.js with LCMD_ADDON=file; with `direct`, first dlopens it by hand too. */
function loadIn(file: string, direct = true): Outcome {
  if (!fs.existsSync(BINDING)) throw new Error(`${BINDING} is missing: build the TypeScript first (npx tsc -p tsconfig.json)`);
  const script = `
    let dlopenMessage;
    if (${direct}) try { process.dlopen({ exports: {} }, ${JSON.stringify(file)}); } catch (e) { dlopenMessage = e.message; }
    let out;
    try {
      require(${JSON.stringify(BINDING)}).native();
      out = { loaded: true };
    } catch (e) {
      out = { name: e.constructor.name, code: e.code, message: e.message };
    }
    process.stdout.write(JSON.stringify({ ...out, dlopenMessage }));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, LCMD_ADDON: file } });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Outcome;
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-loader-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a missing addon gives E_NATIVE_LOAD naming the path and what to run', () => {
  const file = path.join(tmp, 'missing', 'lcmd.node');
  const r = loadIn(file);
  expect(r.name).toBe('LcmdError');
  expect(r.code).toBe('E_NATIVE_LOAD');
  expect(r.message).toContain(file);
  expect(r.message).toContain('npm rebuild');
  expect(r.message).toContain('libtorch-dev');
});

test('a file that is not a shared object gives E_NATIVE_LOAD with the dlopen message', () => {
  const file = path.join(tmp, 'not-a-library.node');
  fs.writeFileSync(file, 'this is text, not an ELF shared object\n'.repeat(20));
  const r = loadIn(file);
  expect(r.code).toBe('E_NATIVE_LOAD');
  expect(r.dlopenMessage).toBeTruthy();
  expect(r.message).toContain(r.dlopenMessage);
  expect(r.message).toContain(file);
  expect(r.message).toContain('npm rebuild');
});

test('a shared object that is not a Node addon gives E_NATIVE_LOAD with the dlopen message', () => {
  const libm = ['/lib/x86_64-linux-gnu/libm.so.6', '/lib/aarch64-linux-gnu/libm.so.6', '/usr/lib64/libm.so.6'].find((f) => fs.existsSync(f));
  if (!libm) return console.warn('skipped: no libm.so.6 found');
  const file = path.join(tmp, 'libm-copy.node');
  fs.copyFileSync(libm, file);
  const r = loadIn(file);
  expect(r.code).toBe('E_NATIVE_LOAD');
  expect(r.dlopenMessage).toBeTruthy();
  expect(r.message).toContain(r.dlopenMessage);
});

test('the built addon loads through the same path', () => {
  const file = process.env.LCMD_ADDON ? path.resolve(process.env.LCMD_ADDON) : path.join(ROOT, 'build', 'Release', 'lcmd.node');
  expect(loadIn(file, false)).toMatchObject({ loaded: true });
});
