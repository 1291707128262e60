// MobileFaceNet (Chen et al. 2018, Table 1) with insightface's module names and GDC embedding.
#include <stdexcept>

#include "backbone_layers.h"
#include "l2face/trainer/internal/backbone.h"

namespace l2face::trainer {
namespace {

// conv -> BN -> PReLU ("layers.0/1/2", as insightface's ConvBlock).
struct ConvBlockImpl : torch::nn::Module, GraphDescribable {
  ConvBlockImpl(int in, int out, int kernel, int stride, int padding, int groups) {
    layers = register_module(
        "layers", torch::nn::Sequential(convLayer(in, out, kernel, stride, padding, false, groups),
                                        batchNorm2d(out), prelu(out)));
  }
  torch::Tensor forward(torch::Tensor x) { return layers->forward(x); }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    return w.apply(path, "layers", *layers, x);
  }
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(ConvBlock);

// conv -> BN, no activation (the "linear" bottleneck output and the GDC).
struct LinearBlockImpl : torch::nn::Module, GraphDescribable {
  LinearBlockImpl(int in, int out, torch::ExpandingArray<2> kernel, int groups) {
    layers = register_module(
        "layers",
        torch::nn::Sequential(
            torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).groups(groups).bias(false)),
            batchNorm2d(out)));
  }
  torch::Tensor forward(torch::Tensor x) { return layers->forward(x); }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    return w.apply(path, "layers", *layers, x);
  }
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(LinearBlock);

// The inverted-residual bottleneck: 1×1 expand to `hidden`, 3×3 depthwise (stride), 1×1 linear.
struct DepthWiseImpl : torch::nn::Module, GraphDescribable {
  DepthWiseImpl(int in, int out, bool residual_, int stride, int hidden) : residual(residual_) {
    layers = register_module("layers",
                             torch::nn::Sequential(ConvBlock(in, hidden, 1, 1, 0, 1),
                                                   ConvBlock(hidden, hidden, 3, stride, 1, hidden),
                                                   LinearBlock(hidden, out, 1, 1)));
  }
  torch::Tensor forward(torch::Tensor x) {
    return residual ? x + layers->forward(x) : layers->forward(x);
  }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    const std::string v = w.apply(path, "layers", *layers, x);
    return residual ? w.graph().add(path, x, v) : v;
  }
  bool residual;
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(DepthWise);

struct ResidualImpl : torch::nn::Module, GraphDescribable {
  ResidualImpl(int channels, int blocks, int hidden) {
    layers = register_module("layers", torch::nn::Sequential());
    for (int i = 0; i < blocks; ++i)
      layers->push_back(DepthWise(channels, channels, true, 1, hidden));
  }
  torch::Tensor forward(torch::Tensor x) { return layers->forward(x); }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    return w.apply(path, "layers", *layers, x);
  }
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(Residual);

// Global depthwise convolution over the whole final map, then a linear 512 -> d embedding.
struct GdcImpl : torch::nn::Module, GraphDescribable {
  GdcImpl(int height, int width, int embedding_dim) {
    layers = register_module(
        "layers",
        torch::nn::Sequential(
            LinearBlock(512, 512, torch::ExpandingArray<2>({int64_t{height}, int64_t{width}}), 512),
            torch::nn::Flatten(),
            torch::nn::Linear(torch::nn::LinearOptions(512, embedding_dim).bias(false)),
            torch::nn::BatchNorm1d(embedding_dim)));
  }
  torch::Tensor forward(torch::Tensor x) { return layers->forward(x); }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    return w.apply(path, "layers", *layers, x);
  }
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(Gdc);

// Table 1 of the paper (t = expansion): conv3×3/2 64; dw3×3 64; bottleneck t2 64 ×5 (first /2);
// t4 128 /2; t2 128 ×6; t4 128 /2; t2 128 ×2; conv1×1 512; GDC; linear d.
struct MobileFaceNet : BackboneImpl {
  MobileFaceNet(const ModelOptions& opt, int height, int width) {
    layers = register_module("layers", torch::nn::Sequential());
    layers->push_back(ConvBlock(3, 64, 3, 2, 1, 1));
    layers->push_back(ConvBlock(64, 64, 3, 1, 1, 64));
    layers->push_back(DepthWise(64, 64, false, 2, 128));
    layers->push_back(Residual(64, 4, 128));
    layers->push_back(DepthWise(64, 128, false, 2, 256));
    layers->push_back(Residual(128, 6, 256));
    layers->push_back(DepthWise(128, 128, false, 2, 512));
    layers->push_back(Residual(128, 2, 256));
    conv_sep = register_module("conv_sep", ConvBlock(128, 512, 1, 1, 0, 1));
    for (int i = 0; i < 4; ++i) {
      height = halfSide(height);
      width = halfSide(width);
    }
    features = register_module("features", Gdc(height, width, opt.embedding_dim));
    embedding_dim = opt.embedding_dim;

    torch::NoGradGuard no_grad;  // insightface's initialisation
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* c = m->as<torch::nn::Conv2dImpl>()) {
        torch::nn::init::kaiming_normal_(c->weight, 0, torch::kFanOut, torch::kReLU);
      } else if (auto* l = m->as<torch::nn::LinearImpl>()) {
        torch::nn::init::kaiming_normal_(l->weight, 0, torch::kFanOut, torch::kReLU);
      } else if (auto* b = m->as<torch::nn::BatchNorm2dImpl>()) {
        torch::nn::init::ones_(b->weight);
        torch::nn::init::zeros_(b->bias);
      }
    }
  }
  torch::Tensor forward(torch::Tensor x) override { return features(conv_sep(layers->forward(x))); }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    const std::string v = w.apply(path, "conv_sep", *conv_sep, w.apply(path, "layers", *layers, x));
    return w.apply(path, "features", *features, v);
  }
  torch::nn::Sequential layers{nullptr};
  ConvBlock conv_sep{nullptr};
  Gdc features{nullptr};
};

}  // namespace

std::shared_ptr<BackboneImpl> makeMobileFaceNet(const ModelOptions& opt, int height, int width) {
  return std::make_shared<MobileFaceNet>(opt, height, width);
}

}  // namespace l2face::trainer
