/** Every failure lcmd reports, from TypeScript or native code, is an LcmdError with a stable `code`. */
export type LcmdErrorCode =
  | 'E_SHAPE'
  | 'E_DTYPE'
  | 'E_RANGE'
  | 'E_TYPE'
  | 'E_IO'
  | 'E_CONFIG'
  | 'E_CHECKPOINT'
  | 'E_DISPOSED'
  | 'E_NATIVE'
  | 'E_NATIVE_LOAD'
  | 'E_ABORTED'
  | 'E_DEVICE'
  | 'E_MEMORY'
  | 'E_DATA'
  | 'E_DISTRIBUTED'
  | 'E_USAGE';

export class LcmdError extends Error {
  readonly code: LcmdErrorCode;

  constructor(message: string, code: LcmdErrorCode) {
    super(message);
    this.name = 'LcmdError';
    this.code = code;
  }
}

/** Throws an LcmdError unless `condition` holds. */
export function check(condition: unknown, code: LcmdErrorCode, message: string | (() => string)): asserts condition {
  if (!condition) throw new LcmdError(typeof message === 'function' ? message() : message, code);
}
