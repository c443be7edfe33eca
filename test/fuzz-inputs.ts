// Generators of malformed inputs for the fuzz suites: .npy files byte by byte, .safetensors files from a header
// object (or a real file's header, changed), and PNG files. Independent of lib/: the bytes are made here, so the
// readers under test never check their own output.
import * as fs from 'fs';
import { PNG } from 'pngjs';

/** The parts of a version 1.0 / 2.0 .npy file; each can be overridden to break it. */
export interface NpyParts {
  magic?: Buffer;
  major?: number;
  minor?: number;
  /** the header text; default: the dict literal from descr / fortran / shape, padded to 64 bytes */
  header?: string;
  /** a header length field that differs from the header's real length */
  headerLength?: number;
  descr?: string;
  fortran?: string;
  /** the shape as written in the header, e.g. "(2, 4)" */
  shape?: string;
  /** the data bytes */
  body?: Buffer;
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export function npyBytes(parts: NpyParts): Buffer {
  const major = parts.major ?? 1;
  let header = parts.header;
  if (header === undefined) {
    header = `{'descr': '${parts.descr ?? '<i4'}', 'fortran_order': ${parts.fortran ?? 'False'}, 'shape': ${parts.shape ?? '(2, 4)'}, }`;
    const prefix = major === 1 ? 10 : 12;
    header += ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  }
  const text = Buffer.from(header, 'latin1');
  const length = parts.headerLength ?? text.length;
  const lengthField = major === 1 ? Buffer.alloc(2) : Buffer.alloc(4);
  if (major === 1) lengthField.writeUInt16LE(Math.min(length, 0xffff));
  else lengthField.writeUInt32LE(Math.min(length, 0xffffffff));
  return Buffer.concat([parts.magic ?? NPY_MAGIC, Buffer.from([major, parts.minor ?? 0]), lengthField, text, parts.body ?? Buffer.alloc(0)]);
}

/** Little-endian int32 values. */
export function int32s(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
}

export function float32s(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

/** A valid int32 token file [n, h, w] with ids below `vocab`. */
export function tokenNpy(n: number, h: number, w: number, vocab: number): Buffer {
  const ids = Array.from({ length: n * h * w }, (_, i) => (i * 7 + 3) % vocab);
  return npyBytes({ descr: '<i4', shape: `(${n}, ${h}, ${w})`, body: int32s(ids) });
}

/** A valid int64 label file [n]. */
export function labelNpy(labels: number[]): Buffer {
  const b = Buffer.alloc(labels.length * 8);
  labels.forEach((v, i) => b.writeBigInt64LE(BigInt(v), i * 8));
  return npyBytes({ descr: '<i8', shape: `(${labels.length},)`, body: b });
}

export interface SafetensorsFile {
  header: Record<string, unknown>;
  data: Buffer;
}

/** Splits a .safetensors file into its header object and its data section. */
export function parseSafetensors(bytes: Buffer): SafetensorsFile {
  const length = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, unknown>, data: bytes.subarray(8 + length) };
}

/** A .safetensors file from a header (an object, or raw text) and a data section; `lengthField` overrides the size. */
export function safetensorsBytes(header: unknown, data: Buffer, options: { text?: string; lengthField?: bigint } = {}): Buffer {
  const text = Buffer.from(options.text ?? JSON.stringify(header), 'utf8');
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(options.lengthField ?? BigInt(text.length));
  return Buffer.concat([size, text, data]);
}

/** A deep copy of a header to change. */
export function cloneHeader(header: Record<string, unknown>): Record<string, Record<string, unknown>> {
  return JSON.parse(JSON.stringify(header)) as Record<string, Record<string, unknown>>;
}

/** The tensor entries of a header (without __metadata__), sorted by name. */
export function tensorNames(header: Record<string, unknown>): string[] {
  return Object.keys(header).filter((k) => k !== '__metadata__').sort();
}

/** The first float32 tensor with at least `min` elements (a weight to corrupt). */
export function firstFloatTensor(header: Record<string, unknown>, min = 4): string {
  const name = tensorNames(header).find((n) => {
    const e = header[n] as { dtype: string; shape: number[] };
    return e.dtype === 'F32' && e.shape.reduce((a, b) => a * b, 1) >= min;
  });
  if (!name) throw new Error('no float32 tensor in the header');
  return name;
}

/** The first float32 matrix whose two sides differ (flattening or transposing it changes its shape). */
export function firstFloatMatrix(header: Record<string, unknown>): string {
  const name = tensorNames(header).find((n) => {
    const e = header[n] as { dtype: string; shape: number[] };
    return e.dtype === 'F32' && e.shape.length === 2 && e.shape[0] !== e.shape[1];
  });
  if (!name) throw new Error('no float32 matrix with unequal sides in the header');
  return name;
}

/** A grey PNG of w x h pixels (8-bit grayscale). */
export function pngBytes(w: number, h: number, value = 128): Buffer {
  const png = new PNG({ width: w, height: h, colorType: 0, inputColorType: 6, inputHasAlpha: true });
  png.data.fill(value);
  for (let p = 0; p < w * h; p++) png.data[4 * p + 3] = 255;
  return PNG.sync.write(png, { colorType: 0 });
}

/** A PNG whose IHDR claims w x h pixels (the CRC fixed up), with the image data of a 1 x 1 picture. */
export function pngClaiming(w: number, h: number): Buffer {
  const bytes = Buffer.from(pngBytes(1, 1));
  // signature (8), IHDR length (4), "IHDR" (4), then width and height
  bytes.writeUInt32BE(w, 16);
  bytes.writeUInt32BE(h, 20);
  bytes.writeUInt32BE(crc32(bytes.subarray(12, 29)), 29);
  return bytes;
}

let crcTable: Uint32Array | undefined;
function crc32(buf: Buffer): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Writes `files` (relative name -> bytes, or null for a folder) under `dir`. */
export function writeTree(dir: string, files: Record<string, Buffer | string | null>): void {
  for (const [name, content] of Object.entries(files)) {
    const file = `${dir}/${name}`;
    if (content === null) fs.mkdirSync(file, { recursive: true });
    else fs.writeFileSync(file, content);
  }
}
