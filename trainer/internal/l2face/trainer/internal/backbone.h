// Backbones: networks from an image batch (N×3×H×W float) to an embedding (N×d).
#pragma once

#include <torch/torch.h>

#include <memory>

#include "l2face/trainer/internal/graph_walker.h"
#include "l2face/trainer/options.h"

namespace l2face::trainer {

// describe() emits the eval-mode forward for the ONNX export (GraphWalker).
struct BackboneImpl : torch::nn::Module, GraphDescribable {
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  int embedding_dim = 0;
};

// Builds the backbone named by opt.backbone for inputs of height × width pixels (square inputs:
// the one-side overload). Throws std::invalid_argument naming the key for an unknown name, an
// option the network does not take, or an input size it cannot take.
std::shared_ptr<BackboneImpl> makeBackbone(const ModelOptions& opt, int height, int width);
std::shared_ptr<BackboneImpl> makeBackbone(const ModelOptions& opt, int input_size);

// All parameters, frozen ones included (the convention of published parameter counts).
int64_t parameterCount(const torch::nn::Module& m);

// The individual networks (one file each); makeBackbone checks the shared options first.
std::shared_ptr<BackboneImpl> makeTinyNet(const ModelOptions& opt, int height, int width);
std::shared_ptr<BackboneImpl> makeFaceResNet(const ModelOptions& opt, int height, int width);
std::shared_ptr<BackboneImpl> makeIResNet(const ModelOptions& opt, int depth, int height,
                                          int width);
std::shared_ptr<BackboneImpl> makeMobileFaceNet(const ModelOptions& opt, int height, int width);

}  // namespace l2face::trainer
