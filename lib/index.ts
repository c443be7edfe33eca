export { LcmdError, type LcmdErrorCode } from './errors';
export { Tensor, DTYPES, type DType, type AnyTypedArray } from './tensor';
export { info, blasWarning, lcmdVersion, type Info } from './info';
export { defaultThreadCount } from './binding';
export type { ProgressEvent, ProgressCallback } from './native';
export type { AsyncOptions } from './async';
