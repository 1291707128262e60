// Options of the trainer module: backbone, head, classifier, optimizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace l2face::trainer {

struct ModelOptions {
  std::string backbone = "tiny";  // tiny (more in later releases)
  int embedding_dim = 512;
  std::string norm = "batch";     // batch | none (none: no BatchNorm, for exact distributed tests)
  int width = 32;                 // channels of the first stage of the tiny backbone
};

struct HeadOptions {
  std::string type = "l2_softmax";  // l2_softmax | softmax
  double alpha = 16.0;              // radius of the feature hypersphere (fixed α)
  bool alpha_auto = false;          // α = α_low(C, p) = log(p(C-2)/(1-p))
  double p = 0.9;                   // target softmax probability for the auto α bound
  bool bias = true;                 // classifier bias
};

struct ClassifierOptions {
  std::string parallel = "replicated";  // replicated (sharded comes with the model-parallel classifier)
};

struct OptimOptions {
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
  int64_t max_steps = 1000;
  int64_t warmup_steps = 0;
  std::string schedule = "cosine";        // constant | cosine | step
  std::vector<int64_t> milestones;        // for step: steps at which lr *= gamma
  double gamma = 0.1;
};

}  // namespace l2face::trainer

namespace l2face::trainer {

struct RunOptions {
  std::string dir = "runs/default";  // run directory: summary, effective config, checkpoints, logs
  uint64_t seed = 1;
  std::string device = "auto";       // auto | cpu | cuda
  int threads = 0;                   // intra-op threads; 0 = cores / local ranks
};

}  // namespace l2face::trainer
