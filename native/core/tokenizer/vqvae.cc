#include "core/tokenizer/vqvae.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>

#include "core/base/error.h"
#include "core/formats/safetensors.h"

namespace lcmd {

namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// PyTorch's default convolution init (kaiming uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)) for weights and
// biases), drawn from a local generator so that a seed fixes the weights without touching global RNG state.
void init_parameters(torch::nn::Module& module, at::Generator& generator) {
  torch::NoGradGuard no_grad;
  for (auto& child : module.modules(/*include_self=*/true)) {
    auto params = child->named_parameters(/*recurse=*/false);
    auto* weight = params.find("weight");
    if (!weight) continue;
    int64_t fan_in = weight->size(1);
    for (int64_t d = 2; d < weight->dim(); ++d) fan_in *= weight->size(d);
    double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    weight->uniform_(-bound, bound, generator);
    if (auto* bias = params.find("bias")) bias->uniform_(-bound, bound, generator);
  }
}

}  // namespace

VqVaeNetImpl::VqVaeNetImpl(const VqVaeConfig& config) {
  encoder = register_module("encoder", VqEncoder(config));
  codebook = register_module("codebook", VqCodebook(config));
  decoder = register_module("decoder", VqDecoder(config));
}

VqVae::VqVae(const VqVaeConfig& config, uint64_t init_seed) : config_(config) {
  config_.validate();
  net_ = VqVaeNet(config_);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(init_seed);
  init_parameters(*net_, generator);
}

at::Tensor VqVae::checked_images(const at::Tensor& images, const char* what) const {
  LCMD_CHECK(images.defined(), "E_USAGE", std::string(what) + " is undefined");
  LCMD_CHECK(images.dim() == 4 && images.size(1) == config_.in_channels, "E_SHAPE",
             std::string("expected ") + what + " of shape [n, " + std::to_string(config_.in_channels) + ", H, W], got " +
                 shape_text(images.sizes()));
  LCMD_CHECK(at::isFloatingType(images.scalar_type()), "E_DTYPE",
             std::string("expected float32 ") + what + " in [0, 1], got " + c10::toString(images.scalar_type()));
  int64_t f = config_.downsample;
  LCMD_CHECK(images.size(2) % f == 0 && images.size(3) % f == 0 && images.size(2) > 0 && images.size(3) > 0, "E_SHAPE",
             std::string(what) + " of size " + std::to_string(images.size(2)) + "x" + std::to_string(images.size(3)) +
                 " cannot be tokenized with downsampling " + std::to_string(f) + ": height and width must be multiples of " +
                 std::to_string(f) + " (pad the images, or choose another downsampling factor)");
  at::Tensor x = images.detach().to(at::kCPU, at::kFloat).contiguous();
  LCMD_CHECK(at::isfinite(x).all().item<bool>(), "E_RANGE", std::string(what) + " hold NaN or infinite values");
  return x;
}

at::Tensor VqVae::checked_tokens(const at::Tensor& tokens) const {
  LCMD_CHECK(tokens.defined(), "E_USAGE", "tokens are undefined");
  LCMD_CHECK(tokens.dim() == 3, "E_SHAPE", "expected tokens of shape [n, h, w], got " + shape_text(tokens.sizes()));
  LCMD_CHECK(at::isIntegralType(tokens.scalar_type(), /*includeBool=*/false), "E_DTYPE",
             std::string("expected integer tokens, got ") + c10::toString(tokens.scalar_type()));
  at::Tensor t = tokens.detach().to(at::kCPU, at::kLong).contiguous();
  if (t.numel() > 0) {
    at::Tensor bad = ((t < 0) | (t >= config_.codebook_size)).view(-1).nonzero();
    if (bad.numel() > 0) {
      int64_t i = bad[0].item<int64_t>();
      fail("E_RANGE", "token " + std::to_string(t.view(-1)[i].item<int64_t>()) + " at flat index " + std::to_string(i) +
                          " is outside the codebook [0, " + std::to_string(config_.codebook_size - 1) + "]");
    }
  }
  return t;
}

