// Fuzz suite, files: generated malformed .npy files (token grids, labels, images), .safetensors files (checkpoints
// and tokenizers: truncated, bad headers, offsets out of range, wrong dtypes, missing tensors) and PNG folders, each
// given to the library API (in a child process) and to the commands that read it. Every case must fail with its
// error code, print no stack trace, finish within its timeout, and leave its folder exactly as it was.
import * as fs from 'fs';
import * as path from 'path';
import { pool, runCli, tmpDir, writeNpyFile } from './cli-run';
import { apiOutcome, cliOutcome, runApiCases, runCliTimed, snapshot, type ApiCase, type CliExpectation } from './fuzz-harness';
import {
  cloneHeader,
  firstFloatMatrix,
  firstFloatTensor,
  float32s,
  int32s,
  labelNpy,
  npyBytes,
  parseSafetensors,
  pngBytes,
  pngClaiming,
  safetensorsBytes,
  tensorNames,
  tokenNpy,
  writeTree,
} from './fuzz-inputs';
import { Tokenizer } from '../lib/tokenizer';

/** The tiny model of every CLI training case (milliseconds a step). */
const M = ['--preset', 'cm-data-small', '--layers', '1', '--hidden', '32', '--embed-dim', '16', '--heads', '2', '--vocab-size', '16', '--steps', '2', '--no-blas-check'];

const root = tmpDir('lcmd-fuzz-files-');
const fx = {
  dir: path.join(root, 'fixtures'),
  checkpoint: '',
  tokenizer: '',
  tokens: '',
  checkpointBytes: Buffer.alloc(0),
  tokenizerBytes: Buffer.alloc(0),
};

// ---- the inputs -------------------------------------------------------------------------------------------------

/** A generated input: files for the case folder, and the expected code in each context it runs in. */
interface Input {
  name: string;
  files: () => Record<string, Buffer | string | null>;
  /**
   * context name -> expected LcmdError code, or { code, names }: the code, and what the message (API) or stderr
   * (CLI) must name (a flag, a tensor), computed once the fixtures exist.
   */
  expect: Record<string, string | Named>;
}

interface Named {
  code: string;
  names: () => RegExp;
}

/** How an input is used: an API call (code in the child) or a command line (run in the case folder). */
interface Context {
  api?: string;
  cli?: () => string[];
}

const CONTEXTS: Record<string, Context> = {
  readNpy: { api: "const r = await lib.readNpy(path.join(dir, 'x.npy')); r.tensor.dispose();" },
  dataset: { api: "const d = await lib.TokenDataset.open({ tokens: path.join(dir, 'x.npy'), batchSize: 1 }); d.dispose();" },
  train: { cli: () => ['train', ...M, '--batch-size', '2', '--data', 'x.npy', '--out', 'run'] },
  eval: { cli: () => ['eval', '--checkpoint', fx.checkpoint, '--data', 'x.npy', '--importance-samples', '1'] },
  decode: { cli: () => ['tokenize', 'decode', '--tokenizer', fx.tokenizer, '--tokens', 'x.npy', '--out', 'g.png'] },
  labels: { cli: () => ['train', ...M, '--batch-size', '2', '--data', 't.npy', '--labels', 'x.npy', '--out', 'run'] },
  datasetClasses: { api: "const d = await lib.TokenDataset.open({ tokens: path.join(dir, 't.npy'), labels: path.join(dir, 'x.npy'), batchSize: 1, numClasses: 10 }); d.dispose();" },
  datasetLabels: { api: "const d = await lib.TokenDataset.open({ tokens: path.join(dir, 't.npy'), labels: path.join(dir, 'x.npy'), batchSize: 1 }); d.dispose();" },
  encodeNpy: { cli: () => ['tokenize', 'encode', '--tokenizer', fx.tokenizer, '--images', 'x.npy', '--out', 't.npy'] },
  imagesNpy: { api: "const s = await lib.loadImages(path.join(dir, 'x.npy')); s.images.dispose();" },
  loadModel: { api: "(await lib.Model.load(path.join(dir, 'ck.safetensors'))).dispose();" },
  resumeTrainer: { api: "(await lib.Trainer.resume(path.join(dir, 'ck.safetensors'))).dispose();" },
  sample: { cli: () => ['sample', '--checkpoint', 'ck.safetensors', '--out', 's.npy', '-n', '2', '--steps', '2'] },
  evalCheckpoint: { cli: () => ['eval', '--checkpoint', 'ck.safetensors', '--data', fx.tokens, '--importance-samples', '1'] },
  resume: { cli: () => ['train', '--resume', 'ck.safetensors', '--steps', '3', '--no-blas-check'] },
  loadTokenizer: { api: "(await lib.Tokenizer.load(path.join(dir, 'tok.safetensors'))).dispose();" },
  decodeWith: { cli: () => ['tokenize', 'decode', '--tokenizer', 'tok.safetensors', '--tokens', fx.tokens, '--out', 'g.png'] },
  sampleWith: { cli: () => ['sample', '--checkpoint', fx.checkpoint, '--tokenizer', 'tok.safetensors', '--grid', 'g.png', '-n', '1', '--steps', '1'] },
  images: { api: "const s = await lib.loadImages(path.join(dir, 'imgs')); s.images.dispose();" },
  tokenizeTrain: { cli: () => ['tokenize', 'train', '--images', 'imgs', '--out', 'tok.safetensors', '--steps', '1', '--batch-size', '1', '--codebook-size', '16', '--code-dim', '4', '--hidden-channels', '8'] },
  encodeImages: { cli: () => ['tokenize', 'encode', '--tokenizer', fx.tokenizer, '--images', 'imgs', '--out', 't.npy'] },
};

