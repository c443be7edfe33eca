// The fused CPU loops are built twice, for AVX2 + FMA and for the x86-64 baseline, and the choice between them is
// made here, once per process. GCC's target_clones resolver was seen to pick the baseline clone on an AVX-512 machine
// (an AMD EPYC under a hypervisor) where __builtin_cpu_supports reports AVX2 and FMA, which cost 2 to 3 times.
#pragma once

namespace lcmd::fused {

#if defined(__x86_64__) && defined(__GNUC__)
#define LCMD_TARGET_AVX2 __attribute__((target("avx2,fma")))
// AVX-512 with 64-bit lanes multiplied in one instruction (DQ): what the counter-noise loop needs to vectorise
#define LCMD_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))
#else
#define LCMD_TARGET_AVX2
#define LCMD_TARGET_AVX512
#endif

// Whether the AVX2 + FMA build of the loops runs on this CPU.
bool cpu_uses_avx2();
// Whether the AVX-512 (F, DQ, VL) build of the loops that have one runs on this CPU.
bool cpu_uses_avx512();
// "avx2+fma" or "baseline": what the fused CPU loops run, for tests and diagnostics.
const char* cpu_path();

}  // namespace lcmd::fused
