#include "core/fused/adamw_ema.h"

#include <ATen/Parallel.h>

#include "core/fused/cpu_features.h"

namespace lcmd::fused {

namespace {

// The loop body, inlined into an AVX2 + FMA build and a baseline build (core/fused/cpu_features.h); the teacher and
// decay choices are template arguments so that each loop is branch-free and vectorises.
template <bool kTeacher, bool kDecays>
inline __attribute__((always_inline)) void step_body(float* __restrict p, const float* __restrict g, float* __restrict m,
                                                     float* __restrict v, float* __restrict ema, float* __restrict teacher,
                                                     int64_t n, const AdamWEmaScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    float w = p[i];
    adamw_element(w, g[i], m[i], v[i], kDecays, s);
    p[i] = w;
    ema_element(ema[i], w, s.ema_decay);
    if constexpr (kTeacher) ema_element(teacher[i], w, s.teacher_decay);
  }
}

template <bool kTeacher, bool kDecays>
LCMD_TARGET_AVX2 void step_avx2(float* p, const float* g, float* m, float* v, float* ema, float* teacher, int64_t n,
                                const AdamWEmaScalars& s) {
  step_body<kTeacher, kDecays>(p, g, m, v, ema, teacher, n, s);
}

template <bool kTeacher, bool kDecays>
void step_baseline(float* p, const float* g, float* m, float* v, float* ema, float* teacher, int64_t n, const AdamWEmaScalars& s) {
  step_body<kTeacher, kDecays>(p, g, m, v, ema, teacher, n, s);
}

template <bool kTeacher, bool kDecays>
void step_loop(float* p, const float* g, float* m, float* v, float* ema, float* teacher, int64_t n, const AdamWEmaScalars& s) {
  cpu_uses_avx2() ? step_avx2<kTeacher, kDecays>(p, g, m, v, ema, teacher, n, s)
                  : step_baseline<kTeacher, kDecays>(p, g, m, v, ema, teacher, n, s);
}

// Chunks big enough that a thread's share outweighs waking it.
constexpr int64_t kGrain = 16384;

void step_slot_cpu(const OptimizerSlot& slot, const AdamWEmaScalars& s) {
  float* p = slot.param.data_ptr<float>();
  const float* g = slot.grad.data_ptr<float>();
  float* m = slot.exp_avg.data_ptr<float>();
  float* v = slot.exp_avg_sq.data_ptr<float>();
  float* ema = slot.ema.data_ptr<float>();
  float* teacher = slot.teacher.defined() ? slot.teacher.data_ptr<float>() : nullptr;
  auto loop = teacher != nullptr ? (slot.decays ? step_loop<true, true> : step_loop<true, false>)
                                 : (slot.decays ? step_loop<false, true> : step_loop<false, false>);
  at::parallel_for(0, slot.param.numel(), kGrain, [&](int64_t begin, int64_t end) {
    loop(p + begin, g + begin, m + begin, v + begin, ema + begin, teacher == nullptr ? nullptr : teacher + begin, end - begin, s);
  });
}

bool fusable(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() && t.scalar_type() == at::kFloat && t.is_contiguous() && t.device() == like.device() && t.sizes() == like.sizes();
}

}  // namespace

bool adamw_ema_is_fused(const std::vector<OptimizerSlot>& slots) {
  if (slots.empty()) return false;
  const auto device = slots.front().param.device();
#ifdef LCMD_WITH_CUDA
  if (!device.is_cpu() && !device.is_cuda()) return false;
#else
  if (!device.is_cpu()) return false;
#endif
  const bool teacher = slots.front().teacher.defined();
  for (const auto& s : slots) {
    if (s.param.device() != device || !fusable(s.param, s.param) || !fusable(s.grad, s.param) || !fusable(s.exp_avg, s.param) ||
        !fusable(s.exp_avg_sq, s.param) || !fusable(s.ema, s.param) || s.teacher.defined() != teacher ||
        (teacher && !fusable(s.teacher, s.param)))
      return false;
  }
  return true;
}

void adamw_ema_step(const std::vector<OptimizerSlot>& slots, const AdamWEmaScalars& scalars) {
  if (slots.empty()) return;
#ifdef LCMD_WITH_CUDA
  if (slots.front().param.is_cuda()) return adamw_ema_step_cuda(slots, scalars);
#endif
  for (const auto& slot : slots) step_slot_cpu(slot, scalars);
}

}  // namespace lcmd::fused
