import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LcmdError } from '../lib/errors';
import { npyInfo, readNpy, writeNpy, type NpyDType } from '../lib/npy';
import { Tensor } from '../lib/tensor';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-npy-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs a snippet under Debian's python (numpy) with `dir` as argv[1]; returns its JSON output. */
function python(script: string): unknown {
  const out = execFileSync('/usr/bin/python3', ['-c', `import json, sys, numpy as np\nd = sys.argv[1]\n${script}`, dir], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : undefined;
}

async function failure(promise: Promise<unknown> | (() => unknown)): Promise<LcmdError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    return err as LcmdError;
  }
  throw new Error('expected an LcmdError');
}

// Values that exercise each type's extremes; all fit every integer type they are written for.
const RANGES: Record<string, [bigint, bigint]> = {
  int8: [-128n, 127n], int16: [-32768n, 32767n], int32: [-(2n ** 31n), 2n ** 31n - 1n], int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 255n], uint16: [0n, 65535n], uint32: [0n, 2n ** 32n - 1n], uint64: [0n, 2n ** 63n - 1n], bool: [0n, 1n],
};

function valuesFor(dtype: string): bigint[] {
  const [lo, hi] = RANGES[dtype];
  return [lo, hi, 0n, 1n, lo + 1n, hi - 1n].map((v) => (v < lo ? lo : v > hi ? hi : v));
}

