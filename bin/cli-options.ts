/**
 * Flag parsers and checks for the command line. The parsers plug into commander's `.option(flag, text, parser)`:
 * a bad value throws InvalidArgumentError, which commander reports as
 *   error: option '--lr <x>' argument '-1' is invalid. expected a number > 0, got -1.
 * and exits with code 1. The checks that need more than one flag throw an E_USAGE LcmdError (exit code 2).
 */
import { InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import { LcmdError } from '../lib/errors';

export type Parser<T> = (value: string) => T;

const INTEGER = /^\s*[+-]?\d+\s*$/;
const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

function quote(value: string): string {
  return JSON.stringify(value);
}

/** An integer in [min, max]. */
export function integerIn(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (value) => {
    const n = Number(value);
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    if (!INTEGER.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer ${range}, got ${quote(value)}.`);
    }
    return n;
  };
}

export const positiveInt: Parser<number> = integerIn(1);
export const nonNegativeInt: Parser<number> = integerIn(0);

export interface NumberRange {
  min?: number;
  max?: number;
  /** whether min itself is allowed (default true) */
  minInclusive?: boolean;
  maxInclusive?: boolean;
}

function describeRange(r: NumberRange): string {
  const lo = r.min === undefined ? undefined : `${r.minInclusive === false ? '>' : '>='} ${r.min}`;
  const hi = r.max === undefined ? undefined : `${r.maxInclusive === false ? '<' : '<='} ${r.max}`;
  if (r.min !== undefined && r.max !== undefined) {
    return `in ${r.minInclusive === false ? '(' : '['}${r.min}, ${r.max}${r.maxInclusive === false ? ')' : ']'}`;
  }
  return lo ?? hi ?? '';
}

/** A finite number within a range (both ends optional, inclusive unless said otherwise). */
export function numberIn(range: NumberRange = {}): Parser<number> {
  return (value) => {
    const n = Number(value);
    const { min, max } = range;
    const ok =
      NUMBER.test(value) &&
      Number.isFinite(n) &&
      (min === undefined || (range.minInclusive === false ? n > min : n >= min)) &&
      (max === undefined || (range.maxInclusive === false ? n < max : n <= max));
    const where = describeRange(range);
    if (!ok) throw new InvalidArgumentError(`expected a number${where ? ` ${where}` : ''}, got ${quote(value)}.`);
    return n;
  };
}

export const positiveNumber: Parser<number> = numberIn({ min: 0, minInclusive: false });
export const nonNegativeNumber: Parser<number> = numberIn({ min: 0 });
/** An EMA rate or probability in [0, 1). */
export const unitInterval: Parser<number> = numberIn({ min: 0, max: 1, maxInclusive: false });
export const probability: Parser<number> = numberIn({ min: 0, max: 1 });

/** One of a fixed set of words. */
export function oneOf<T extends string>(choices: readonly T[]): Parser<T> {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got ${quote(value)}.`);
    }
    return value as T;
  };
}

/** 'cpu', 'cuda' or 'cuda:N'. Whether CUDA is present is checked when the command runs. */
export const device: Parser<string> = (value) => {
  if (!/^(cpu|cuda(:\d+)?)$/.test(value)) throw new InvalidArgumentError(`expected cpu, cuda or cuda:N, got ${quote(value)}.`);
  return value;
};

/** A TCP port. */
export const port: Parser<number> = integerIn(1, 65535);

/** A file that exists (not a folder). */
export const existingFile: Parser<string> = (value) => {
  if (value.trim() === '') throw new InvalidArgumentError('expected a file path, got an empty string.');
  if (!fs.existsSync(value)) throw new InvalidArgumentError(`file ${quote(value)} does not exist.`);
  if (!fs.statSync(value).isFile()) throw new InvalidArgumentError(`${quote(value)} is not a file.`);
  return value;
};

/** A path to write a file to: not an existing folder. Its folder is created when the file is written. */
export const outputFile: Parser<string> = (value) => {
  if (value.trim() === '') throw new InvalidArgumentError('expected a file path, got an empty string.');
  if (fs.existsSync(value) && fs.statSync(value).isDirectory()) throw new InvalidArgumentError(`${quote(value)} is a folder; expected a file path.`);
  return value;
};

/** A folder to write into: not an existing file. */
export const outputFolder: Parser<string> = (value) => {
  if (value.trim() === '') throw new InvalidArgumentError('expected a folder path, got an empty string.');
  if (fs.existsSync(value) && !fs.statSync(value).isDirectory()) throw new InvalidArgumentError(`${quote(value)} is a file; expected a folder.`);
  return value;
};

/** A comma-separated list, each item parsed by `item`. */
export function listOf<T>(item: Parser<T>, what = 'a comma-separated list'): Parser<T[]> {
  return (value) => {
    const parts = value.split(',').map((p) => p.trim());
    if (value.trim() === '' || parts.some((p) => p === '')) throw new InvalidArgumentError(`expected ${what}, got ${quote(value)}.`);
    return parts.map((p) => {
      try {
        return item(p);
      } catch (err) {
        throw new InvalidArgumentError(`in ${quote(value)}: ${(err as Error).message}`);
      }
    });
  };
}

/** `--classes`: 'all' or a comma-separated list of non-negative class ids. */
export const classList: Parser<number[] | 'all'> = (value) => (value.trim() === 'all' ? 'all' : listOf(nonNegativeInt, "'all' or a comma-separated list of class ids")(value));

/** Throws E_USAGE (a mistake in how the command was called). */
export function usage(condition: unknown, message: string): asserts condition {
  if (!condition) throw new LcmdError(message, 'E_USAGE');
}
