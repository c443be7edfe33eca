#include "core/model/model_config.h"

#include <unistd.h>

#include <cmath>

#include "core/base/error.h"
#include "core/base/json_fields.h"

namespace lcmd {

namespace {

double physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
}

}  // namespace

double ModelConfig::estimated_parameters() const {
  const double h = double(hidden), c = double(cond_dim), d = double(embed_dim);
  const double block = 4 * h * h + 2 * double(mlp_ratio) * h * h + 4 * c * h;  // attention, MLP, two AdaLN projections
  return double(layers) * block + double(vocab_size) * (d + h) + (posterior_input ? double(vocab_size) * h : 0.0) + (self_condition ? 2 : 1) * d * h + 2 * c * c +
         double(num_classes + 1) * c;
}

void ModelConfig::validate(int copies) const {
  auto positive = [](int64_t v, const char* name) {
    LCMD_CHECK(v > 0, "E_CONFIG", std::string("model.") + name + " must be a positive integer, got " + std::to_string(v));
  };
  positive(vocab_size, "vocabSize");
  positive(height, "height");
  positive(width, "width");
  positive(embed_dim, "embedDim");
  positive(layers, "layers");
  positive(heads, "heads");
  positive(hidden, "hidden");
  positive(mlp_ratio, "mlpRatio");
  positive(cond_dim, "condDim");
  LCMD_CHECK(num_classes >= 0, "E_CONFIG", "model.numClasses must be >= 0 (0 = unconditional)");
  // Hard ceilings far above any real model, so that a typo fails here and not as an allocation of petabytes.
  auto at_most = [](int64_t v, int64_t max, const char* name, const char* flag) {
    LCMD_CHECK(v <= max, "E_CONFIG", std::string("model.") + name + " (" + flag + ") is " + std::to_string(v) + "; at most " +
                                         std::to_string(max) + " is supported");
  };
  at_most(heads, 4096, "heads", "--heads");
  at_most(num_classes, 10000000, "numClasses", "--num-classes, or the largest label + 1 of --labels");
  LCMD_CHECK(hidden % heads == 0, "E_CONFIG",
             "model.hidden (" + std::to_string(hidden) + ") must be divisible by model.heads (" + std::to_string(heads) + ")");
  LCMD_CHECK(vocab_size <= (int64_t(1) << 24), "E_CONFIG", "model.vocabSize is implausibly large (max 16M)");
  LCMD_CHECK(num_tokens() <= 65536, "E_CONFIG", "model.height * model.width must be at most 65536 tokens");
  // A model that cannot fit in memory is E_MEMORY, before the width and depth ceilings below: --hidden 1000000000
  // is first of all too large for this machine.
  const double bytes = estimated_parameters() * 4.0 * double(copies), memory = physical_memory_bytes();
  LCMD_CHECK(memory == 0 || bytes < memory, "E_MEMORY",
             "a model of " + std::to_string(layers) + " layers (model.layers, --layers) of width " + std::to_string(hidden) +
                 " (model.hidden, --hidden) and embedding width " + std::to_string(embed_dim) + " (model.embedDim, --embed-dim) has about " +
                 std::to_string(int64_t(estimated_parameters() / 1e6)) + "M parameters: " + std::to_string(int64_t(bytes / 1e9)) +
                 (copies == 1 ? std::string(" GB for its weights") : " GB for its " + std::to_string(copies) + " copies (weights, EMAs, optimizer state)") +
                 ", more than this machine's " +
                 std::to_string(int64_t(memory / 1e9)) + " GB; choose a smaller model");
  at_most(layers, 1000, "layers", "--layers");
  at_most(hidden, 65536, "hidden", "--hidden");
  at_most(embed_dim, 65536, "embedDim", "--embed-dim");
  at_most(cond_dim, 65536, "condDim", "model.condDim");
  at_most(mlp_ratio, 64, "mlpRatio", "model.mlpRatio");
  LCMD_CHECK(embed_init_std > 0 && std::isfinite(embed_init_std), "E_CONFIG", "model.embedInitStd must be positive");
  LCMD_CHECK(attn_dropout >= 0 && attn_dropout < 1, "E_CONFIG", "model.attnDropout must be in [0, 1)");
  LCMD_CHECK(time_input == "logsnr" || time_input == "t", "E_CONFIG",
             "model.timeInput must be 'logsnr' or 't', got '" + time_input + "'");
  LCMD_CHECK(method == "lcmd" || method == "maskgit", "E_CONFIG", "model.method must be 'lcmd' or 'maskgit', got '" + method + "'");
  LCMD_CHECK(method == "lcmd" || (!exact_likelihood_logits && !self_condition && !l2_normalize_embeddings && !freeze_embeddings && !posterior_input),
             "E_CONFIG", "model.method 'maskgit' takes no exactLikelihoodLogits, posteriorInput, selfCondition, l2NormalizeEmbeddings or freezeEmbeddings");
  LCMD_CHECK(shift > 0 && std::isfinite(shift), "E_CONFIG", "model.shift must be a positive number");
  LCMD_CHECK(max_logsnr > 0 && max_logsnr < 40, "E_CONFIG", "model.maxLogsnr must be in (0, 40)");
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
  j = nlohmann::json{{"method", c.method},
                     {"vocabSize", c.vocab_size},
                     {"height", c.height},
                     {"width", c.width},
                     {"numClasses", c.num_classes},
                     {"embedDim", c.embed_dim},
                     {"embedInitStd", c.embed_init_std},
                     {"l2NormalizeEmbeddings", c.l2_normalize_embeddings},
                     {"freezeEmbeddings", c.freeze_embeddings},
                     {"layers", c.layers},
                     {"heads", c.heads},
                     {"hidden", c.hidden},
                     {"mlpRatio", c.mlp_ratio},
                     {"condDim", c.cond_dim},
                     {"attnDropout", c.attn_dropout},
                     {"timeInput", c.time_input},
                     {"exactLikelihoodLogits", c.exact_likelihood_logits},
                     {"posteriorInput", c.posterior_input},
                     {"selfCondition", c.self_condition},
                     {"shift", c.shift},
                     {"maxLogsnr", c.max_logsnr}};
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  JsonFields f(j, "model");
  f.read("method", c.method);
  f.read("vocabSize", c.vocab_size);
  f.read("height", c.height);
  f.read("width", c.width);
  f.read("numClasses", c.num_classes);
  f.read("embedDim", c.embed_dim);
  f.read("embedInitStd", c.embed_init_std);
  f.read("l2NormalizeEmbeddings", c.l2_normalize_embeddings);
  f.read("freezeEmbeddings", c.freeze_embeddings);
  f.read("layers", c.layers);
  f.read("heads", c.heads);
  f.read("hidden", c.hidden);
  f.read("mlpRatio", c.mlp_ratio);
  f.read("condDim", c.cond_dim);
  f.read("attnDropout", c.attn_dropout);
  f.read("timeInput", c.time_input);
  f.read("exactLikelihoodLogits", c.exact_likelihood_logits);
  f.read("posteriorInput", c.posterior_input);
  f.read("selfCondition", c.self_condition);
  f.read("shift", c.shift);
  f.read("maxLogsnr", c.max_logsnr);
  f.reject_unknown();
}

}  // namespace lcmd
