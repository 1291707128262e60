// Options of the trainer module: run, backbone, head, classifier, optimizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace l2face::trainer {

struct ModelOptions {
  // tiny | face_resnet | iresnet18 | iresnet34 | iresnet50 | iresnet100 | mobilefacenet
  std::string backbone = "tiny";
  int embedding_dim = 512;
  std::string norm = "batch";  // batch | none (none: no BatchNorm; tiny and face_resnet only)
  int width = 32;              // channels of the first stage of the tiny backbone
  double dropout = 0.0;        // before the embedding FC (tiny, iresnet*), as insightface's
};

struct HeadOptions {
  std::string type = "l2_softmax";  // l2_softmax | softmax | normface | cosface | arcface
  double alpha = 16.0;              // radius of the feature hypersphere (l2_softmax)
  bool alpha_auto = false;          // α = α_low(C, p) = log(p(C-2)/(1-p))
  bool alpha_learnable = false;     // α is a trained scalar, initialised from alpha / auto
  double p = 0.9;                   // target softmax probability for the auto α bound
  bool bias = true;                 // classifier bias (l2_softmax, softmax)
  double scale = 64.0;              // s of the normalised heads (normface, cosface, arcface)
  double margin = 0.5;              // m: arcface angle (radians), cosface cosine margin
};

struct ClassifierOptions {
  // auto | replicated | sharded. auto: sharded when world > 1 and C >= shard_min_classes, or
  // when sample_rate < 1; replicated otherwise.
  std::string parallel = "auto";
  int64_t shard_min_classes = 16384;
  // Fraction of a rank's classes in each step's logits (sharded): every positive class of the
  // global batch plus a uniform random subset of the others. 1 = exact softmax over all classes.
  double sample_rate = 1.0;
};

struct OptimOptions {
  std::string type = "sgd";  // sgd | adamw
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
  bool channels_last = true;       // CUDA only: NHWC memory format for the convolutions
};

}  // namespace l2face::trainer
