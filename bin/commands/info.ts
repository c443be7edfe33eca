import { Command } from 'commander';
import { blasWarning, info, type Info } from '../../lib/info';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show the lcmd and libtorch versions, where libtorch was found, BLAS speed, devices and threads')
    .option('--json', 'print JSON')
    .option('--no-gemm', 'skip the short GEMM measurement')
    .action(async (opts: { json?: boolean; gemm: boolean }) => {
      const r = await info({ measureGemm: opts.gemm });
      if (opts.json) {
        console.log(JSON.stringify(r, null, 2));
        return;
      }
      const lines = [
        `lcmd           ${r.lcmdVersion} (node ${r.node})`,
        `libtorch       ${r.torchVersion}, found via ${r.torchFoundVia || 'unknown'} (${r.torchDir})`,
        `loaded from    ${r.torchLibraries.filter((l) => /libtorch_cpu|libtorch\.so/.test(l)).join(', ') || 'unknown'}`,
        `BLAS           ${r.blasLibrary}${r.gemmGflops !== undefined ? `, sgemm 512: ${r.gemmGflops.toFixed(1)} GFLOP/s` : ''}`,
        `Linear layers  ${r.onednn ? `${r.onednn} sgemm on CPU (forward and input gradient; weight gradient by the BLAS)` : 'the BLAS (no oneDNN in this build)'}`,
        `CUDA           ${r.cudaCompiled ? 'compiled in' : 'not compiled in'}, ${r.cudaAvailable ? 'available' : 'not available'}`,
        ...r.devices.map((d) => `  cuda:${d.index}       ${d.name}, ${d.memoryGiB.toFixed(1)} GiB`),
        `threads        ${r.threadPools.intraOp} intra-op, ${r.threadPools.interOp} inter-op, ${r.threadPools.openblas < 0 ? 'no OpenBLAS' : `${r.threadPools.openblas} OpenBLAS`} (LCMD_NUM_THREADS)${r.threadPools.openblas > 1 && r.openblasThreadTimeout ? `, OpenBLAS thread timeout 2^${r.openblasThreadTimeout} cycles` : ''}`,
        `heap           ${heapLine(r.heap)}`,
      ];
      console.log(lines.join('\n'));
      const warning = blasWarning(r);
      if (warning) console.error(warning);
    });
}

/** One line for the CPU tensor cache: its capacity and what it holds and served so far. */
function heapLine(h: Info['heap']): string {
  if (h.mode !== 'lcmd') return "libtorch's allocator (LCMD_HEAP=system)";
  const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
  return `CPU tensor cache, capacity ${mib(h.capacityBytes)} (LCMD_HEAP_CACHE_MIB), ${mib(h.cachedBytes)} held, ${h.hits} hits / ${h.misses} misses; LCMD_HEAP=system for libtorch's allocator`;
}
