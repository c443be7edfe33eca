import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LcmdError } from '../lib/errors';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../lib/safetensors';
import { Tensor, type AnyTypedArray } from '../lib/tensor';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-safetensors-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function bytesOf(a: AnyTypedArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** One tensor per dtype, with awkward values (NaN, infinities, -0, extremes) where the dtype has them. */
function sampleTensors(): Record<string, Tensor> {
  const floats = [0, -0, 1.5, -2.25, 0.1, 3.4e38, 1e-40, NaN, Infinity, -Infinity, 65504, 1 / 3];
  return {
    f32: Tensor.from(new Float32Array(floats), [3, 4]),
    f64: Tensor.from(new Float64Array([...floats.slice(0, 10), Number.MAX_VALUE, 5e-324]), [2, 2, 3]),
    bf16: Tensor.from(new Float32Array(floats), [12], 'bfloat16'),
    f16: Tensor.from(new Float32Array(floats.map((v) => (Math.abs(v) > 65504 ? v * 0 : v))), [4, 3], 'float16'),
    i64: Tensor.from(new BigInt64Array([0n, -1n, 9007199254740993n, -(2n ** 63n), 2n ** 63n - 1n, 42n]), [6]),
    i32: Tensor.from(new Int32Array([0, -1, 2147483647, -2147483648, 7, 8]), [2, 3]),
    i16: Tensor.from(new Int16Array([0, -1, 32767, -32768]), [2, 2]),
    u8: Tensor.from(new Uint8Array([0, 1, 128, 255, 17]), [5]),
    flags: Tensor.from(new Uint8Array([1, 0, 0, 1, 1]), [5], 'bool'),
    scalar: Tensor.from(new Float32Array([7.5]), []),
    empty: Tensor.from(new Int32Array(0), [0, 3]),
  };
}

/** Builds a raw safetensors file from a header object and a data section, for the malformed-file tests. */
function craft(name: string, header: unknown, data: Buffer, headerText?: string): string {
  const text = Buffer.from(headerText ?? JSON.stringify(header));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(text.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([size, text, data]));
  return file;
}

async function expectCode(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LcmdError);
  expect((err as LcmdError).code).toBe(code);
  if (pattern) expect((err as LcmdError).message).toMatch(pattern);
}

