// Starting a run from a pretrained backbone (model.init): an l2face checkpoint or run directory,
// an `l2face export` file or an insightface / arcface_torch state dict, validated before loading.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "state_dict_file.h"

namespace l2face::trainer {

// A pretrained backbone that cannot be used (unreadable, not a state dict, or not this backbone's
// tensors); the message names the path and lists every problem. A usage error (exit code 2).
class InitError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Every way `given` differs from `expected` (a backbone's moduleState), one line each: a missing
// name with its expected shape, an unexpected name with its shape in the file, a shape mismatch
// with both shapes. BatchNorm num_batches_tracked entries may be absent (files of older PyTorch
// versions, or written without them). Empty when `given` fits.
std::vector<std::string> stateMismatches(const NamedTensors& expected, const NamedTensors& given);

// Where a run's backbone started, as recorded in its checkpoints' meta ("init") and log.
struct InitSource {
  std::string path;     // as given
  std::string kind;     // "checkpoint" (l2face) or "state dict" (torch.save file)
  std::string file;     // the file read: the checkpoint's backbone.pt, or the state-dict file
  std::string xxh64;    // of that file
  int64_t tensors = 0;  // tensors loaded
  int64_t step = -1;    // the checkpoint's step (checkpoints only)
  nlohmann::json json() const;
};

// Loads the backbone weights of `path` into `net` (its parameters and buffers, on their device):
// a directory is an l2face checkpoint or run directory (its newest valid checkpoint; only
// backbone.pt is read, the classifier never), a file a torch.save state dict (l2face export,
// insightface names for iresnet*; keys all prefixed "module." are taken without the prefix).
// Everything is validated first: nothing is copied unless every tensor fits. A num_batches_tracked
// buffer the file lacks is set to 0. Throws InitError (exit code 2).
InitSource loadPretrainedBackbone(torch::nn::Module& net, const std::string& path);

// Puts every BatchNorm of `net` in evaluation mode (running statistics used, never updated), the
// rest of the module as it is.
void freezeBatchNorm(torch::nn::Module& net);

}  // namespace l2face::trainer