VqTrainResult VqVae::train(const at::Tensor& images, const VqTrainOptions& options, const TaskContext& ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  at::Tensor x = checked_images(images, "training images");
  LCMD_CHECK(options.steps >= 1, "E_RANGE", "steps must be a positive integer, got " + std::to_string(options.steps));
  LCMD_CHECK(options.batch_size >= 1, "E_RANGE", "batchSize must be a positive integer, got " + std::to_string(options.batch_size));
  LCMD_CHECK(std::isfinite(options.lr) && options.lr > 0, "E_RANGE", "lr must be a positive number, got " + std::to_string(options.lr));
  int64_t n = x.size(0);
  LCMD_CHECK(n >= 1, "E_SHAPE", "there are no training images");
  int64_t batch = std::min(options.batch_size, n);

  if (!optimizer_) optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(options.lr));
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(options.lr);

  torch::AutoGradMode grad(true);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  at::Tensor order = at::randperm(n, generator, at::kLong);
  int64_t cursor = 0;
  VqTrainResult result;
  auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < options.steps; ++step) {
    ctx.throw_if_cancelled();
    if (cursor + batch > n) {  // a fresh permutation each epoch
      order = at::randperm(n, generator, at::kLong);
      cursor = 0;
    }
    at::Tensor images_batch = x.index_select(0, order.slice(0, cursor, cursor + batch));
    cursor += batch;

    at::Tensor encodings = net_->encoder(images_batch);
    VqQuantized q = net_->codebook->forward(encodings, /*train=*/true, generator);
    at::Tensor reconstruction = net_->decoder(q.quantized);
    at::Tensor recon_loss = at::mse_loss(reconstruction, images_batch);
    at::Tensor loss = recon_loss + q.commitment;
    optimizer_->zero_grad();
    loss.backward();
    optimizer_->step();
    ++steps_trained_;

    result.steps = step + 1;
    result.restarted += q.restarted;
    bool last = step + 1 == options.steps;
    if (last || (options.report_every > 0 && (step + 1) % options.report_every == 0)) {
      result.loss = loss.item<double>();
      result.reconstruction = recon_loss.item<double>();
      result.commitment = q.commitment.item<double>();
      result.perplexity = vq_perplexity(q.counts);
      result.usage = (q.counts > 0).to(at::kDouble).mean().item<double>();
      result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      ctx.report("train", {{"step", double(step + 1)},
                           {"steps", double(options.steps)},
                           {"loss", result.loss},
                           {"reconstruction", result.reconstruction},
                           {"psnr", 10 * std::log10(1.0 / std::max(result.reconstruction, 1e-12))},
                           {"commitment", result.commitment},
                           {"perplexity", result.perplexity},
                           {"usage", result.usage},
                           {"restarted", double(result.restarted)},
                           {"imagesPerSecond", double((step + 1) * batch) / std::max(result.seconds, 1e-9)}});
    }
  }
  return result;
}

at::Tensor VqVae::reconstruct_batch(const at::Tensor& images, at::Tensor* indices) {
  at::Tensor encodings = net_->encoder(images);
  int64_t n = encodings.size(0), h = encodings.size(2), w = encodings.size(3);
  at::Tensor flat = encodings.permute({0, 2, 3, 1}).reshape({-1, config_.code_dim});
  *indices = net_->codebook->nearest(flat).view({n, h, w});
  return net_->decoder(net_->codebook->lookup(*indices)).clamp(0, 1);
}

at::Tensor VqVae::encode(const at::Tensor& images, int64_t batch_size, const TaskContext& ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  LCMD_CHECK(batch_size >= 1, "E_RANGE", "batchSize must be a positive integer");
  at::Tensor x = checked_images(images, "images");
  torch::NoGradGuard no_grad;
  int64_t f = config_.downsample;
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < x.size(0); start += batch_size) {
    ctx.throw_if_cancelled();
    at::Tensor encodings = net_->encoder(x.slice(0, start, std::min(x.size(0), start + batch_size)));
    int64_t n = encodings.size(0), h = encodings.size(2), w = encodings.size(3);
    at::Tensor flat = encodings.permute({0, 2, 3, 1}).reshape({-1, config_.code_dim});
    parts.push_back(net_->codebook->nearest(flat).view({n, h, w}).to(at::kInt));
  }
  if (parts.empty()) return at::empty({0, x.size(2) / f, x.size(3) / f}, at::kInt);
  return at::cat(parts);
}

at::Tensor VqVae::decode(const at::Tensor& tokens, int64_t batch_size, const TaskContext& ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  LCMD_CHECK(batch_size >= 1, "E_RANGE", "batchSize must be a positive integer");
  at::Tensor t = checked_tokens(tokens);
  torch::NoGradGuard no_grad;
  int64_t f = config_.downsample;
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < t.size(0); start += batch_size) {
    ctx.throw_if_cancelled();
    at::Tensor codes = net_->codebook->lookup(t.slice(0, start, std::min(t.size(0), start + batch_size)));
    parts.push_back(net_->decoder(codes).clamp(0, 1));
  }
  if (parts.empty()) return at::empty({0, config_.in_channels, t.size(1) * f, t.size(2) * f});
  return at::cat(parts);
}