describe('safetensors', () => {
  const file = path.join(dir, 'all.safetensors');
  const metadata = { 'lcmd.config': JSON.stringify({ a: 1, name: 'ünïcode ✓' }), step: '12' };

  beforeAll(async () => {
    await writeSafetensors(file, sampleTensors(), metadata);
  });

  test('round trip is bit-exact for every dtype, with shapes and metadata', async () => {
    const original = sampleTensors();
    const loaded = await readSafetensors(file);
    expect(Object.keys(loaded.tensors).sort()).toEqual(Object.keys(original).sort());
    for (const [name, t] of Object.entries(original)) {
      const back = loaded.tensors[name];
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(bytesOf(back.toTypedArray()).equals(bytesOf(t.toTypedArray()))).toBe(true);
    }
    expect(loaded.metadata).toEqual(metadata);
    expect(readSafetensorsMetadata(file)).toEqual(metadata);
  });

  test('the layout is the standard one: LE header length, padded JSON, sorted contiguous offsets, no temp file left', () => {
    const buf = fs.readFileSync(file);
    const headerLength = Number(buf.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const byOffset = [...names].sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
    expect(byOffset).toEqual([...names].sort());
    const last = header[byOffset[byOffset.length - 1]].data_offsets[1];
    expect(8 + headerLength + last).toBe(buf.length);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  test('Debian python (json + numpy/torch, no safetensors package) reads the same values', async () => {
    const script = `
import json, sys, numpy as np, torch
raw = open(sys.argv[1], 'rb').read()
n = int.from_bytes(raw[:8], 'little')
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
np_types = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32,
            'I16': np.int16, 'U8': np.uint8, 'BOOL': np.bool_}
out = {'__metadata__': header.get('__metadata__')}
for name, e in header.items():
    if name == '__metadata__':
        continue
    b, end = e['data_offsets']
    if e['dtype'] == 'BF16':
        values = torch.frombuffer(bytearray(data[b:end]), dtype=torch.bfloat16).float().numpy() if end > b else np.zeros(0)
    else:
        values = np.frombuffer(data[b:end], dtype=np_types[e['dtype']])
    values = values.reshape(e['shape']).reshape(-1).tolist()
    out[name] = {'shape': e['shape'], 'values': [repr(float(v)) if isinstance(v, float) else str(int(v)) for v in values]}
print(json.dumps(out))
`;
    const result = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' })) as Record<string, { shape: number[]; values: string[] }> & {
      __metadata__: Record<string, string>;
    };
    expect(result.__metadata__).toEqual(metadata);
    const pyNumber = (s: string): number => (s === 'nan' ? NaN : s === 'inf' ? Infinity : s === '-inf' ? -Infinity : Number(s));
    for (const [name, t] of Object.entries(sampleTensors())) {
      expect(result[name].shape).toEqual(t.shape);
      const ours = Array.from(t.toTypedArray() as ArrayLike<number | bigint>);
      if (t.dtype === 'int64') expect(result[name].values).toEqual(ours.map((v) => v.toString()));
      else if (t.dtype === 'bool') expect(result[name].values.map(Number)).toEqual(ours.map(Number));
      else expect(result[name].values.map(pyNumber)).toEqual(ours.map(Number));
    }
  });

  test('a missing file is E_IO', async () => {
    await expectCode(readSafetensors(path.join(dir, 'nope.safetensors')), 'E_IO', /nope\.safetensors/);
    expect(() => readSafetensorsMetadata(path.join(dir, 'nope.safetensors'))).toThrow(LcmdError);
  });

  test('every truncation of a valid file is E_CHECKPOINT', async () => {
    const buf = fs.readFileSync(file);
    const cuts = [0, 3, 8, 20, buf.length - 60, buf.length - 1];
    for (const cut of cuts) {
      const truncated = path.join(dir, `cut-${cut}.safetensors`);
      fs.writeFileSync(truncated, buf.subarray(0, cut));
      await expectCode(readSafetensors(truncated), 'E_CHECKPOINT');
    }
    const longer = path.join(dir, 'trailing.safetensors');
    fs.writeFileSync(longer, Buffer.concat([buf, Buffer.from([1, 2, 3])]));
    await expectCode(readSafetensors(longer), 'E_CHECKPOINT', /claim/);
  });

  test('corrupt headers are E_CHECKPOINT with a reason', async () => {
    const d8 = Buffer.alloc(8);
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    await expectCode(readSafetensors(craft('json.st', null, d8, '{"a": {"dtype": "F32",')), 'E_CHECKPOINT', /JSON/);
    await expectCode(readSafetensors(craft('array.st', [1, 2], d8)), 'E_CHECKPOINT', /not an object/);
    await expectCode(readSafetensors(craft('dtype.st', { a: { ...ok.a, dtype: 'Q8' } }, d8)), 'E_CHECKPOINT', /dtype 'Q8'/);
    await expectCode(readSafetensors(craft('shape.st', { a: { ...ok.a, shape: [3] } }, d8)), 'E_CHECKPOINT', /spans 8 bytes/);
    await expectCode(readSafetensors(craft('neg.st', { a: { ...ok.a, shape: [-2] } }, d8)), 'E_CHECKPOINT', /shape/);
    await expectCode(readSafetensors(craft('huge.st', { a: { ...ok.a, shape: [2 ** 40, 2 ** 40] } }, d8)), 'E_CHECKPOINT', /too large|spans/);
    await expectCode(readSafetensors(craft('offsets.st', { a: { ...ok.a, data_offsets: [0, 12] } }, d8)), 'E_CHECKPOINT');
    await expectCode(readSafetensors(craft('past.st', { a: { ...ok.a, data_offsets: [8, 16] } }, d8)), 'E_CHECKPOINT');
    await expectCode(readSafetensors(craft('reversed.st', { a: { ...ok.a, data_offsets: [8, 0] } }, d8)), 'E_CHECKPOINT', /end before/);
    const two = Buffer.alloc(12);
    await expectCode(
      readSafetensors(craft('overlap.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, two)),
      'E_CHECKPOINT',
      /overlaps/,
    );
    await expectCode(readSafetensors(craft('gap.st', { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, d8)), 'E_CHECKPOINT', /gap/);
    await expectCode(readSafetensors(craft('meta.st', { __metadata__: { k: 3 }, ...ok }, d8)), 'E_CHECKPOINT', /metadata/);
    await expectCode(readSafetensors(craft('bool.st', { a: { dtype: 'BOOL', shape: [8], data_offsets: [0, 8] } }, Buffer.from([0, 1, 2, 0, 0, 0, 0, 0]))), 'E_CHECKPOINT', /BOOL/);
    const hugeLength = path.join(dir, 'hugelen.st');
    const head = Buffer.alloc(16);
    head.writeBigUInt64LE(2n ** 62n);
    fs.writeFileSync(hugeLength, head);
    await expectCode(readSafetensors(hugeLength), 'E_CHECKPOINT', /header length/);
    expect(() => readSafetensorsMetadata(craft('json2.st', null, d8, '{"a"'))).toThrow(expect.objectContaining({ code: 'E_CHECKPOINT' }));
    // A hand-made valid file (unpadded header, unsorted names) is accepted.
    const made = await readSafetensors(craft('valid.st', { b: { dtype: 'I32', shape: [1], data_offsets: [4, 8] }, a: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, Buffer.from([1, 0, 0, 0, 2, 0, 0, 0])));
    expect(Array.from(made.tensors.a.toTypedArray() as Int32Array)).toEqual([1]);
    expect(Array.from(made.tensors.b.toTypedArray() as Int32Array)).toEqual([2]);
  });

  test('invalid writes are rejected and leave the previous file intact', async () => {
    const before = fs.readFileSync(file);
    await expectCode(writeSafetensors(file, { __metadata__: Tensor.from(new Float32Array(1), [1]) }), 'E_USAGE');
    await expectCode(writeSafetensors(path.join(dir, 'no', 'such', 'dir.st'), { a: Tensor.from(new Float32Array(1), [1]) }), 'E_IO');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });
});
