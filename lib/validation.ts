/**
 * Checks of the values a caller passes in. Every message has one form: it names the option, what was expected and
 * what was received, e.g. "expected a positive integer for batchSize, got -3". A failed check throws an LcmdError,
 * E_RANGE unless the caller names another code (the launcher's flags are E_USAGE).
 */
import { check, type LcmdErrorCode } from './errors';

/** How a received value reads in a message: numbers as written, strings quoted, objects by kind and size. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value ? ` of length ${(value as { length: number }).length}` : '';
    return `a ${value.constructor.name}${length}`;
  }
  // a Tensor (recognised by its fields: lib/tensor.ts imports this module, so it cannot import Tensor back)
  const t = value as { dtype?: unknown; shape?: unknown };
  if (typeof t.dtype === 'string' && Array.isArray(t.shape)) return `a ${t.dtype} tensor of shape [${t.shape.join(', ')}]`;
  return 'an object';
}

/** The message of a failed check: "expected WHAT for NAME, got VALUE". */
export function expectedMessage(what: string, name: string, value: unknown): string {
  return `expected ${what} for ${name}, got ${describe(value)}`;
}

export function positiveInteger(value: unknown, name: string, code: LcmdErrorCode = 'E_RANGE'): asserts value is number {
  check(typeof value === 'number' && Number.isSafeInteger(value) && value > 0, code, () => expectedMessage('a positive integer', name, value));
}

export function nonNegativeInteger(value: unknown, name: string, code: LcmdErrorCode = 'E_RANGE'): asserts value is number {
  check(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0, code, () => expectedMessage('a non-negative integer', name, value));
}

/** An integer in [min, max]. */
export function integerInRange(value: unknown, name: string, min: number, max: number, code: LcmdErrorCode = 'E_RANGE'): asserts value is number {
  check(typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max, code, () => expectedMessage(`an integer in [${min}, ${max}]`, name, value));
}

/** A finite number > 0. */
export function positiveNumber(value: unknown, name: string, code: LcmdErrorCode = 'E_RANGE'): asserts value is number {
  check(typeof value === 'number' && Number.isFinite(value) && value > 0, code, () => expectedMessage('a positive number', name, value));
}

/**
 * The config keys the native core stores as integers (int64; train.seed as uint64). A number given for one must be
 * a safe integer: beyond 2^53 a double no longer holds every integer, and the native conversion of a value past
 * 2^63 (1e300) is undefined. The seed must also be non-negative: the native uint64 would wrap -3 to 2^64 - 3.
 */
const INTEGER_KEYS = new Set([
  'model.vocabSize', 'model.height', 'model.width', 'model.numClasses', 'model.embedDim', 'model.layers', 'model.heads',
  'model.hidden', 'model.mlpRatio', 'model.condDim', 'train.weightRampSteps', 'train.warmupSteps', 'train.totalSteps', 'train.seed',
]);
const NON_NEGATIVE_KEYS = new Set(['train.seed']);

/**
 * The values of a config section (`model` or `train`) must survive JSON.stringify on their way to the native
 * validator: NaN and Infinity would become null, and a null key takes the built-in default, silently replacing the
 * preset's value. So they, null, and bigints are E_CONFIG naming the key ("expected a finite number for
 * model.layers, got NaN"); so are numbers for integer keys that are not safe integers, and a negative train.seed.
 * Other types and ranges are the native validator's.
 */
export function checkConfigValues(values: Record<string, unknown>, section: string): void {
  for (const [key, value] of Object.entries(values)) {
    const name = `${section}.${key}`;
    if (value === undefined) continue;
    check(value !== null, 'E_CONFIG', () => `expected a value for ${name}, got null: leave the key out to keep the preset's value`);
    check(typeof value !== 'number' || Number.isFinite(value), 'E_CONFIG', () => expectedMessage('a finite number', name, value));
    check(typeof value !== 'bigint', 'E_CONFIG', () => `expected a number for ${name}, got the bigint ${String(value)}n`);
    check(typeof value !== 'function' && typeof value !== 'symbol', 'E_CONFIG', () => `expected a number, string or boolean for ${name}, got a ${typeof value}`);
    if (typeof value === 'number' && INTEGER_KEYS.has(name)) {
      check(Number.isInteger(value), 'E_CONFIG', () => expectedMessage('an integer', name, value));
      check(Number.isSafeInteger(value), 'E_CONFIG', () => expectedMessage(`an integer of magnitude at most 2^53 - 1 (${Number.MAX_SAFE_INTEGER})`, name, value));
      check(value >= 0 || !NON_NEGATIVE_KEYS.has(name), 'E_CONFIG', () => expectedMessage('a non-negative integer', name, value));
    }
  }
}
