// The file helpers every writer uses: folders made one component at a time (never the /proc spin of mkdir -p),
// the early writability check, atomic writes through <file>.tmp-<pid>, the removal of temporary files of dead
// processes only, and the refusal to overwrite a file of another kind or an input.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../lib/atomic-write';
import { LcmdError } from '../lib/errors';
import { checkWritable, ensureFolder } from '../lib/folders';
import { checkDistinctOutputs, checkOutputTarget, fileKind } from '../lib/output-targets';
import { RunFolder } from '../lib/run-folder';
import { writeSafetensors } from '../lib/safetensors';
import { removeStaleTempFiles, tempPathFor } from '../lib/temp-files';
import { Tensor } from '../lib/tensor';
import { tmpDir } from './cli-run';
import { npyBytes, pngBytes } from './fuzz-inputs';

/** The fs module object itself (the `import * as` namespace cannot be spied on; lib's reads go through this one). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs: typeof fs = require('fs');

let dir: string;
beforeAll(() => {
  dir = tmpDir('lcmd-files-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => jest.restoreAllMocks());

function errorOf(f: () => unknown): LcmdError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    return err as LcmdError;
  }
  throw new Error('expected an LcmdError');
}

/** An errno-style error as Node's fs throws it. */
function fsError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

/** The pid of a process that has exited (a child run to completion). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('ensureFolder', () => {
  test('creates nested folders, and accepts existing ones', () => {
    const deep = path.join(dir, 'a', 'b', 'c');
    ensureFolder(deep);
    ensureFolder(deep);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
  });

  test('under /proc it fails at once with E_IO naming the flag (Node\'s recursive mkdir spins there)', () => {
    const started = Date.now();
    const err = errorOf(() => ensureFolder('/proc/lcmd-test/x', '--out'));
    expect(err.code).toBe('E_IO');
    expect(err.message).toMatch(/--out \/proc\/lcmd-test\/x/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('a file on the path is E_IO naming it', () => {
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, 'x');
    const err = errorOf(() => ensureFolder(path.join(file, 'sub'), '--folder'));
    expect(err.code).toBe('E_IO');
    expect(err.message).toContain(`${file} is a file, not a folder`);
  });

  test('a read-only file system is reported as EROFS, not ENOENT', () => {
    jest.spyOn(nodeFs, 'mkdirSync').mockImplementation(() => {
      throw fsError('EROFS');
    });
    const err = errorOf(() => ensureFolder(path.join(dir, 'ro', 'deeper'), '--out'));
    expect(err.code).toBe('E_IO');
    expect(err.message).toMatch(/read-only file system \(EROFS\); choose a path on a writable file system/);
  });

  test('a folder made by another process meanwhile (EEXIST) is fine', () => {
    const target = path.join(dir, 'raced');
    const real = fs.mkdirSync;
    jest.spyOn(nodeFs, 'mkdirSync').mockImplementation(((p: fs.PathLike) => {
      real(p);
      throw fsError('EEXIST');
    }) as typeof fs.mkdirSync);
    ensureFolder(target);
    expect(fs.statSync(target).isDirectory()).toBe(true);
  });
});

describe('checkWritable', () => {
  test('a path in missing folders of a writable folder passes, and creates nothing', () => {
    const before = fs.readdirSync(dir).sort();
    checkWritable(path.join(dir, 'new', 'deeper', 'x.npy'), 'file', '--out');
    checkWritable(path.join(dir, 'new-folder'), 'folder', '--folder');
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  });

  test('/proc, a file on the path and a folder for a file are E_IO naming the flag', () => {
    for (const [target, kind] of [['/proc/lcmd-x/y.npy', 'file'], ['/proc/lcmd-x', 'folder']] as const) {
      const err = errorOf(() => checkWritable(target, kind, '--out'));
      expect(err.code).toBe('E_IO');
      expect(err.message).toContain(`--out ${target}`);
    }
    const file = path.join(dir, 'blocker');
    fs.writeFileSync(file, 'x');
    expect(errorOf(() => checkWritable(path.join(file, 'x.npy'), 'file', '--out')).code).toBe('E_IO');
    expect(errorOf(() => checkWritable(file, 'folder', '--folder')).message).toMatch(/is a file, not a folder/);
    expect(errorOf(() => checkWritable(dir, 'file', '--out')).message).toMatch(/it is a folder/);
  });

  test('a folder that refuses new files (EROFS) is reported before any work', () => {
    jest.spyOn(nodeFs, 'openSync').mockImplementation(() => {
      throw fsError('EROFS');
    });
    const err = errorOf(() => checkWritable(path.join(dir, 'x.npy'), 'file', '--out'));
    expect(err.message).toMatch(/--out .*x\.npy .*read-only file system \(EROFS\)/);
  });
});

describe('writeFileAtomic', () => {
  test('writes through <file>.tmp-<pid> and leaves no temporary file', () => {
    const file = path.join(dir, 'report.json');
    fs.writeFileSync(file, 'old');
    const renames: string[] = [];
    const real = fs.renameSync;
    jest.spyOn(nodeFs, 'renameSync').mockImplementation((from, to) => {
      renames.push(`${String(from)} -> ${String(to)}`);
      real(from, to);
    });
    writeFileAtomic(file, '{"a": 1}\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a": 1}\n');
    expect(renames).toEqual([`${tempPathFor(file)} -> ${file}`]);
    expect(fs.existsSync(tempPathFor(file))).toBe(false);
  });

  test('a failed write keeps the old file, removes the temporary one and is E_IO naming the flag', () => {
    const file = path.join(dir, 'kept.json');
    fs.writeFileSync(file, 'old');
    jest.spyOn(nodeFs, 'fsyncSync').mockImplementation(() => {
      throw fsError('ENOSPC');
    });
    const err = errorOf(() => writeFileAtomic(file, 'new', '--out'));
    expect(err.code).toBe('E_IO');
    expect(err.message).toMatch(/cannot write --out .*kept\.json: no space left on the device \(ENOSPC\)/);
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.existsSync(tempPathFor(file))).toBe(false);
  });

  test('onto a folder is E_IO', () => {
    const folder = path.join(dir, 'a-folder.json');
    fs.mkdirSync(folder);
    expect(errorOf(() => writeFileAtomic(folder, 'x')).code).toBe('E_IO');
    expect(fs.readdirSync(dir).some((n) => n.startsWith('a-folder.json.tmp-'))).toBe(false);
  });
});

describe('removeStaleTempFiles', () => {
  test('removes the temporary files of dead processes only', () => {
    const run = path.join(dir, 'stale');
    fs.mkdirSync(run);
    const dead = deadPid();
    const files = {
      dead: path.join(run, `checkpoint.safetensors.tmp-${dead}`),
      mine: path.join(run, `log.jsonl.tmp-${process.pid}`),
      parent: path.join(run, `config.json.tmp-${process.ppid}`),
      other: path.join(run, 'checkpoint.safetensors'),
      notPid: path.join(run, 'notes.tmp-abc'),
    };
    for (const f of Object.values(files)) fs.writeFileSync(f, 'x');
    fs.mkdirSync(path.join(run, `folder.tmp-${dead}`));
    expect(removeStaleTempFiles(run)).toEqual([files.dead]);
    expect(fs.readdirSync(run).sort()).toEqual(['checkpoint.safetensors', `config.json.tmp-${process.ppid}`, `folder.tmp-${dead}`, `log.jsonl.tmp-${process.pid}`, 'notes.tmp-abc'].sort());
    expect(removeStaleTempFiles(path.join(dir, 'no-such-folder'))).toEqual([]);
  });
});

describe('checkOutputTarget', () => {
  let checkpoint: string;
  let tokenizerLike: string;
  beforeAll(async () => {
    checkpoint = path.join(dir, 'ck.safetensors');
    await writeSafetensors(checkpoint, { w: Tensor.zeros([2]) }, { 'lcmd.format': 'lcmd-checkpoint/1' });
    tokenizerLike = path.join(dir, 'tok.safetensors');
    await writeSafetensors(tokenizerLike, { w: Tensor.zeros([2]) }, { 'lcmd.format': 'tokenizer' });
  });

  test('file kinds come from the content', async () => {
    const write = (name: string, data: Buffer | string) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, data);
      return f;
    };
    expect(fileKind(checkpoint)).toBe('checkpoint');
    expect(fileKind(tokenizerLike)).toBe('tokenizer');
    const plain = path.join(dir, 'plain.safetensors');
    await writeSafetensors(plain, { w: Tensor.zeros([1]) });
    expect(fileKind(plain)).toBe('safetensors');
    expect(fileKind(write('a.bin', npyBytes({ body: Buffer.alloc(32) })))).toBe('npy');
    expect(fileKind(write('b.bin', pngBytes(2, 2)))).toBe('png');
    expect(fileKind(write('c.bin', '<svg xmlns="http://www.w3.org/2000/svg"></svg>'))).toBe('svg');
    expect(fileKind(write('d.bin', '{"a": [1]}'))).toBe('json');
    expect(fileKind(write('e.bin', 'hello'))).toBe('other');
    expect(fileKind(write('f.bin', ''))).toBe('empty');
  });

  test('a file of another kind is E_USAGE naming the flag and --force; the same kind, an empty file or --force pass', () => {
    const err = errorOf(() => checkOutputTarget(checkpoint, { flag: '--out', kind: 'npy' }));
    expect(err.code).toBe('E_USAGE');
    expect(err.message).toMatch(/--out .*ck\.safetensors already exists and is an lcmd training checkpoint, not a \.npy array: refusing to overwrite it; choose another path, or add --force/);
    expect(errorOf(() => checkOutputTarget(checkpoint, { flag: '--out', kind: 'tokenizer' })).message).toMatch(/is an lcmd training checkpoint, not an lcmd tokenizer/);
    checkOutputTarget(tokenizerLike, { flag: '--out', kind: 'tokenizer' });
    checkOutputTarget(checkpoint, { flag: '--out', kind: 'npy', force: true });
    const empty = path.join(dir, 'empty.npy');
    fs.writeFileSync(empty, '');
    checkOutputTarget(empty, { flag: '--out', kind: 'npy' });
    checkOutputTarget(path.join(dir, 'missing.npy'), { flag: '--out', kind: 'npy' });
    expect(errorOf(() => checkOutputTarget(dir, { flag: '--out', kind: 'npy', force: true })).message).toMatch(/is a folder/);
  });

  test('an input of the command is refused even when of the same kind, also through a link', () => {
    const input = path.join(dir, 'images.npy');
    fs.writeFileSync(input, npyBytes({ body: Buffer.alloc(32) }));
    const link = path.join(dir, 'link.npy');
    fs.symlinkSync(input, link);
    for (const target of [input, link]) {
      const err = errorOf(() => checkOutputTarget(target, { flag: '--out', kind: 'npy', inputs: [{ flag: '--images', path: input }] }));
      expect(err.message).toMatch(/is the same file as --images, which this command reads/);
    }
    checkOutputTarget(input, { flag: '--out', kind: 'npy', inputs: [{ flag: '--images', path: input }], force: true });
  });

  test('two outputs of one command may not be one file', () => {
    expect(errorOf(() => checkDistinctOutputs([{ flag: '--out', path: 'a/x.npy' }, { flag: '--labels-out', path: 'a/../a/x.npy' }])).message).toMatch(/--out and --labels-out name the same file/);
    checkDistinctOutputs([{ flag: '--out', path: 'x.npy' }, { flag: '--labels-out', path: undefined }]);
  });
});

describe('RunFolder', () => {
  test('a read-only file system while cutting the log back is E_IO naming log.jsonl', () => {
    const run = new RunFolder(path.join(dir, 'ro-run'));
    fs.mkdirSync(run.dir);
    fs.writeFileSync(run.log, '{"type":"step","step":1}\n{"type":"step","step":5}\n');
    jest.spyOn(nodeFs, 'openSync').mockImplementation(() => {
      throw fsError('EROFS');
    });
    const err = errorOf(() => run.prepare({}, 2));
    expect(err.code).toBe('E_IO');
    expect(err.message).toMatch(/cannot write .*ro-run\/log\.jsonl: read-only file system \(EROFS\)/);
  });

  test('log.jsonl or config.json being a folder is E_IO naming it; a failed append too', () => {
    for (const name of ['log.jsonl', 'config.json']) {
      const run = new RunFolder(path.join(dir, `folder-${name}`));
      fs.mkdirSync(path.join(run.dir, name), { recursive: true });
      const err = errorOf(() => run.prepare({}, undefined));
      expect(err.code).toBe('E_IO');
      expect(err.message).toContain(`${name}: it is a folder`);
    }
    const run = new RunFolder(path.join(dir, 'append'));
    fs.mkdirSync(run.log, { recursive: true });
    expect(errorOf(() => run.appendLog({ step: 1 })).message).toMatch(/cannot append to the run log .*log\.jsonl/);
  });

  test('config.json and a new log are written atomically', () => {
    const run = new RunFolder(path.join(dir, 'fresh', 'run'));
    run.prepare({ a: 1 }, undefined);
    expect(fs.readdirSync(run.dir).sort()).toEqual(['config.json', 'log.jsonl']);
    expect(JSON.parse(fs.readFileSync(run.config, 'utf8'))).toEqual({ a: 1 });
  });
});
