#include "core/train/train_config.h"

#include <cmath>

#include "core/base/error.h"
#include "core/base/json_fields.h"

namespace lcmd {

namespace {

void one_of(const std::string& value, std::initializer_list<const char*> allowed, const char* key) {
  std::string list;
  for (const char* a : allowed) {
    if (value == a) return;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  fail("E_CONFIG", std::string("train.") + key + " must be one of " + list + ", got '" + value + "'");
}

void in_range(double v, double lo, double hi, const char* key) {
  LCMD_CHECK(std::isfinite(v) && v >= lo && v <= hi, "E_CONFIG",
             std::string("train.") + key + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
}

}  // namespace

void TrainConfig::validate() const {
  in_range(lambda_cm, 0, 1e6, "lambdaCm");
  in_range(lambda_diff, 0, 1e6, "lambdaDiff");
  in_range(lambda_ce, 0, 1e6, "lambdaCe");
  in_range(lambda_recon, 0, 1e6, "lambdaRecon");
  in_range(self_cond_rate, 0, 1, "selfCondRate");
  in_range(label_smoothing, 0, 0.999, "labelSmoothing");
  if (lambda_cm_final >= 0 || lambda_diff_final >= 0)
    LCMD_CHECK(weight_ramp_steps > 0, "E_CONFIG", "train.weightRampSteps must be positive when a *Final loss weight is set");
  one_of(objective, {"lcmd", "vlb"}, "objective");
  one_of(time_warp, {"uniform", "learned"}, "timeWarp");
  LCMD_CHECK(time_warp == "uniform" || objective == "lcmd", "E_CONFIG",
             "train.timeWarp 'learned' needs train.objective 'lcmd': the 'vlb' objective draws t from its own importance proposal");
  one_of(time_sampling, {"iid", "low-discrepancy"}, "timeSampling");
  one_of(drop_strategy, {"bernoulli", "count", "random-ratio", "linear-t"}, "dropStrategy");
  in_range(drop_rate, 0, 1, "dropRate");
  LCMD_CHECK(drop_rate < 1, "E_CONFIG", "train.dropRate must be below 1: dropping every token leaves nothing to learn");
  one_of(drop_placement, {"before-noise", "after-noise"}, "dropPlacement");
  in_range(class_dropout, 0, 1, "classDropout");
  one_of(cm_target, {"teacher", "data"}, "cmTarget");
  one_of(kl_direction, {"teacher-student", "student-teacher"}, "klDirection");
  one_of(teacher, {"ema", "sampling", "online"}, "teacher");
  in_range(teacher_decay, 0, 1, "teacherDecay");
  in_range(ema_decay, 0, 1, "emaDecay");
  LCMD_CHECK(std::isfinite(lr) && lr > 0 && lr < 1, "E_CONFIG", "train.lr must be in (0, 1), got " + std::to_string(lr));
  in_range(beta1, 0, 0.999999, "beta1");
  in_range(beta2, 0, 0.999999, "beta2");
  LCMD_CHECK(adam_eps > 0, "E_CONFIG", "train.adamEps must be positive");
  in_range(weight_decay, 0, 10, "weightDecay");
  LCMD_CHECK(warmup_steps >= 0, "E_CONFIG", "train.warmupSteps must be >= 0");
  one_of(lr_schedule, {"constant", "cosine"}, "lrSchedule");
  if (lr_schedule == "cosine") LCMD_CHECK(total_steps > 0, "E_CONFIG", "train.totalSteps must be positive for the cosine schedule");
  in_range(min_lr_ratio, 0, 1, "minLrRatio");
  LCMD_CHECK(std::isfinite(grad_clip), "E_CONFIG", "train.gradClip must be a number (<= 0 turns clipping off)");
  one_of(precision, {"fp32", "bf16"}, "precision");
}

void to_json(nlohmann::json& j, const TrainConfig& c) {
  j = nlohmann::json{{"lambdaCm", c.lambda_cm},
                     {"lambdaDiff", c.lambda_diff},
                     {"lambdaCe", c.lambda_ce},
                     {"lambdaRecon", c.lambda_recon},
                     {"selfCondRate", c.self_cond_rate},
                     {"labelSmoothing", c.label_smoothing},
                     {"lambdaCmFinal", c.lambda_cm_final},
                     {"lambdaDiffFinal", c.lambda_diff_final},
                     {"weightRampSteps", c.weight_ramp_steps},
                     {"objective", c.objective},
                     {"timeWarp", c.time_warp},
                     {"timeSampling", c.time_sampling},
                     {"dropStrategy", c.drop_strategy},
                     {"dropRate", c.drop_rate},
                     {"dropPlacement", c.drop_placement},
                     {"classDropout", c.class_dropout},
                     {"cmTarget", c.cm_target},
                     {"klDirection", c.kl_direction},
                     {"teacher", c.teacher},
                     {"teacherDecay", c.teacher_decay},
                     {"teacherWarmup", c.teacher_warmup},
                     {"teacherDropout", c.teacher_dropout},
                     {"emaDecay", c.ema_decay},
                     {"lr", c.lr},
                     {"beta1", c.beta1},
                     {"beta2", c.beta2},
                     {"adamEps", c.adam_eps},
                     {"weightDecay", c.weight_decay},
                     {"warmupSteps", c.warmup_steps},
                     {"lrSchedule", c.lr_schedule},
                     {"totalSteps", c.total_steps},
                     {"minLrRatio", c.min_lr_ratio},
                     {"gradClip", c.grad_clip},
                     {"device", c.device},
                     {"precision", c.precision},
                     {"seed", c.seed}};
}

void from_json(const nlohmann::json& j, TrainConfig& c) {
  JsonFields f(j, "train");
  f.read("lambdaCm", c.lambda_cm);
  f.read("lambdaDiff", c.lambda_diff);
  f.read("lambdaCe", c.lambda_ce);
  f.read("lambdaRecon", c.lambda_recon);
  f.read("selfCondRate", c.self_cond_rate);
  f.read("labelSmoothing", c.label_smoothing);
  f.read("lambdaCmFinal", c.lambda_cm_final);
  f.read("lambdaDiffFinal", c.lambda_diff_final);
  f.read("weightRampSteps", c.weight_ramp_steps);
  f.read("objective", c.objective);
  f.read("timeWarp", c.time_warp);
  f.read("timeSampling", c.time_sampling);
  f.read("dropStrategy", c.drop_strategy);
  f.read("dropRate", c.drop_rate);
  f.read("dropPlacement", c.drop_placement);
  f.read("classDropout", c.class_dropout);
  f.read("cmTarget", c.cm_target);
  f.read("klDirection", c.kl_direction);
  f.read("teacher", c.teacher);
  f.read("teacherDecay", c.teacher_decay);
  f.read("teacherWarmup", c.teacher_warmup);
  f.read("teacherDropout", c.teacher_dropout);
  f.read("emaDecay", c.ema_decay);
  f.read("lr", c.lr);
  f.read("beta1", c.beta1);
  f.read("beta2", c.beta2);
  f.read("adamEps", c.adam_eps);
  f.read("weightDecay", c.weight_decay);
  f.read("warmupSteps", c.warmup_steps);
  f.read("lrSchedule", c.lr_schedule);
  f.read("totalSteps", c.total_steps);
  f.read("minLrRatio", c.min_lr_ratio);
  f.read("gradClip", c.grad_clip);
  f.read("device", c.device);
  f.read("precision", c.precision);
  f.read("seed", c.seed);
  f.reject_unknown();
}

}  // namespace lcmd
