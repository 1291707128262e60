// Backbones: networks from an image batch (N×3×S×S float) to an embedding (N×d).
#pragma once

#include <torch/torch.h>

#include "l2face/trainer/options.h"

namespace l2face::trainer {

struct BackboneImpl : torch::nn::Module {
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  int embedding_dim = 0;
};

// Builds the backbone named by opt.backbone for square inputs of input_size pixels.
// Throws std::invalid_argument for an unknown name or an input size it cannot take.
std::shared_ptr<BackboneImpl> makeBackbone(const ModelOptions& opt, int input_size);

int64_t parameterCount(const torch::nn::Module& m);

}  // namespace l2face::trainer
