/** What `lcmd info` reports: versions, where libtorch came from, BLAS and its measured speed, devices, threads. */
import * as fs from 'fs';
import * as path from 'path';
import { native } from './binding';
import type { NativeRuntimeInfo } from './native';

export interface Info extends NativeRuntimeInfo {
  lcmdVersion: string;
  node: string;
  gemmGflops?: number;
  /** OpenBLAS's thread timeout as it read it when it loaded (log2 of the cycles its idle workers yield before sleeping) */
  openblasThreadTimeout: string | null;
}

/** Below this rate the reference BLAS is almost surely in use (OpenBLAS gives ~100+ GFLOP/s on 2 cores). */
export const SLOW_GEMM_GFLOPS = 30;

export function lcmdVersion(): string {
  for (const up of ['..', '../..']) {
    const file = path.join(__dirname, up, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

export async function info(options: { measureGemm?: boolean } = {}): Promise<Info> {
  const addon = native();
  const openblasThreadTimeout = process.env.OPENBLAS_THREAD_TIMEOUT ?? process.env.GOTO_THREAD_TIMEOUT ?? null;
  const result: Info = { lcmdVersion: lcmdVersion(), node: process.version, ...addon.runtimeInfo(), openblasThreadTimeout };
  if (options.measureGemm) result.gemmGflops = await addon.measureGemm(512, 0.3);
  return result;
}

/** A warning to print when matrix products will be slow, or undefined when the BLAS is fine. */
export function blasWarning(r: Pick<Info, 'blasIsReference' | 'blasLibrary' | 'gemmGflops'>): string | undefined {
  if (r.blasIsReference) {
    return `warning: libtorch is using the reference BLAS (${r.blasLibrary}), about 28x slower than OpenBLAS. Fix: sudo apt-get install -y libopenblas0-pthread`;
  }
  if (r.gemmGflops !== undefined && r.gemmGflops < SLOW_GEMM_GFLOPS) {
    return `warning: CPU matrix products run at ${r.gemmGflops.toFixed(1)} GFLOP/s, which suggests a slow BLAS (${r.blasLibrary}). Fix: sudo apt-get install -y libopenblas0-pthread`;
  }
  return undefined;
}
