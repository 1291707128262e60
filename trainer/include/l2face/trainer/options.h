// Options of the trainer module: run, backbone, head, classifier, optimizer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace l2face::trainer {

// The kinds a config names by word. Each has one name table (EnumNames<E>::table: the config
// spelling, the word checkpoint metadata and log lines carry, and a one-line meaning); config
// parsing, the reference docs and enumName / enumFromName all read it.
enum class HeadType { kL2Softmax, kSoftmax, kNormFace, kCosFace, kArcFace };
enum class OptimType { kSgd, kAdamW };
enum class ClassifierPlacement { kAuto, kReplicated, kSharded };
enum class ChannelsLast { kAuto, kOn, kOff };
enum class SyncDebug { kOff, kWarn, kError };

template <class E>
struct EnumName {
  E value;
  const char* name;
  const char* doc;
};

template <class E>
struct EnumNames;

template <>
struct EnumNames<HeadType> {
  static constexpr EnumName<HeadType> table[] = {
      {HeadType::kL2Softmax, "l2_softmax", "features L2-normalised and scaled by α"},
      {HeadType::kSoftmax, "softmax", "no constraint"},
      {HeadType::kNormFace, "normface", "normalised features and weights, s·cos θ"},
      {HeadType::kCosFace, "cosface", "normface with s·(cos θ − m) at the target"},
      {HeadType::kArcFace, "arcface", "normface with s·cos(θ + m) at the target"},
  };
};

template <>
struct EnumNames<OptimType> {
  static constexpr EnumName<OptimType> table[] = {
      {OptimType::kSgd, "sgd", "momentum, L2 weight decay"},
      {OptimType::kAdamW, "adamw", "decoupled weight decay"},
  };
};

template <>
struct EnumNames<ChannelsLast> {
  static constexpr EnumName<ChannelsLast> table[] = {
      {ChannelsLast::kAuto, "auto", "NHWC on CUDA, NCHW on the CPU"},
      {ChannelsLast::kOn, "true", "NHWC on every device"},
      {ChannelsLast::kOff, "false", "NCHW"},
  };
};

template <>
struct EnumNames<ClassifierPlacement> {
  static constexpr EnumName<ClassifierPlacement> table[] = {
      {ClassifierPlacement::kAuto, "auto",
       "sharded when world > 1 and C >= classifier.shard_min_classes, or when "
       "classifier.sample_rate < 1"},
      {ClassifierPlacement::kReplicated, "replicated", "a full copy on every rank"},
      {ClassifierPlacement::kSharded, "sharded",
       "rank r owns a contiguous block of classes, with the exact distributed softmax"},
  };
};

template <>
struct EnumNames<SyncDebug> {
  static constexpr EnumName<SyncDebug> table[] = {
      {SyncDebug::kOff, "off", "no check"},
      {SyncDebug::kWarn, "warn", "torch warns at each host synchronisation inside the step"},
      {SyncDebug::kError, "error", "a host synchronisation inside the step is an error"},
  };
};

// The name of a value (every enumerator has one).
template <class E>
constexpr const char* enumName(E value) {
  for (const auto& e : EnumNames<E>::table) {
    if (e.value == value) return e.name;
  }
  return "?";
}

// The value named `name` (exact spelling), or nullopt.
template <class E>
std::optional<E> enumFromName(std::string_view name) {
  for (const auto& e : EnumNames<E>::table) {
    if (name == e.name) return e.value;
  }
  return std::nullopt;
}

// "a, b, c": the names in table order, for messages.
template <class E>
std::string enumChoices() {
  std::string s;
  for (const auto& e : EnumNames<E>::table) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

struct ModelOptions {
  // tiny | face_resnet | iresnet18 | iresnet34 | iresnet50 | iresnet100 | mobilefacenet
  std::string backbone = "tiny";
  int embedding_dim = 512;
  std::string norm = "batch";  // batch | none (none: no BatchNorm; tiny and face_resnet only)
  int width = 32;              // channels of the first stage of the tiny backbone
  double dropout = 0.0;        // before the embedding FC (tiny, iresnet*), as insightface's
  // A pretrained backbone to start a fresh run from ("" = none): an l2face checkpoint or run
  // directory, an `l2face export` file or an insightface .pth state dict. The classifier always
  // starts fresh; a resumed run keeps its own weights.
  std::string init;
  // The first init_warmup_steps optimizer steps of a run with init: the backbone learns at
  // lr × init_warmup_lr_scale; 0 freezes it (parameters and BatchNorm running statistics).
  int64_t init_warmup_steps = 0;
  double init_warmup_lr_scale = 0.0;
};

struct HeadOptions {
  HeadType type = HeadType::kL2Softmax;
  double alpha = 16.0;           // radius of the feature hypersphere (l2_softmax)
  bool alpha_auto = false;       // α = α_low(C, p) = log(p(C-2)/(1-p))
  bool alpha_learnable = false;  // α is a trained scalar, initialised from alpha / auto
  double p = 0.9;                // target softmax probability for the auto α bound
  bool bias = true;              // classifier bias (l2_softmax, softmax)
  double scale = 64.0;           // s of the normalised heads (normface, cosface, arcface)
  double margin = 0.5;           // m: arcface angle (radians), cosface cosine margin
};

struct ClassifierOptions {
  // auto: sharded when world > 1 and C >= shard_min_classes, or when sample_rate < 1;
  // replicated otherwise.
  ClassifierPlacement parallel = ClassifierPlacement::kAuto;
  int64_t shard_min_classes = 16384;
  // Fraction of a rank's classes in each step's logits (sharded): every positive class of the
  // global batch plus a uniform random subset of the others. 1 = exact softmax over all classes.
  double sample_rate = 1.0;
};

struct OptimOptions {
  OptimType type = OptimType::kSgd;
  double lr = 0.1;
  double momentum = 0.9;                     // sgd
  double weight_decay = 5e-4;                // sgd: L2 added to the gradient; adamw: decoupled
  bool nesterov = false;                     // sgd
  std::vector<double> betas = {0.9, 0.999};  // adamw
  double eps = 1e-8;                         // adamw
  bool no_decay_bn_bias = false;             // no weight decay on BatchNorm parameters and biases
  int64_t max_steps = 1000;                  // optimizer steps
  int64_t warmup_steps = 0;
  std::string schedule = "cosine";  // constant | cosine | step | polynomial
  std::vector<int64_t> milestones;  // for step: steps at which lr *= gamma
  double gamma = 0.1;
  double power = 2.0;           // for polynomial: lr·(1 − t)^power
  int accumulate_steps = 1;     // batches whose gradients are summed per step
  double clip_grad_norm = 0.0;  // max global gradient norm; 0 = no clipping
  int max_nan_steps = 10;       // consecutive non-finite steps that abort the run
};

}  // namespace l2face::trainer

namespace l2face::trainer {

struct RunOptions {
  std::string dir = "runs/default";  // run directory: summary, effective config, checkpoints, logs
  uint64_t seed = 1;
  std::string device = "auto";     // auto | cpu | cuda
  int threads = 0;                 // intra-op threads; 0 = cores / local ranks
  std::string precision = "auto";  // auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
  ChannelsLast channels_last = ChannelsLast::kAuto;  // NHWC memory format for the convolutions
  // CUDA only: torch's sync-debug mode around each training step (from taking the batch to the
  // optimizer step; not log windows, evaluation or checkpoints). No effect on the CPU.
  SyncDebug cuda_sync_debug = SyncDebug::kOff;
};

}  // namespace l2face::trainer
