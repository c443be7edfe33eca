// GPU checks of lcmd's native core on the GPU machine's libtorch 2.x.
//   gpu_check check    CPU and CUDA trainers from identical state take 3 identical steps: losses and weights agree
//   gpu_check train    training images/s and MFU, paper-uncond fp32 (TF32) vs bf16 and paper-imagenet bf16, batch 128
//   gpu_check sample   50-step ancestral sampling samples/s, paper-uncond fp32 vs bf16, n = 256
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>

#include "core/sample/model_denoiser.h"
#include "core/sample/sampler.h"
#include "core/train/trainer.h"

using namespace lcmd;

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

static int check() {
  ModelConfig mc;
  mc.vocab_size = 64; mc.height = 8; mc.width = 8; mc.num_classes = 10; mc.embed_dim = 32; mc.layers = 2; mc.heads = 4;
  mc.hidden = 128; mc.cond_dim = 64; mc.attn_dropout = 0;
  TrainConfig tc;
  tc.seed = 3; tc.warmup_steps = 0; tc.lr = 1e-3; tc.device = "cpu";
  Trainer cpu(mc, tc);
  tc.device = "cuda";
  Trainer gpu(mc, tc);
  std::map<std::string, at::Tensor> state;
  for (auto& [k, v] : cpu.state_tensors()) state[k] = v.clone();
  gpu.load_state(state, 0, 0, 0);
  torch::manual_seed(11);
  double worst_loss = 0, worst_weight = 0;
  for (int i = 0; i < 3; ++i) {
    auto tokens = torch::randint(mc.vocab_size, {16, mc.num_tokens()}, torch::kLong);
    auto classes = torch::randint(mc.num_classes, {16}, torch::kLong);
    auto a = cpu.step(tokens, classes, 0), b = gpu.step(tokens, classes, 0);
    worst_loss = std::max(worst_loss, std::abs(a.loss - b.loss) / std::abs(a.loss));
    std::cout << "step " << i + 1 << ": loss cpu " << a.loss << " cuda " << b.loss << ", grad norm cpu " << a.grad_norm
              << " cuda " << b.grad_norm << std::endl;
  }
  auto gp = gpu.model()->named_parameters();
  for (auto& item : cpu.model()->named_parameters())
    worst_weight = std::max(worst_weight, (item.value() - gp[item.key()].cpu()).abs().max().item<double>());
  std::cout << "{\"check\": \"cpu-vs-cuda\", \"torch\": \"" << TORCH_VERSION << "\", \"maxRelLossDiff\": " << worst_loss
            << ", \"maxWeightDiff\": " << worst_weight << "}" << std::endl;
  return worst_loss < 1e-3 && worst_weight < 1e-3 ? 0 : 1;
}

static double train_rate(ModelConfig mc, const std::string& precision, int batch, int steps) {
  TrainConfig tc;
  tc.device = "cuda"; tc.warmup_steps = 0; tc.precision = precision;
  Trainer trainer(mc, tc);
  auto tokens = torch::randint(mc.vocab_size, {batch, mc.num_tokens()}, torch::kLong);
  at::Tensor classes = mc.num_classes > 0 ? torch::randint(mc.num_classes, {batch}, torch::kLong) : at::Tensor();
  for (int i = 0; i < 3; ++i) trainer.step(tokens, classes, 0);
  torch::cuda::synchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) trainer.step(tokens, classes, i * batch);
  torch::cuda::synchronize();
  return steps * batch / seconds_since(t0);
}

