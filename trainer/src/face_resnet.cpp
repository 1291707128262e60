// Face-ResNet: the 27-convolution residual network of the center-loss paper, used by Ranjan et al.
#include <stdexcept>

#include "backbone_layers.h"
#include "l2face/trainer/internal/backbone.h"

namespace l2face::trainer {
namespace {

// conv3×3 (stride 1) -> [BN] -> PReLU. Without BN the conv keeps its bias, as in the original.
struct UnitImpl : torch::nn::Module, GraphDescribable {
  UnitImpl(int in, int out, int padding, bool batch_norm) {
    conv = register_module("conv", convLayer(in, out, 3, 1, padding, !batch_norm));
    if (batch_norm) bn = register_module("bn", batchNorm2d(out));
    act = register_module("prelu", prelu(out));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = conv(x);
    return act(bn.is_empty() ? x : bn(x));
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
TORCH_MODULE(Unit);

// Two padded 3×3 units and an identity shortcut.
struct ResUnitImpl : torch::nn::Module, GraphDescribable {
  ResUnitImpl(int channels, bool batch_norm) {
    unit1 = register_module("unit1", Unit(channels, channels, 1, batch_norm));
    unit2 = register_module("unit2", Unit(channels, channels, 1, batch_norm));
  }
  torch::Tensor forward(torch::Tensor x) { return x + unit2(unit1(x)); }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    const std::string u = w.apply(path, "unit2", *unit2, w.apply(path, "unit1", *unit1, x));
    return w.graph().add(path, x, u);
  }
  Unit unit1{nullptr}, unit2{nullptr};
};
TORCH_MODULE(ResUnit);

// conv1a 32, conv1b 64 (unpadded), pool; then per stage k = 2..5: residual units (1, 2, 5, 3 of
// 64, 128, 256, 512 channels) and, for k < 5, an unpadded conv to the next width and a 2×2 max
// pool. 2 + 2·1 + 1 + 2·2 + 1 + 2·5 + 1 + 2·3 = 27 convolutions; fc5 gives the embedding.
// 112×96 input: 108×92 -> 54×46 -> 26×22 -> 12×10 -> 5×4 at fc5. model.width scales every
// width: conv1a has `width` channels (32, the default, is the original network), then 2·, 2·,
// 4·, 8· and 16· width.
struct FaceResNet : BackboneImpl {
  FaceResNet(const ModelOptions& opt, int height, int width) {
    const bool bn_on = opt.norm == "batch";
    const int c = opt.width;
    conv1a = register_module("conv1a", Unit(3, c, 0, bn_on));
    conv1b = register_module("conv1b", Unit(c, 2 * c, 0, bn_on));
    int h = (height - 4) / 2, w = (width - 4) / 2;
    const int widths[4] = {2 * c, 4 * c, 8 * c, 16 * c}, repeats[4] = {1, 2, 5, 3};
    for (int i = 0; i < 4; ++i) {
      res[i] = register_module("res" + std::to_string(i + 2), torch::nn::Sequential());
      for (int r = 0; r < repeats[i]; ++r) res[i]->push_back(ResUnit(widths[i], bn_on));
      if (i < 3) {
        conv[i] = register_module("conv" + std::to_string(i + 2),
                                  Unit(widths[i], widths[i + 1], 0, bn_on));
        h = (h - 2) / 2;
        w = (w - 2) / 2;
      }
    }
    if (h < 1 || w < 1) {
      throw std::invalid_argument(
          "model.backbone face_resnet needs inputs of at least 48×48 pixels, got " +
          std::to_string(height) + "×" + std::to_string(width));
    }
    fc5 = register_module("fc5", torch::nn::Linear(int64_t{widths[3]} * h * w, opt.embedding_dim));
    embedding_dim = opt.embedding_dim;

    torch::NoGradGuard no_grad;  // Xavier weights and zero biases, as the Caffe original
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* c = m->as<torch::nn::Conv2dImpl>()) {
        torch::nn::init::xavier_uniform_(c->weight);
        if (c->bias.defined()) torch::nn::init::zeros_(c->bias);
      }
    }
    torch::nn::init::xavier_uniform_(fc5->weight);
    torch::nn::init::zeros_(fc5->bias);
  }
  torch::Tensor forward(torch::Tensor x) override {
    namespace F = torch::nn::functional;
    const auto pool = F::MaxPool2dFuncOptions(2).stride(2);
    x = F::max_pool2d(conv1b(conv1a(x)), pool);
    for (int i = 0; i < 3; ++i) x = F::max_pool2d(conv[i](res[i]->forward(x)), pool);
    return fc5(res[3]->forward(x).flatten(1));
  }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    deploy::NetGraph& g = w.graph();
    const std::string pool = GraphWalker::join(path, "max_pool");
    std::string v = w.apply(path, "conv1b", *conv1b, w.apply(path, "conv1a", *conv1a, x));
    v = g.maxPool(pool, v, 2, 2);
    for (int i = 0; i < 3; ++i) {
      v = w.apply(path, "res" + std::to_string(i + 2), *res[i], v);
      v = g.maxPool(pool, w.apply(path, "conv" + std::to_string(i + 2), *conv[i], v), 2, 2);
    }
    v = w.apply(path, "res5", *res[3], v);
    return w.apply(path, "fc5", *fc5, g.flatten(GraphWalker::join(path, "flatten"), v));
  }
  Unit conv1a{nullptr}, conv1b{nullptr};
  std::array<Unit, 3> conv{nullptr, nullptr, nullptr};
  std::array<torch::nn::Sequential, 4> res{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Linear fc5{nullptr};
};

}  // namespace

std::shared_ptr<BackboneImpl> makeFaceResNet(const ModelOptions& opt, int height, int width) {
  return std::make_shared<FaceResNet>(opt, height, width);
}

}  // namespace l2face::trainer