VqEvaluation VqVae::evaluate(const at::Tensor& images, int64_t batch_size, const TaskContext& ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  LCMD_CHECK(batch_size >= 1, "E_RANGE", "batchSize must be a positive integer");
  at::Tensor x = checked_images(images, "images");
  LCMD_CHECK(x.size(0) >= 1, "E_SHAPE", "evaluation needs at least one image");
  torch::NoGradGuard no_grad;
  double squared_error = 0;
  at::Tensor counts = at::zeros({config_.codebook_size}, at::kDouble);
  for (int64_t start = 0; start < x.size(0); start += batch_size) {
    ctx.throw_if_cancelled();
    at::Tensor batch = x.slice(0, start, std::min(x.size(0), start + batch_size));
    at::Tensor indices;
    at::Tensor reconstruction = reconstruct_batch(batch, &indices);
    squared_error += (reconstruction - batch).to(at::kDouble).pow(2).sum().item<double>();
    counts.index_add_(0, indices.reshape(-1), at::ones({indices.numel()}, at::kDouble));
  }
  VqEvaluation e;
  e.count = x.size(0);
  e.mse = squared_error / static_cast<double>(x.numel());
  e.psnr = 10 * std::log10(1.0 / std::max(e.mse, 1e-20));
  e.usage = (counts > 0).to(at::kDouble).mean().item<double>();
  e.perplexity = vq_perplexity(counts);
  return e;
}

void VqVae::save(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : net_->named_parameters()) tensors.emplace_back(p.key(), p.value());
  for (const auto& b : net_->named_buffers()) tensors.emplace_back(b.key(), b.value());
  save_safetensors(path, tensors,
                   {{kConfigKey, config_.to_json().dump()}, {kStepsKey, std::to_string(steps_trained_)}, {"lcmd.format", "tokenizer"}});
}

std::shared_ptr<VqVae> VqVae::load(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  auto found = file.metadata.find(kConfigKey);
  LCMD_CHECK(found != file.metadata.end(), "E_CHECKPOINT",
             "'" + path + "' is not an lcmd tokenizer checkpoint: its metadata has no \"" + kConfigKey + "\"");
  nlohmann::json json = nlohmann::json::parse(found->second, nullptr, /*allow_exceptions=*/false);
  LCMD_CHECK(!json.is_discarded(), "E_CHECKPOINT", "the tokenizer config in '" + path + "' is not valid JSON");
  VqVaeConfig config;
  try {
    config = VqVaeConfig::from_json(json);
  } catch (const Error& e) {
    fail("E_CHECKPOINT", "the tokenizer config in '" + path + "' is invalid: " + e.what());
  }
  auto model = std::make_shared<VqVae>(config);
  torch::NoGradGuard no_grad;
  size_t expected = 0;
  auto restore = [&](const std::string& name, at::Tensor target) {
    ++expected;
    auto it = file.tensors.find(name);
    LCMD_CHECK(it != file.tensors.end(), "E_CHECKPOINT", "tokenizer checkpoint '" + path + "' lacks the tensor '" + name + "'");
    const at::Tensor& source = it->second;
    LCMD_CHECK(source.sizes() == target.sizes() && source.scalar_type() == target.scalar_type(), "E_CHECKPOINT",
               "tensor '" + name + "' in '" + path + "' is " + c10::toString(source.scalar_type()) + " " + shape_text(source.sizes()) +
                   " but the config needs " + c10::toString(target.scalar_type()) + " " + shape_text(target.sizes()));
    target.copy_(source);
  };
  for (const auto& p : model->net_->named_parameters()) restore(p.key(), p.value());
  for (const auto& b : model->net_->named_buffers()) restore(b.key(), b.value());
  LCMD_CHECK(file.tensors.size() == expected, "E_CHECKPOINT",
             "tokenizer checkpoint '" + path + "' holds " + std::to_string(file.tensors.size()) + " tensors but its config needs " +
                 std::to_string(expected));
  auto steps = file.metadata.find(kStepsKey);
  if (steps != file.metadata.end()) {
    try {
      model->steps_trained_ = std::stoll(steps->second);
    } catch (...) {
      fail("E_CHECKPOINT", "the step count in '" + path + "' is not an integer");
    }
  }
  return model;
}

}  // namespace lcmd