// FLOPs of one training image of a preset with the paper objective (reconstruction term and EMA teacher on): 8
// forward-equivalents, the student at t and at 0 forward and backward (2 x 3) plus two teacher forwards. One forward
// is 2 N P_mm + 4 L N^2 h: N tokens, P_mm the weights multiplied once per token (2-D parameters except the lookup
// tables and the per-example time MLP and AdaLN modulations), L layers, width h (the attention scores and their
// product with V). The same count as bench/gpu-vs-pytorch.ts.
static double train_flops_per_image(const ModelConfig& mc) {
  LcmdModel model(mc);
  double p_mm = 0;
  for (auto& item : model->named_parameters()) {
    const auto& name = item.key();
    if (item.value().dim() == 2 && name.rfind("embedding.", 0) != 0 && name.rfind("class_embed.", 0) != 0 &&
        name.rfind("time_mlp.", 0) != 0 && name.find(".modulation.") == std::string::npos)
      p_mm += double(item.value().numel());
  }
  const double n = double(mc.num_tokens());
  const double forward = 2 * n * p_mm + 4 * double(mc.layers) * n * n * double(mc.hidden);
  std::cout << "P_mm " << p_mm / 1e6 << "M, forward " << forward / 1e9 << " GFLOP, image " << 8 * forward / 1e9 << " GFLOP" << std::endl;
  return 8 * forward;
}

static int train() {
  ModelConfig uncond;  // defaults: the paper's unconditional model, 16x16 tokens, K = 1024
  ModelConfig imagenet;
  imagenet.layers = 24; imagenet.heads = 16; imagenet.hidden = 768; imagenet.cond_dim = 768; imagenet.num_classes = 1000;
  // dense bf16 peak of an H100 / H200 SXM; LCMD_PEAK_TFLOPS for other GPUs
  const char* peak_env = std::getenv("LCMD_PEAK_TFLOPS");
  const double peak = (peak_env ? std::atof(peak_env) : 989.0) * 1e12;
  const int batch = 128;
  double f = train_rate(uncond, "fp32", batch, 10), b = train_rate(uncond, "bf16", batch, 10);
  double i = train_rate(imagenet, "bf16", batch, 10);
  const double mfu_uncond = b * train_flops_per_image(uncond) / peak, mfu_imagenet = i * train_flops_per_image(imagenet) / peak;
  std::cout << "{\"bench\": \"train\", \"torch\": \"" << TORCH_VERSION << "\", \"batch\": " << batch << ", \"uncondFp32ImagesPerS\": " << f
            << ", \"uncondBf16ImagesPerS\": " << b << ", \"bf16Speedup\": " << b / f << ", \"imagenetBf16ImagesPerS\": " << i
            << ", \"peakTflops\": " << peak / 1e12 << ", \"uncondBf16Mfu\": " << mfu_uncond << ", \"imagenetBf16Mfu\": " << mfu_imagenet
            << ", \"mfuFormula\": \"images/s x 8 (2 N P_mm + 4 L N^2 h) / peak\"}" << std::endl;
  return 0;
}

static int sample_bench() {
  ModelConfig mc;
  mc.attn_dropout = 0;
  LcmdModel model(mc);
  model->to(torch::kCUDA);
  model->eval();
  auto lock = std::make_shared<std::mutex>();
  auto rate = [&](bool bf16) {
    ModelDenoiser denoiser(model, lock, bf16);
    SamplerOptions o;
    o.n = 256; o.steps = 50; o.batch_size = 256; o.seed = 1;
    TaskContext ctx;
    o.n = 256;
    sample(denoiser, o, ctx);  // warm-up
    torch::cuda::synchronize();
    auto t0 = std::chrono::steady_clock::now();
    auto r = sample(denoiser, o, ctx);
    double s = seconds_since(t0);
    std::cout << "sampled " << r.tokens.sizes() << " with " << r.evaluations_per_sample << " evaluations per sample" << std::endl;
    return o.n / s;
  };
  double f = rate(false), b = rate(true);
  std::cout << "{\"bench\": \"sample\", \"torch\": \"" << TORCH_VERSION << "\", \"n\": 256, \"steps\": 50, \"fp32SamplesPerS\": " << f
            << ", \"bf16SamplesPerS\": " << b << ", \"bf16Speedup\": " << b / f << "}" << std::endl;
  return 0;
}

int main(int argc, char** argv) {
  try {
    std::string mode = argc > 1 ? argv[1] : "check";
    std::cout << "torch " << TORCH_VERSION << ", cuda available " << torch::cuda::is_available() << std::endl;
    if (mode == "check") return check();
    if (mode == "train") return train();
    if (mode == "sample") return sample_bench();
  } catch (const lcmd::Error& e) {
    std::cerr << "lcmd error [" << e.code() << "] " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 3;
  }
  return 1;
}