const npy = (parts: Parameters<typeof npyBytes>[0]) => () => ({ 'x.npy': npyBytes(parts) });
const GOOD_BODY = int32s([0, 1, 2, 3, 4, 5, 6, 7]);
const MALFORMED = { readNpy: 'E_DATA', dataset: 'E_DATA' };
/** The same, and through lcmd train --data (a few representatives run the command; the API covers every input). */
const MALFORMED_CLI = { ...MALFORMED, train: 'E_DATA' };

/** .npy files that are not valid .npy files. */
const NPY_INPUTS: Input[] = [
  { name: 'an empty file', files: () => ({ 'x.npy': Buffer.alloc(0) }), expect: { ...MALFORMED_CLI, eval: 'E_DATA' } },
  { name: 'the magic alone', files: () => ({ 'x.npy': npyBytes({ body: GOOD_BODY }).subarray(0, 6) }), expect: MALFORMED },
  { name: 'a wrong magic', files: npy({ magic: Buffer.from('\x93NUMPZ', 'latin1'), body: GOOD_BODY }), expect: { ...MALFORMED_CLI } },
  { name: 'a magic without \\x93', files: npy({ magic: Buffer.from('XNUMPY'), body: GOOD_BODY }), expect: MALFORMED },
  { name: 'text', files: () => ({ 'x.npy': 'id,token\n1,2\n' }), expect: MALFORMED },
  { name: 'version 0.0', files: npy({ major: 0, body: GOOD_BODY }), expect: MALFORMED },
  { name: 'version 4.0', files: npy({ major: 4, body: GOOD_BODY }), expect: MALFORMED_CLI },
  { name: 'a header length past the end', files: npy({ headerLength: 5000, body: GOOD_BODY }), expect: MALFORMED_CLI },
  { name: 'a header length of 0', files: npy({ header: '', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'a version 2 header length of 2^32 - 1', files: npy({ major: 2, headerLength: 0xffffffff, body: GOOD_BODY }), expect: MALFORMED },
  { name: 'a header that is not a dict', files: npy({ header: 'hello world'.padEnd(53) + '\n', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'an unterminated header', files: npy({ header: "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 4".padEnd(53) + '\n', body: GOOD_BODY }), expect: MALFORMED_CLI },
  { name: 'a header without descr', files: npy({ header: "{'fortran_order': False, 'shape': (2, 4), }".padEnd(117) + '\n', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'a header without shape', files: npy({ header: "{'descr': '<i4', 'fortran_order': False, }".padEnd(117) + '\n', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'a NUL in the header', files: npy({ header: "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 4), }\0".padEnd(117) + '\n', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'Fortran order', files: npy({ fortran: 'True', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'fortran_order neither True nor False', files: npy({ fortran: 'Maybe', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'big-endian int32', files: npy({ descr: '>i4', body: GOOD_BODY }), expect: { readNpy: 'E_DTYPE', dataset: 'E_DTYPE', train: 'E_DTYPE' } },
  { name: 'complex64', files: npy({ descr: '<c8', body: Buffer.concat([GOOD_BODY, GOOD_BODY]) }), expect: { readNpy: 'E_DTYPE', dataset: 'E_DTYPE' } },
  { name: 'object dtype', files: npy({ descr: '|O', body: Buffer.concat([GOOD_BODY, GOOD_BODY]) }), expect: { readNpy: 'E_DTYPE', dataset: 'E_DTYPE' } },
  { name: 'unicode strings', files: npy({ descr: '<U1', body: GOOD_BODY }), expect: { readNpy: 'E_DTYPE', dataset: 'E_DTYPE' } },
  { name: 'an unknown dtype', files: npy({ descr: 'zz9', body: GOOD_BODY }), expect: { readNpy: 'E_DTYPE', dataset: 'E_DTYPE', train: 'E_DTYPE' } },
  { name: 'a negative dimension', files: npy({ shape: '(-1, 4)', body: GOOD_BODY }), expect: MALFORMED_CLI },
  { name: 'a fractional dimension', files: npy({ shape: '(2.5, 4)', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'a shape of 2^40 x 2^20 with 32 bytes of data', files: npy({ shape: '(1099511627776, 1048576)', body: GOOD_BODY }), expect: { ...MALFORMED_CLI, decode: 'E_DATA' } },
  { name: 'a shape whose size overflows 64 bits', files: npy({ shape: '(4294967296, 4294967296, 4294967296)', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'a shape that is a list', files: npy({ shape: '[2, 4]', body: GOOD_BODY }), expect: MALFORMED },
  { name: 'data cut short', files: npy({ body: GOOD_BODY.subarray(0, 12) }), expect: { ...MALFORMED_CLI, decode: 'E_DATA' } },
  { name: 'data cut in the middle of an element', files: npy({ body: GOOD_BODY.subarray(0, 30) }), expect: MALFORMED },
  { name: 'more data than the shape holds', files: npy({ body: Buffer.concat([GOOD_BODY, GOOD_BODY]) }), expect: MALFORMED },
];

const tokens = (descr: string, shape: string, body: Buffer) => () => ({ 'x.npy': npyBytes({ descr, shape, body }) });
const ids = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

/** Valid .npy files that are not valid token grids. */
const TOKEN_INPUTS: Input[] = [
  { name: 'float32 tokens', files: tokens('<f4', '(4, 4, 4)', float32s(ids(64, (i) => i % 16))), expect: { dataset: 'E_DTYPE', train: 'E_DTYPE', eval: 'E_DTYPE', decode: 'E_DTYPE' } },
  { name: 'float64 tokens', files: tokens('<f8', '(4, 4, 4)', Buffer.alloc(64 * 8)), expect: { dataset: 'E_DTYPE' } },
  { name: 'bool tokens', files: tokens('|b1', '(4, 4, 4)', Buffer.alloc(64)), expect: { dataset: 'E_DTYPE' } },
  { name: 'a negative token id', files: tokens('<i4', '(4, 4, 4)', int32s(ids(64, (i) => (i === 37 ? -1 : i % 16)))), expect: { dataset: 'E_RANGE', train: 'E_RANGE', eval: 'E_RANGE' } },
  { name: 'int8 ids of -128', files: tokens('|i1', '(4, 4, 4)', Buffer.alloc(64, 0x80)), expect: { dataset: 'E_RANGE' } },
  { name: 'a token id of 1000 with K = 16', files: tokens('<i4', '(4, 4, 4)', int32s(ids(64, (i) => (i === 5 ? 1000 : i % 16)))), expect: { train: 'E_RANGE', decode: 'E_RANGE' } },
  { name: 'a token id of 2^31 - 1', files: tokens('<i4', '(4, 4, 4)', int32s(ids(64, (i) => (i === 0 ? 2147483647 : 1)))), expect: { eval: 'E_RANGE' } },
  { name: 'uint64 ids above 2^63', files: tokens('<u8', '(1, 2, 2)', Buffer.alloc(32, 0xff)), expect: { readNpy: 'E_RANGE', dataset: 'E_RANGE' } },
  { name: '1-D tokens', files: tokens('<i4', '(16,)', int32s(ids(16, (i) => i))), expect: { dataset: 'E_SHAPE', train: 'E_SHAPE' } },
  { name: '4-D tokens', files: tokens('<i4', '(2, 2, 2, 2)', int32s(ids(16, (i) => i))), expect: { dataset: 'E_SHAPE', decode: 'E_SHAPE' } },
  { name: 'a scalar', files: tokens('<i4', '()', int32s([3])), expect: { dataset: 'E_SHAPE' } },
  // eval names the expected shape [n, H, W] with n > 0 (E_SHAPE); training says the file holds no examples (E_DATA)
  { name: 'no examples', files: tokens('<i4', '(0, 4, 4)', Buffer.alloc(0)), expect: { dataset: 'E_DATA', train: 'E_DATA', eval: 'E_SHAPE' } },
  { name: 'grids 0 tokens wide', files: tokens('<i4', '(4, 4, 0)', Buffer.alloc(0)), expect: { dataset: 'E_SHAPE', train: 'E_SHAPE' } },
  { name: 'grids of another size than the model', files: tokens('<i4', '(4, 2, 2)', int32s(ids(16, (i) => i))), expect: { eval: 'E_SHAPE' } },
];

const labelFiles = (x: Buffer) => () => ({ 'x.npy': x, 't.npy': tokenNpy(4, 4, 4, 16) });

/** Label files that do not fit the tokens (4 examples). */
const LABEL_INPUTS: Input[] = [
  { name: 'float labels', files: labelFiles(npyBytes({ descr: '<f4', shape: '(4,)', body: float32s([0, 1, 0, 1]) })), expect: { datasetLabels: 'E_DTYPE' } },
  { name: 'a negative label', files: labelFiles(labelNpy([0, -1, 0, 1])), expect: { labels: 'E_RANGE', datasetLabels: 'E_RANGE' } },
  { name: 'fewer labels than examples', files: labelFiles(labelNpy([0, 1])), expect: { labels: 'E_SHAPE', datasetLabels: 'E_SHAPE' } },
  { name: '2-D labels', files: labelFiles(npyBytes({ descr: '<i8', shape: '(4, 1)', body: Buffer.alloc(32) })), expect: { datasetLabels: 'E_SHAPE' } },
  { name: 'a truncated label file', files: labelFiles(labelNpy([0, 1, 0, 1]).subarray(0, 90)), expect: { datasetLabels: 'E_DATA' } },
  { name: 'a label of 2^40', files: labelFiles(labelNpy([0, 1, 2 ** 40, 1])), expect: { datasetClasses: 'E_RANGE', labels: { code: 'E_RANGE', names: () => /--labels/ } } },
];

/** Image .npy files that are not images (lcmd tokenize encode --images). */
const IMAGE_NPY_INPUTS: Input[] = [
  { name: 'int32 images', files: tokens('<i4', '(2, 16, 16)', Buffer.alloc(2 * 256 * 4)), expect: { imagesNpy: 'E_DTYPE', encodeNpy: 'E_DTYPE' } },
  { name: 'float images above 1', files: tokens('<f4', '(1, 1, 2, 2)', float32s([0, 0.5, 1, 2])), expect: { imagesNpy: 'E_RANGE', encodeNpy: 'E_RANGE' } },
  { name: 'NaN pixels', files: tokens('<f4', '(1, 1, 2, 2)', float32s([0, NaN, 1, 0])), expect: { imagesNpy: 'E_RANGE' } },
  { name: 'float images with 2 channels', files: tokens('<f4', '(1, 2, 2, 2)', Buffer.alloc(32)), expect: { imagesNpy: 'E_SHAPE' } },
  { name: 'uint8 images with 5 channels', files: tokens('|u1', '(1, 2, 2, 5)', Buffer.alloc(20)), expect: { imagesNpy: 'E_SHAPE' } },
  { name: 'a truncated image file', files: () => ({ 'x.npy': npyBytes({ descr: '|u1', shape: '(2, 16, 16)', body: Buffer.alloc(100) }) }), expect: { imagesNpy: 'E_DATA' } },
];

// .safetensors files made from the fixtures' real bytes, changed one way each

type Header = Record<string, Record<string, unknown>>;
const ck = (change: (h: Header, data: Buffer) => Buffer) => () => {
  const { header, data } = parseSafetensors(fx.checkpointBytes);
  return { 'ck.safetensors': change(cloneHeader(header), Buffer.from(data)) };
};
const ckHeader = (change: (h: Header) => void) =>
  ck((h, data) => {
    change(h);
    return safetensorsBytes(h, data);
  });
const ckBytes = (make: (bytes: Buffer) => Buffer) => () => ({ 'ck.safetensors': make(Buffer.from(fx.checkpointBytes)) });
const BAD_CHECKPOINT = { loadModel: 'E_CHECKPOINT', resumeTrainer: 'E_CHECKPOINT' };
/** Representatives also go through a command: sample, eval or train --resume. */
const BAD_CHECKPOINT_SAMPLE = { ...BAD_CHECKPOINT, sample: 'E_CHECKPOINT' };
const BAD_CHECKPOINT_EVAL = { ...BAD_CHECKPOINT, evalCheckpoint: 'E_CHECKPOINT' };
const BAD_CHECKPOINT_RESUME = { ...BAD_CHECKPOINT, resume: 'E_CHECKPOINT' };
const offsets = (h: Header, name: string) => h[name].data_offsets as [number, number];
/** The tensor that the weight-corrupting cases change (an EMA weight, which Model.load reads by default). */
const corruptedTensor = () => new RegExp(`'${firstFloatTensor(parseSafetensors(fx.checkpointBytes).header).replace(/[.]/g, '\\.')}'`);
/** A weight of the wrong dtype or not finite: E_CHECKPOINT naming the tensor, through the API and every command. */
const BAD_WEIGHT = Object.fromEntries(['loadModel', 'resumeTrainer', 'sample', 'evalCheckpoint', 'resume'].map((c) => [c, { code: 'E_CHECKPOINT', names: corruptedTensor }]));

const CHECKPOINT_INPUTS: Input[] = [
  { name: 'an empty file', files: ckBytes(() => Buffer.alloc(0)), expect: BAD_CHECKPOINT_SAMPLE },
  { name: '4 bytes', files: ckBytes((b) => b.subarray(0, 4)), expect: BAD_CHECKPOINT },
  { name: 'the length field alone', files: ckBytes((b) => b.subarray(0, 8)), expect: BAD_CHECKPOINT },
  { name: 'a header cut in the middle', files: ckBytes((b) => b.subarray(0, 8 + 40)), expect: BAD_CHECKPOINT_SAMPLE },
  { name: 'the header without data', files: ckBytes((b) => b.subarray(0, 8 + Number(b.readBigUInt64LE(0)))), expect: BAD_CHECKPOINT },
  { name: 'data cut in the middle', files: ckBytes((b) => b.subarray(0, Math.floor(b.length / 2))), expect: BAD_CHECKPOINT_EVAL },
  { name: 'the last byte missing', files: ckBytes((b) => b.subarray(0, b.length - 1)), expect: BAD_CHECKPOINT_RESUME },
  { name: 'a header length past the end', files: ckBytes((b) => (b.writeBigUInt64LE(BigInt(b.length)), b)), expect: BAD_CHECKPOINT },
  { name: 'a header length of 2^63', files: ckBytes((b) => (b.writeBigUInt64LE(2n ** 63n), b)), expect: BAD_CHECKPOINT },
  { name: 'a header length of 0', files: ckBytes((b) => (b.writeBigUInt64LE(0n), b)), expect: BAD_CHECKPOINT },
  { name: 'a header that is not JSON', files: ckBytes((b) => (b.write('x', 8), b)), expect: BAD_CHECKPOINT_SAMPLE },
  { name: 'a header that is a JSON array', files: ck((h, data) => safetensorsBytes([h], data)), expect: BAD_CHECKPOINT },
  { name: 'a header that is a JSON string', files: ck((h, data) => safetensorsBytes('checkpoint', data)), expect: BAD_CHECKPOINT },
  { name: 'random bytes', files: ckBytes((b) => Buffer.from(b.map((_, i) => (i * 2654435761) >>> 24))), expect: BAD_CHECKPOINT },
  { name: 'a .npy file', files: () => ({ 'ck.safetensors': tokenNpy(2, 4, 4, 16) }), expect: BAD_CHECKPOINT_EVAL },
  { name: 'offsets past the end of the data', files: ckHeader((h) => { const n = tensorNames(h)[0]; const [a, b] = offsets(h, n); h[n].data_offsets = [a + 1e6, b + 1e6]; }), expect: BAD_CHECKPOINT_SAMPLE },
  { name: 'offsets that end before they begin', files: ckHeader((h) => { const n = tensorNames(h)[0]; const [a, b] = offsets(h, n); h[n].data_offsets = [b, a]; }), expect: BAD_CHECKPOINT },
  { name: 'offsets that do not match the shape', files: ckHeader((h) => { const n = firstFloatTensor(h); const [a, b] = offsets(h, n); h[n].data_offsets = [a, b - 4]; }), expect: BAD_CHECKPOINT },
  { name: 'negative offsets', files: ckHeader((h) => { const n = tensorNames(h)[0]; h[n].data_offsets = [-8, 0]; }), expect: BAD_CHECKPOINT },
  { name: 'two tensors on the same bytes', files: ckHeader((h) => { const [a, b] = tensorNames(h); h[b].data_offsets = h[a].data_offsets; h[b].shape = h[a].shape; h[b].dtype = h[a].dtype; }), expect: BAD_CHECKPOINT },
  { name: 'an unknown dtype', files: ckHeader((h) => { h[firstFloatTensor(h)].dtype = 'X9'; }), expect: BAD_CHECKPOINT_SAMPLE },
  { name: 'F64 for an F32 tensor (another byte size)', files: ckHeader((h) => { h[firstFloatTensor(h)].dtype = 'F64'; }), expect: BAD_CHECKPOINT },
  { name: 'a negative dimension', files: ckHeader((h) => { const n = firstFloatTensor(h); h[n].shape = [-1, ...(h[n].shape as number[]).slice(1)]; }), expect: BAD_CHECKPOINT },
  { name: 'a weight flattened (same bytes)', files: ckHeader((h) => { const n = firstFloatMatrix(h); const s = h[n].shape as number[]; h[n].shape = [s[0] * s[1]]; }), expect: BAD_CHECKPOINT },
  { name: 'a weight transposed (same bytes)', files: ckHeader((h) => { const n = firstFloatMatrix(h); const s = h[n].shape as number[]; h[n].shape = [s[1], s[0]]; }), expect: BAD_CHECKPOINT },
  { name: 'a missing tensor', files: ckHeader((h) => { delete h[firstFloatTensor(h)]; }), expect: BAD_CHECKPOINT_SAMPLE },
  { name: 'a renamed tensor', files: ckHeader((h) => { const n = firstFloatTensor(h); h[`${n}.renamed`] = h[n]; delete h[n]; }), expect: BAD_CHECKPOINT_EVAL },
  { name: 'no metadata', files: ckHeader((h) => { delete h.__metadata__; }), expect: BAD_CHECKPOINT_RESUME },
  { name: "a tokenizer's lcmd.format", files: ckHeader((h) => { h.__metadata__['lcmd.format'] = 'tokenizer'; }), expect: BAD_CHECKPOINT_SAMPLE },
  { name: 'a model config that is not JSON', files: ckHeader((h) => { h.__metadata__['lcmd.model'] = '{layers: 1'; }), expect: BAD_CHECKPOINT_RESUME },
  { name: 'a model config with more layers than the weights', files: ckHeader((h) => { const m = JSON.parse(h.__metadata__['lcmd.model'] as string) as Record<string, unknown>; m.layers = 3; h.__metadata__['lcmd.model'] = JSON.stringify(m); }), expect: BAD_CHECKPOINT_SAMPLE },
  { name: 'a model config with an unknown key', files: ckHeader((h) => { const m = JSON.parse(h.__metadata__['lcmd.model'] as string) as Record<string, unknown>; m.wings = 2; h.__metadata__['lcmd.model'] = JSON.stringify(m); }), expect: BAD_CHECKPOINT },
  { name: 'a metadata value that is a number', files: ckHeader((h) => { h.__metadata__['lcmd.model'] = 42; }), expect: BAD_CHECKPOINT },
  { name: 'I32 for an F32 tensor of the same byte size', files: ckHeader((h) => { h[firstFloatTensor(h)].dtype = 'I32'; }), expect: BAD_WEIGHT },
  { name: 'NaN weights', files: ck((h, data) => { const [a] = offsets(h, firstFloatTensor(h)); data.writeFloatLE(NaN, a); return safetensorsBytes(h, data); }), expect: BAD_WEIGHT },
  { name: 'infinite weights', files: ck((h, data) => { const [a] = offsets(h, firstFloatTensor(h)); data.writeFloatLE(-Infinity, a + 4); return safetensorsBytes(h, data); }), expect: BAD_WEIGHT },
  { name: 'a tokenizer instead of a checkpoint', files: () => ({ 'ck.safetensors': fx.tokenizerBytes }), expect: BAD_CHECKPOINT_SAMPLE },
];

const tok = (change: (h: Header, data: Buffer) => Buffer) => () => {
  const { header, data } = parseSafetensors(fx.tokenizerBytes);
  return { 'tok.safetensors': change(cloneHeader(header), Buffer.from(data)) };
};
const tokHeader = (change: (h: Header) => void) =>
  tok((h, data) => {
    change(h);
    return safetensorsBytes(h, data);
  });
const BAD_TOKENIZER = { loadTokenizer: 'E_CHECKPOINT' };
const BAD_TOKENIZER_DECODE = { ...BAD_TOKENIZER, decodeWith: 'E_CHECKPOINT' };
const BAD_TOKENIZER_SAMPLE = { ...BAD_TOKENIZER, sampleWith: 'E_CHECKPOINT' };

const TOKENIZER_INPUTS: Input[] = [
  { name: 'an empty file', files: () => ({ 'tok.safetensors': Buffer.alloc(0) }), expect: BAD_TOKENIZER },
  { name: 'a truncated file', files: () => ({ 'tok.safetensors': fx.tokenizerBytes.subarray(0, fx.tokenizerBytes.length - 10) }), expect: BAD_TOKENIZER_DECODE },
  { name: 'a header that is not JSON', files: () => { const b = Buffer.from(fx.tokenizerBytes); b.write('}', 8); return { 'tok.safetensors': b }; }, expect: BAD_TOKENIZER_SAMPLE },
  { name: 'no codebook', files: tokHeader((h) => { delete h['codebook.embedding']; }), expect: BAD_TOKENIZER_DECODE },
  { name: 'a codebook of another dtype', files: tokHeader((h) => { h['codebook.embedding'].dtype = 'F64'; }), expect: BAD_TOKENIZER },
  { name: 'a config that is not JSON', files: tokHeader((h) => { const key = Object.keys(h.__metadata__).find((k) => k !== 'lcmd.format' && k.includes('config'))!; h.__metadata__[key] = '{'; }), expect: BAD_TOKENIZER },
  { name: 'a config with another codebook size', files: tokHeader((h) => { const key = Object.keys(h.__metadata__).find((k) => k !== 'lcmd.format' && k.includes('config'))!; const c = JSON.parse(h.__metadata__[key] as string) as Record<string, unknown>; c.codebookSize = 32; h.__metadata__[key] = JSON.stringify(c); }), expect: BAD_TOKENIZER_SAMPLE },
  { name: 'a codebook of another shape', files: tokHeader((h) => { const s = h['codebook.embedding'].shape as number[]; h['codebook.embedding'].shape = [s[1], s[0]]; }), expect: BAD_TOKENIZER },
  { name: 'a checkpoint instead of a tokenizer', files: () => ({ 'tok.safetensors': fx.checkpointBytes }), expect: BAD_TOKENIZER_DECODE },
  // a tokenizer's tensors and config under a header that does not say "lcmd.format": "tokenizer" (they used to load)
  { name: 'no lcmd.format', files: tokHeader((h) => { delete h.__metadata__['lcmd.format']; }), expect: { loadTokenizer: { code: 'E_CHECKPOINT', names: () => /lcmd\.format/ }, decodeWith: 'E_CHECKPOINT' } },
  { name: "a checkpoint's lcmd.format", files: tokHeader((h) => { h.__metadata__['lcmd.format'] = 'lcmd-checkpoint/1'; }), expect: { loadTokenizer: { code: 'E_CHECKPOINT', names: () => /lcmd-checkpoint\/1/ }, sampleWith: 'E_CHECKPOINT' } },
];

const BAD_FOLDER = { images: 'E_DATA' };
const BAD_FOLDER_TRAIN = { ...BAD_FOLDER, tokenizeTrain: 'E_DATA' };
const BAD_FOLDER_ENCODE = { ...BAD_FOLDER, encodeImages: 'E_DATA' };

/** PNG folders that do not hold a set of images. */
const PNG_INPUTS: Input[] = [
  { name: 'an empty folder', files: () => ({ imgs: null }), expect: BAD_FOLDER_TRAIN },
  { name: 'only other files', files: () => ({ imgs: null, 'imgs/a.txt': 'x', 'imgs/b.jpg': 'y' }), expect: BAD_FOLDER },
  { name: 'text named .png', files: () => ({ imgs: null, 'imgs/a.png': 'not a png' }), expect: BAD_FOLDER_ENCODE },
  { name: 'an empty .png', files: () => ({ imgs: null, 'imgs/a.png': Buffer.alloc(0) }), expect: BAD_FOLDER },
  { name: 'a truncated PNG', files: () => ({ imgs: null, 'imgs/a.png': pngBytes(16, 16).subarray(0, 40) }), expect: BAD_FOLDER_ENCODE },
  { name: 'a PNG with a bad checksum', files: () => { const b = Buffer.from(pngBytes(16, 16)); b[30] ^= 0xff; return { imgs: null, 'imgs/a.png': b }; }, expect: BAD_FOLDER },
  { name: 'mixed sizes', files: () => ({ imgs: null, 'imgs/a.png': pngBytes(16, 16), 'imgs/b.png': pngBytes(8, 8) }), expect: BAD_FOLDER_TRAIN },
  { name: 'one broken file among good ones', files: () => ({ imgs: null, 'imgs/a.png': pngBytes(16, 16), 'imgs/b.png': pngBytes(16, 16).subarray(0, 60) }), expect: BAD_FOLDER },
  { name: 'a PNG claiming 100000 x 100000 pixels', files: () => ({ imgs: null, 'imgs/a.png': pngClaiming(100000, 100000) }), expect: BAD_FOLDER_TRAIN },
  { name: 'a PNG claiming 0 x 0 pixels', files: () => ({ imgs: null, 'imgs/a.png': pngClaiming(0, 0) }), expect: BAD_FOLDER },
  { name: 'a folder named .png', files: () => ({ imgs: null, 'imgs/a.png': null }), expect: { images: 'E_IO', encodeImages: 'E_IO' } },
];

const ALL_INPUTS: [string, Input[]][] = [
  ['npy', NPY_INPUTS],
  ['tokens', TOKEN_INPUTS],
  ['labels', LABEL_INPUTS],
  ['image npy', IMAGE_NPY_INPUTS],
  ['checkpoint', CHECKPOINT_INPUTS],
  ['tokenizer', TOKENIZER_INPUTS],
  ['png folder', PNG_INPUTS],
];

// ---- running them -----------------------------------------------------------------------------------------------

/** undefined when `text` (the message, or stderr) matches what the case must name; otherwise what is missing. */
function named(text: string, names: (() => RegExp) | undefined): string | undefined {
  const pattern = names?.();
  return pattern === undefined || pattern.test(text) ? undefined : `the error does not name ${pattern}: ${text}`;
}

interface Run {
  id: string;
  dir: string;
  input: Input;
  context: Context;
  code: string;
  names?: () => RegExp;
  before?: string[];
  outcome?: string;
}

const runs: Run[] = [];
for (const [group, inputs] of ALL_INPUTS) {
  for (const input of inputs) {
    for (const [contextName, expected] of Object.entries(input.expect)) {
      const context = CONTEXTS[contextName];
      if (!context) throw new Error(`no context ${contextName}`);
      const id = `${group}: ${input.name} -> ${contextName}`;
      const dir = path.join(root, 'cases', String(runs.length));
      runs.push(typeof expected === 'string' ? { id, dir, input, context, code: expected } : { id, dir, input, context, code: expected.code, names: expected.names });
    }
  }
}

let fixturesBefore: string[] = [];

beforeAll(async () => {
  fs.mkdirSync(fx.dir);
  fx.tokens = path.join(fx.dir, 'tokens.npy');
  writeNpyFile(fx.tokens, ids(32 * 16, (i) => (i * 5 + 1) % 16), [32, 4, 4], '<i4');
  const trained = await runCli(['train', ...M, '--batch-size', '16', '--data', fx.tokens, '--out', path.join(fx.dir, 'run')]);
  if (trained.status !== 0) throw new Error(`the fixture checkpoint could not be trained: ${trained.stderr}`);
  fx.checkpoint = path.join(fx.dir, 'run', 'checkpoint.safetensors');
  fx.checkpointBytes = fs.readFileSync(fx.checkpoint);
  // 16x16 images <-> 4x4 grids of K = 16 tokens, the checkpoint's K
  const tokenizer = Tokenizer.create({ codebookSize: 16, downsample: 4, codeDim: 4, hiddenChannels: 8, inChannels: 1 }, { seed: 1 });
  fx.tokenizer = path.join(fx.dir, 'tok.safetensors');
  await tokenizer.save(fx.tokenizer);
  tokenizer.dispose();
  fx.tokenizerBytes = fs.readFileSync(fx.tokenizer);
  fixturesBefore = snapshot(fx.dir);

  const live = runs;
  for (const r of live) {
    fs.mkdirSync(r.dir, { recursive: true });
    writeTree(r.dir, r.input.files());
    r.before = snapshot(r.dir);
  }
  const apiRuns = live.filter((r) => r.context.api);
  const results = runApiCases(apiRuns.map((r): ApiCase => ({ id: r.id, dir: r.dir, code: r.context.api! })), root, 60000);
  for (const r of apiRuns) {
    const result = results.get(r.id);
    r.outcome = apiOutcome(result, r.code) ?? named(result?.message ?? '', r.names);
  }
  const cliRuns = live.filter((r) => r.context.cli);
  await pool(
    cliRuns.map((r) => async () => {
      const result = await runCliTimed(r.context.cli!(), { cwd: r.dir, timeoutMs: 30000 });
      r.outcome = cliOutcome(result, { code: r.code } as CliExpectation) ?? named(result.stderr, r.names);
    }),
    3,
  );
}, 240000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe.each(ALL_INPUTS.map(([group]) => group))('%s', (group) => {
  for (const r of runs.filter((run) => run.id.startsWith(`${group}: `))) {
    test(`${r.id} is ${r.code}, leaves nothing behind`, () => {
      expect(r.outcome).toBeUndefined();
      expect(snapshot(r.dir)).toEqual(r.before);
    });
  }
});

test('the fixtures are unchanged, and there are at least 150 cases', () => {
  expect(snapshot(fx.dir)).toEqual(fixturesBefore);
  expect(runs.length).toBeGreaterThanOrEqual(150);
});
