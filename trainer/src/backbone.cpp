// The tiny backbone: four strided conv stages, then insightface's BN-Dropout-FC-BN embedding.
#include "backbone.h"

#include <stdexcept>

namespace l2face::trainer {
namespace {

// conv3x3 -> norm -> PReLU. norm "none" keeps a bias instead (no per-rank statistics).
struct ConvUnitImpl : torch::nn::Module {
  ConvUnitImpl(int in, int out, int stride, bool batch_norm) {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3)
                                                          .stride(stride)
                                                          .padding(1)
                                                          .bias(!batch_norm)));
    if (batch_norm) bn = register_module("bn", torch::nn::BatchNorm2d(out));
    act = register_module("prelu", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(out)));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = conv->forward(x);
    if (!bn.is_empty()) x = bn->forward(x);
    return act->forward(x);
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::PReLU act{nullptr};
};
TORCH_MODULE(ConvUnit);

// Stage widths w, 2w, 4w, 8w with strides 2 each: S -> S/16 spatial before the embedding.
struct TinyNet : BackboneImpl {
  TinyNet(const ModelOptions& opt, int input_size) {
    if (input_size % 16 != 0 || input_size < 16) {
      throw std::invalid_argument("model.backbone tiny needs data.image_size divisible by 16, got " +
                                  std::to_string(input_size));
    }
    const bool bn_on = opt.norm == "batch";
    const int w = opt.width;
    body = register_module("body", torch::nn::Sequential());
    body->push_back(ConvUnit(3, w, 2, bn_on));
    body->push_back(ConvUnit(w, 2 * w, 2, bn_on));
    body->push_back(ConvUnit(2 * w, 2 * w, 1, bn_on));
    body->push_back(ConvUnit(2 * w, 4 * w, 2, bn_on));
    body->push_back(ConvUnit(4 * w, 4 * w, 1, bn_on));
    body->push_back(ConvUnit(4 * w, 8 * w, 2, bn_on));
    const int side = input_size / 16;
    const int64_t flat = int64_t{8} * w * side * side;
    if (bn_on) bn2 = register_module("bn2", torch::nn::BatchNorm2d(8 * w));
    fc = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(flat, opt.embedding_dim)
                                                     .bias(!bn_on)));
    if (bn_on) {
      features = register_module("features", torch::nn::BatchNorm1d(opt.embedding_dim));
    }
    embedding_dim = opt.embedding_dim;
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = body->forward(x);
    if (!bn2.is_empty()) x = bn2->forward(x);
    x = fc->forward(x.flatten(1));
    if (!features.is_empty()) x = features->forward(x);
    return x;
  }
  torch::nn::Sequential body{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d features{nullptr};
};

}  // namespace

std::shared_ptr<BackboneImpl> makeBackbone(const ModelOptions& opt, int input_size) {
  if (opt.embedding_dim < 1) throw std::invalid_argument("model.embedding_dim must be >= 1");
  if (opt.norm != "batch" && opt.norm != "none") {
    throw std::invalid_argument("model.norm must be batch or none, got '" + opt.norm + "'");
  }
  if (opt.backbone == "tiny") return std::make_shared<TinyNet>(opt, input_size);
  throw std::invalid_argument("unknown model.backbone '" + opt.backbone + "' (available: tiny)");
}

int64_t parameterCount(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace l2face::trainer
