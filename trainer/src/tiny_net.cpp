// The tiny backbone: four strided conv stages, then insightface's BN-Dropout-FC-BN embedding.
#include <stdexcept>

#include "backbone_layers.h"
#include "l2face/trainer/internal/backbone.h"

namespace l2face::trainer {
namespace {

// conv3x3 -> norm -> PReLU. norm "none" keeps a bias instead (no per-rank statistics).
struct ConvUnitImpl : torch::nn::Module, GraphDescribable {
  ConvUnitImpl(int in, int out, int stride, bool batch_norm) {
    conv = register_module("conv", convLayer(in, out, 3, stride, 1, !batch_norm));
    if (batch_norm) bn = register_module("bn", torch::nn::BatchNorm2d(out));
    act = register_module("prelu", prelu(out));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = conv->forward(x);
    if (!bn.is_empty()) x = bn->forward(x);
    return act->forward(x);
  }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    std::string v = w.apply(path, "conv", *conv, x);
    if (!bn.is_empty()) v = w.apply(path, "bn", *bn, v);
    return w.apply(path, "prelu", *act, v);
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::PReLU act{nullptr};
};
TORCH_MODULE(ConvUnit);

// Stage widths w, 2w, 4w, 8w with strides 2 each: S -> S/16 spatial before the embedding.
struct TinyNet : BackboneImpl {
  TinyNet(const ModelOptions& opt, int height, int width) {
    for (int side : {height, width}) {
      if (side % 16 != 0 || side < 16) {
        throw std::invalid_argument(
            "model.backbone tiny needs data.image_size divisible by 16, got " +
            std::to_string(side));
      }
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
    const int64_t flat = int64_t{8} * w * (height / 16) * (width / 16);
    if (bn_on) bn2 = register_module("bn2", torch::nn::BatchNorm2d(8 * w));
    dropout = register_module("dropout", torch::nn::Dropout(opt.dropout));
    fc = register_module(
        "fc", torch::nn::Linear(torch::nn::LinearOptions(flat, opt.embedding_dim).bias(!bn_on)));
    if (bn_on) {
      features = register_module("features", torch::nn::BatchNorm1d(opt.embedding_dim));
    }
    embedding_dim = opt.embedding_dim;
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = body->forward(x);
    if (!bn2.is_empty()) x = bn2->forward(x);
    x = fc->forward(dropout->forward(x.flatten(1)));
    if (!features.is_empty()) x = features->forward(x);
    return x;
  }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    std::string v = w.apply(path, "body", *body, x);
    if (!bn2.is_empty()) v = w.apply(path, "bn2", *bn2, v);
    v = w.apply(path, "dropout", *dropout,
                w.graph().flatten(GraphWalker::join(path, "flatten"), v));
    v = w.apply(path, "fc", *fc, v);
    return features.is_empty() ? v : w.apply(path, "features", *features, v);
  }
  torch::nn::Sequential body{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d features{nullptr};
};

}  // namespace

std::shared_ptr<BackboneImpl> makeTinyNet(const ModelOptions& opt, int height, int width) {
  if (opt.width < 1) throw std::invalid_argument("model.width must be >= 1");
  return std::make_shared<TinyNet>(opt, height, width);
}

}  // namespace l2face::trainer
