// The commit rule (docs/method.md section 8): DDIM in which e_hat is clamped, position by position, to the embedding
// of a committed token. After the step from grid index j to j - 1 of T, the share of committed positions is MaskGIT's
// cosine schedule 1 - cos(pi/2 (T - j + 1) / T): few early, all by the last step. The positions committed at a step
// are the most confident uncommitted ones (largest max_k p), each to its most probable token; a committed token
// never changes. Clamping the prediction to a token embedding is Diffusion-LM's clamping trick; committing in order
// of confidence keeps neighbouring tokens consistent with choices already made, as MaskGIT's decoding does.
//
// With a commit temperature tau > 0 the choice is MaskGIT's randomised one instead: each position's token is drawn
// from p, and positions are ranked by log p(drawn) + tau (1 - i / T) g with Gumbel noise g at the i-th step
// (i = T - j), so early commitments vary from sample to sample and the last ones follow the model's confidence.
#pragma once
#include <torch/torch.h>

namespace lcmd {

// How many of n positions are committed after the step from grid index j (T >= j >= 1).
int64_t committed_after_step(int64_t n, int64_t steps, int64_t j);

struct Commitment {
  at::Tensor mask;    // [B, N] bool: committed positions
  at::Tensor tokens;  // [B, N] int64: their tokens (0 elsewhere)
};

// Each position's candidate token and its rank score (higher commits first), [B, N] each.
struct CommitChoice {
  at::Tensor tokens;
  at::Tensor score;
};

// The deterministic choice: the most probable token, ranked by its probability.
CommitChoice most_confident(const at::Tensor& probs);
// The randomised choice at scale `noise_scale` (tau (1 - i / T)), MaskGIT's (maskgit_sampler.cc uses it too): tokens drawn with `draw_uniforms` [B, N, 2]
// (final_tokens' draw), ranked by log p(token) + noise_scale g, with g = -log(-log u) from `gumbel_uniforms` [B, N].
CommitChoice drawn_with_gumbel(const at::Tensor& probs, const at::Tensor& draw_uniforms, const at::Tensor& gumbel_uniforms, double noise_scale);

// Commits the best-scored uncommitted positions of `choice` until `count` per row are committed; returns the new
// commitment (an undefined `previous` means none yet).
Commitment commit_tokens(const CommitChoice& choice, const Commitment& previous, int64_t count);

// e_hat [B, N, d] with the committed positions replaced by their token embeddings.
at::Tensor clamp_to_committed(const at::Tensor& e_hat, const Commitment& commitment, const at::Tensor& table);

}  // namespace lcmd