describe('npy integer dtypes', () => {
  const integerTypes = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool'] as const;

  test.each(integerTypes)('%s: write as, numpy reads the same, read back gives the same values', async (dtype) => {
    const values = valuesFor(dtype);
    const file = path.join(dir, `w-${dtype}.npy`);
    const source = dtype === 'bool' ? Tensor.from(new Uint8Array(values.map(Number)), [2, 3], 'bool') : Tensor.from(new BigInt64Array(values), [2, 3]);
    await writeNpy(file, source, { dtype });
    const py = python(`a = np.load(d + '/w-${dtype}.npy'); print(json.dumps({'dtype': str(a.dtype), 'shape': list(a.shape), 'values': [str(int(v)) for v in a.reshape(-1)]}))`) as {
      dtype: string;
      shape: number[];
      values: string[];
    };
    expect(py.dtype).toBe(dtype);
    expect(py.shape).toEqual([2, 3]);
    expect(py.values).toEqual(values.map(String));
    const back = await readNpy(file);
    expect(back.stored).toBe(dtype);
    expect(back.shape).toEqual([2, 3]);
    expect(Array.from(back.tensor.toTypedArray() as ArrayLike<number | bigint>).map(String)).toEqual(values.map(String));
    expect(npyInfo(file)).toMatchObject({ dtype, shape: [2, 3], version: 1 });
  });

  test('files numpy writes (every dtype, versions 1.0, 2.0 and 3.0, scalars and empty arrays) read back exactly', async () => {
    python(`
types = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'float16', 'float32', 'float64']
for i, t in enumerate(types):
    a = (np.arange(24).reshape(2, 3, 4) * 7 - (0 if t.startswith('u') or t == 'bool' else 40)).astype(t)
    if t.startswith('float'):
        a = (a / 8).astype(t)
    version = [(1, 0), (2, 0), (3, 0)][i % 3]
    with open(d + '/np-' + t + '.npy', 'wb') as f:
        np.lib.format.write_array(f, a, version=version)
np.save(d + '/np-scalar.npy', np.float32(2.5))
np.save(d + '/np-empty.npy', np.zeros((0, 5), dtype=np.int32))
`);
    const types: NpyDType[] = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'float16', 'float32', 'float64'];
    for (const [i, t] of types.entries()) {
      const file = path.join(dir, `np-${t}.npy`);
      expect(npyInfo(file).version).toBe([1, 2, 3][i % 3]);
      const { tensor, stored, shape } = await readNpy(file);
      expect(stored).toBe(t);
      expect(shape).toEqual([2, 3, 4]);
      const offset = t.startsWith('u') || t === 'bool' ? 0 : 40;
      const expected = Array.from({ length: 24 }, (_, k) => {
        const v = k * 7 - offset;
        if (t === 'bool') return v !== 0 ? 1 : 0;
        if (t.startsWith('float')) return v / 8;
        const bits = Number(t.replace(/\D/g, ''));
        const signed = !t.startsWith('u');
        if (bits === 64) return v; // every value fits; no wrap-around
        const mod = 2 ** bits;
        let w = ((v % mod) + mod) % mod;
        if (signed && w >= mod / 2) w -= mod;
        return w;
      });
      expect([t, Array.from(tensor.toTypedArray() as ArrayLike<number | bigint>).map(Number)]).toEqual([t, expected]);
    }
    const scalar = await readNpy(path.join(dir, 'np-scalar.npy'));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.tensor.toTypedArray() as Float32Array)).toEqual([2.5]);
    const empty = await readNpy(path.join(dir, 'np-empty.npy'));
    expect(empty.shape).toEqual([0, 5]);
  });

  test('float tensors round trip bit-exactly, bfloat16 is stored as float32, and numpy agrees', async () => {
    const values = new Float32Array([0, -0, 1.5, -3.25e-7, 3.4e38, NaN, Infinity, 1 / 3]);
    const file = path.join(dir, 'f32.npy');
    await writeNpy(file, Tensor.from(values, [8]));
    const back = await readNpy(file);
    expect(Buffer.from((back.tensor.toTypedArray() as Float32Array).buffer).equals(Buffer.from(values.buffer))).toBe(true);
    const py = python(`a = np.load(d + '/f32.npy'); print(json.dumps([repr(float(v)) for v in a]))`) as string[];
    expect(py.map((s) => (s === 'nan' ? NaN : s === 'inf' ? Infinity : Number(s)))).toEqual(Array.from(values));
    const bf = path.join(dir, 'bf16.npy');
    await writeNpy(bf, Tensor.from(new Float32Array([1.5, -2, 0.25]), [3], 'bfloat16'));
    expect(npyInfo(bf).dtype).toBe('float32');
  });

  test('the header is what numpy writes: 64-byte aligned data, a dict numpy parses', () => {
    const file = path.join(dir, 'w-int16.npy');
    const info = npyInfo(file);
    expect(info.dataOffset % 64).toBe(0);
    const header = fs.readFileSync(file).subarray(10, info.dataOffset).toString('latin1');
    expect(header).toMatch(/^\{'descr': '<i2', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('npy write range checks', () => {
  test('values that do not fit the stored dtype are E_RANGE naming the first offending index', async () => {
    const t = Tensor.from(new Int32Array([5, 65535, 65536, 70000]), [4]);
    const err = await failure(writeNpy(path.join(dir, 'bad.npy'), t, { dtype: 'uint16' }));
    expect(err.code).toBe('E_RANGE');
    expect(err.message).toMatch(/65536 \(at index 2\)/);
    const neg = await failure(writeNpy(path.join(dir, 'bad.npy'), Tensor.from(new Int32Array([3, -1]), [2]), { dtype: 'uint8' }));
    expect(neg.code).toBe('E_RANGE');
    expect(fs.existsSync(path.join(dir, 'bad.npy'))).toBe(false);
  });

  test('floats cannot be stored as integers, unknown dtypes are rejected', async () => {
    expect((await failure(writeNpy(path.join(dir, 'x.npy'), Tensor.from(new Float32Array([1]), [1]), { dtype: 'int16' }))).code).toBe('E_DTYPE');
    expect((await failure(writeNpy(path.join(dir, 'x.npy'), Tensor.from(new Float32Array([1]), [1]), { dtype: 'complex64' as NpyDType }))).code).toBe('E_DTYPE');
  });
});

describe('malformed npy files', () => {
  beforeAll(() => {
    python(`
np.save(d + '/fortran.npy', np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)))
np.save(d + '/big.npy', np.arange(4, dtype='>i4'))
np.save(d + '/complex.npy', np.zeros(3, dtype=np.complex64))
np.save(d + '/unicode.npy', np.array(['ab', 'cd']))
np.save(d + '/struct.npy', np.zeros(2, dtype=[('a', '<i4'), ('b', '<f4')]))
np.save(d + '/good.npy', np.arange(12, dtype=np.int64).reshape(3, 4))
np.save(d + '/u64big.npy', np.array([1, 2**63 + 5], dtype=np.uint64))
`);
  });

  const good = () => fs.readFileSync(path.join(dir, 'good.npy'));
  const write = (name: string, bytes: Buffer) => {
    fs.writeFileSync(path.join(dir, name), bytes);
    return path.join(dir, name);
  };
  const patchHeader = (name: string, from: string, to: string) => {
    const buf = Buffer.from(good());
    const text = buf.toString('latin1');
    const at = text.indexOf(from);
    expect(at).toBeGreaterThan(0);
    buf.write(to.padEnd(from.length, ' '), at, 'latin1');
    return write(name, buf);
  };

  test.each([
    ['fortran.npy', 'E_DATA', /Fortran/],
    ['big.npy', 'E_DTYPE', /big-endian/],
    ['complex.npy', 'E_DTYPE', /<c8/],
    ['unicode.npy', 'E_DTYPE', /<U2/],
    ['struct.npy', 'E_DTYPE', /structured/],
  ])('%s is %s', async (name, code, pattern) => {
    const file = path.join(dir, name);
    const err = await failure(readNpy(file));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(pattern);
    expect(err.message).toContain(name);
    expect((await failure(() => npyInfo(file))).code).toBe(code);
  });

  test('truncation, trailing bytes, bad magic, version and header are E_DATA naming the problem', async () => {
    const buf = good();
    const cases: [string, Buffer, RegExp][] = [
      ['cut-data.npy', buf.subarray(0, buf.length - 3), /truncated/],
      ['cut-header.npy', buf.subarray(0, 40), /header length/],
      ['cut-magic.npy', buf.subarray(0, 5), /magic/],
      ['trailing.npy', Buffer.concat([buf, Buffer.alloc(8)]), /trailing/],
      ['magic.npy', Buffer.concat([Buffer.from('\x93NUMPZ', 'latin1'), buf.subarray(6)]), /magic/],
      ['version.npy', Buffer.concat([buf.subarray(0, 6), Buffer.from([4, 0]), buf.subarray(8)]), /version 4\.0/],
      ['empty.npy', Buffer.alloc(0), /magic/],
    ];
    for (const [name, bytes, pattern] of cases) {
      const err = await failure(readNpy(write(name, bytes)));
      expect([name, err.code]).toEqual([name, 'E_DATA']);
      expect(err.message).toMatch(pattern);
      expect(err.message).toContain(name);
    }
    const patched: [string, string, string, RegExp][] = [
      ['key.npy', "'fortran_order'", "'fortran_ordex'", /unexpected key/],
      ['shape.npy', "'shape': (3, 4)", "'shape': (3, x)", /shape/],
      ['bool.npy', 'False', 'Nope ', /fortran_order/],
      ['brace.npy', '{', '[', /expected '\{'/],
      ['size.npy', "'shape': (3, 4)", "'shape': (3, 5)", /\(3, 5\) needs 248 bytes with its header, but the file has 224/],
    ];
    for (const [name, from, to, pattern] of patched) {
      const err = await failure(readNpy(patchHeader(name, from, to)));
      expect([name, err.code]).toEqual([name, 'E_DATA']);
      expect(err.message).toMatch(pattern);
    }
  });

  test('a missing file is E_IO; uint64 values above 2^63 - 1 are E_RANGE', async () => {
    expect((await failure(readNpy(path.join(dir, 'missing.npy')))).code).toBe('E_IO');
    const err = await failure(readNpy(path.join(dir, 'u64big.npy')));
    expect(err.code).toBe('E_RANGE');
    expect(err.message).toMatch(/9223372036854775813 at index 1/);
  });
});
