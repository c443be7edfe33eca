/**
 * Refusing to destroy data: an output path that already holds a file of another kind (a checkpoint where a .npy
 * would go, a tokenizer where a checkpoint would go) or that is one of the command's own inputs is E_USAGE naming
 * the flag, unless the caller passes `force` (the commands' --force). A file of the same kind, an empty file, or
 * nothing at all may be written. Kinds come from the content, not the name: the .npy and PNG magic bytes, and the
 * "lcmd.format" entry of a .safetensors header.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LcmdError } from './errors';
import { checkWritable } from './folders';

export type FileKind = 'checkpoint' | 'tokenizer' | 'scorer' | 'safetensors' | 'npy' | 'png' | 'svg' | 'json' | 'empty' | 'other';

const KIND_NAMES: Record<FileKind, string> = {
  checkpoint: 'an lcmd training checkpoint',
  tokenizer: 'an lcmd tokenizer',
  scorer: 'an lcmd scorer',
  safetensors: 'a .safetensors file',
  npy: 'a .npy array',
  png: 'a PNG image',
  svg: 'an SVG picture',
  json: 'a JSON file',
  empty: 'an empty file',
  other: 'a file of another kind',
};

/** The "lcmd.format" values the native writers put in their .safetensors headers. */
const FORMATS: Record<string, FileKind> = { 'lcmd-checkpoint/1': 'checkpoint', tokenizer: 'tokenizer', scorer: 'scorer' };

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Headers larger than this are not read to find the kind (a real one is a few kilobytes). */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = fs.readSync(fd, buf, 0, length, offset);
  return buf.subarray(0, n);
}

/** The kind of a .safetensors file from its JSON header, or undefined when the bytes are not one. */
function safetensorsKind(fd: number, size: number, head: Buffer): FileKind | undefined {
  if (head.length < 9) return undefined;
  const length = Number(head.readBigUInt64LE(0));
  if (length < 2 || length > MAX_HEADER_BYTES || 8 + length > size || head[8] !== 0x7b) return undefined;
  try {
    const header = JSON.parse(readAt(fd, 8, length).toString('utf8')) as { __metadata__?: Record<string, unknown> };
    const format = header.__metadata__?.['lcmd.format'];
    return (typeof format === 'string' && FORMATS[format]) || 'safetensors';
  } catch {
    return undefined;
  }
}

/** What an existing file holds, judged by its content. */
export function fileKind(file: string): FileKind {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return 'empty';
    const head = readAt(fd, 0, 512);
    if (head.subarray(0, 6).equals(NPY_MAGIC)) return 'npy';
    if (head.subarray(0, 8).equals(PNG_MAGIC)) return 'png';
    const st = safetensorsKind(fd, size, head);
    if (st) return st;
    const text = head.toString('utf8');
    if (/^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>]/.test(text)) return 'svg';
    if (/^\s*[[{]/.test(text) && size <= MAX_HEADER_BYTES) {
      try {
        JSON.parse(fs.readFileSync(fd, 'utf8'));
        return 'json';
      } catch {
        return 'other';
      }
    }
    return 'other';
  } finally {
    fs.closeSync(fd);
  }
}

export function kindName(kind: FileKind): string {
  return KIND_NAMES[kind];
}

/** Whether two paths name the same existing file (hard and symbolic links included). */
function sameFile(a: string, b: string): boolean {
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

export interface OutputTarget {
  /** the option that names the output, e.g. '--out' */
  flag: string;
  /** what the command writes there */
  kind: FileKind;
  /** the command's input files, by flag; an output may not be one of them */
  inputs?: { flag: string; path?: string }[];
  /** --force: replace whatever file is there */
  force?: boolean;
}

const FORCE_HINT = 'choose another path, or add --force to replace it';

/** E_USAGE unless `file` may be written as `target.kind` (see the file comment). Folders are always refused. */
export function checkOutputTarget(file: string, target: OutputTarget): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return; // nothing there (or an unreachable path, which the write check reports)
  }
  if (stat.isDirectory()) throw new LcmdError(`${target.flag} ${file} is a folder; give a file path`, 'E_USAGE');
  if (target.force) return;
  for (const input of target.inputs ?? []) {
    if (input.path && sameFile(file, input.path)) {
      throw new LcmdError(`${target.flag} ${file} is the same file as ${input.flag}, which this command reads: writing it would destroy the input; ${FORCE_HINT}`, 'E_USAGE');
    }
  }
  let kind: FileKind;
  try {
    kind = fileKind(file);
  } catch {
    kind = 'other'; // unreadable: do not replace what cannot be checked
  }
  if (kind === target.kind || kind === 'empty') return;
  throw new LcmdError(`${target.flag} ${file} already exists and is ${kindName(kind)}, not ${kindName(target.kind)}: refusing to overwrite it; ${FORCE_HINT}`, 'E_USAGE');
}

/** E_USAGE when two outputs of one command are the same path (the second would replace the first). */
export function checkDistinctOutputs(outputs: { flag: string; path?: string }[]): void {
  const given = outputs.filter((o): o is { flag: string; path: string } => Boolean(o.path));
  for (let i = 0; i < given.length; i++) {
    for (let j = i + 1; j < given.length; j++) {
      const a = given[i];
      const b = given[j];
      if (path.resolve(a.path) === path.resolve(b.path) || sameFile(a.path, b.path)) {
        throw new LcmdError(`${a.flag} and ${b.flag} name the same file ${a.path}; give each its own path`, 'E_USAGE');
      }
    }
  }
}

/** Before the work starts: `file` may be written as `target.kind` (checkOutputTarget) and its folder takes files. */
export function checkOutputFile(file: string, target: OutputTarget): void {
  checkOutputTarget(file, target);
  checkWritable(file, 'file', target.flag);
}
