#include "core/model/model_config.h"

#include <cmath>

#include "core/base/error.h"
#include "core/base/json_fields.h"

namespace lcmd {

void ModelConfig::validate() const {
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
  LCMD_CHECK(hidden % heads == 0, "E_CONFIG",
             "model.hidden (" + std::to_string(hidden) + ") must be divisible by model.heads (" + std::to_string(heads) + ")");
  LCMD_CHECK(vocab_size <= (int64_t(1) << 24), "E_CONFIG", "model.vocabSize is implausibly large (max 16M)");
  LCMD_CHECK(num_tokens() <= 65536, "E_CONFIG", "model.height * model.width must be at most 65536 tokens");
  LCMD_CHECK(embed_init_std > 0 && std::isfinite(embed_init_std), "E_CONFIG", "model.embedInitStd must be positive");
  LCMD_CHECK(attn_dropout >= 0 && attn_dropout < 1, "E_CONFIG", "model.attnDropout must be in [0, 1)");
  LCMD_CHECK(time_input == "logsnr" || time_input == "t", "E_CONFIG",
             "model.timeInput must be 'logsnr' or 't', got '" + time_input + "'");
  LCMD_CHECK(method == "lcmd" || method == "maskgit", "E_CONFIG", "model.method must be 'lcmd' or 'maskgit', got '" + method + "'");
  LCMD_CHECK(method == "lcmd" || (!exact_likelihood_logits && !self_condition && !l2_normalize_embeddings && !freeze_embeddings),
             "E_CONFIG", "model.method 'maskgit' takes no exactLikelihoodLogits, selfCondition, l2NormalizeEmbeddings or freezeEmbeddings");
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
  f.read("selfCondition", c.self_condition);
  f.read("shift", c.shift);
  f.read("maxLogsnr", c.max_logsnr);
  f.reject_unknown();
}

}  // namespace lcmd
