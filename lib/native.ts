/**
 * The shape of the native addon as TypeScript sees it. Only lib/ talks to these; users get the typed wrappers.
 * Every async native call takes an optional CancelToken and an optional progress callback.
 */
export type NativeDType = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'uint8' | 'bool' | 'bfloat16' | 'float16';

export interface NativeTensorHandle {
  shape(): number[];
  dtype(): NativeDType;
  device(): string;
  toTypedArray(): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Uint8Array;
  to(device: string): NativeTensorHandle;
  dispose(): void;
  isDisposed(): boolean;
  byteLength(): number;
}

export interface NativeCancelToken {
  cancel(): void;
  isCancelled(): boolean;
}

export interface ProgressEvent {
  stage: string;
  [field: string]: number | string;
}
export type ProgressCallback = (event: ProgressEvent) => void;

export interface NativeRuntimeInfo {
  torchVersion: string;
  torchDir: string;
  torchFoundVia: string;
  torchLibraries: string[];
  blasLibrary: string;
  blasIsReference: boolean;
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  devices: { index: number; name: string; memoryGiB: number }[];
  threads: number;
}

export interface NativeAddon {
  TensorHandle: {
    new (data: ArrayBufferView, shape: number[], dtype: NativeDType): NativeTensorHandle;
  };
  CancelToken: { new (): NativeCancelToken };
  setErrorClass(cls: unknown): void;
  runtimeInfo(): NativeRuntimeInfo;
  setNumThreads(n: number): void;
  numThreads(): number;
  measureGemm(size: number, seconds: number, token?: NativeCancelToken): Promise<number>;
  busyWork(ms: number, token?: NativeCancelToken, onProgress?: ProgressCallback): Promise<number>;
}
