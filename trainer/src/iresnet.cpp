// IResNet-18/34/50/100 as insightface's arcface_torch defines them, with its parameter names.
#include <stdexcept>

#include "backbone_layers.h"
#include "l2face/trainer/internal/backbone.h"

namespace l2face::trainer {
namespace {

// The "improved" basic block: BN-conv3x3-BN-PReLU-conv3x3(stride)-BN, plus the shortcut
// (1×1 conv + BN where the shape changes). No activation after the addition.
struct IBasicBlockImpl : torch::nn::Module, GraphDescribable {
  IBasicBlockImpl(int inplanes, int planes, int stride) {
    bn1 = register_module("bn1", batchNorm2d(inplanes));
    conv1 = register_module("conv1", convLayer(inplanes, planes, 3, 1, 1, false));
    bn2 = register_module("bn2", batchNorm2d(planes));
    act = register_module("prelu", prelu(planes));
    conv2 = register_module("conv2", convLayer(planes, planes, 3, stride, 1, false));
    bn3 = register_module("bn3", batchNorm2d(planes));
    if (stride != 1 || inplanes != planes) {
      downsample = register_module(
          "downsample", torch::nn::Sequential(convLayer(inplanes, planes, 1, stride, 0, false),
                                              batchNorm2d(planes)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor out = bn3(conv2(act(bn2(conv1(bn1(x))))));
    return out + (downsample.is_empty() ? x : downsample->forward(x));
  }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    std::string v = w.apply(path, "conv1", *conv1, w.apply(path, "bn1", *bn1, x));
    v = w.apply(path, "prelu", *act, w.apply(path, "bn2", *bn2, v));
    v = w.apply(path, "bn3", *bn3, w.apply(path, "conv2", *conv2, v));
    const std::string shortcut =
        downsample.is_empty() ? x : w.apply(path, "downsample", *downsample, x);
    return w.graph().add(path, v, shortcut);
  }
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::PReLU act{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(IBasicBlock);

struct IResNet : BackboneImpl {
  IResNet(const ModelOptions& opt, const std::array<int, 4>& layers, int height, int width) {
    conv1 = register_module("conv1", convLayer(3, 64, 3, 1, 1, false));
    bn1 = register_module("bn1", batchNorm2d(64));
    act = register_module("prelu", prelu(64));
    const int planes[4] = {64, 128, 256, 512};
    int inplanes = 64;
    for (int i = 0; i < 4; ++i) {
      torch::nn::Sequential stage;
      stage->push_back(IBasicBlock(inplanes, planes[i], 2));
      for (int b = 1; b < layers[i]; ++b) stage->push_back(IBasicBlock(planes[i], planes[i], 1));
      stages[i] = register_module("layer" + std::to_string(i + 1), stage);
      inplanes = planes[i];
      height = halfSide(height);
      width = halfSide(width);
    }
    bn2 = register_module("bn2", batchNorm2d(512));
    dropout = register_module("dropout", torch::nn::Dropout(opt.dropout));
    fc = register_module("fc", torch::nn::Linear(int64_t{512} * height * width, opt.embedding_dim));
    features = register_module(
        "features",
        torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(opt.embedding_dim).eps(1e-5)));
    embedding_dim = opt.embedding_dim;

    // insightface's initialisation: conv N(0, 0.1), BN scale 1 / shift 0, and the embedding BN's
    // scale fixed at 1 (frozen), so the embedding is only centred and scaled by its statistics.
    torch::NoGradGuard no_grad;
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* c = m->as<torch::nn::Conv2dImpl>()) {
        torch::nn::init::normal_(c->weight, 0, 0.1);
      } else if (auto* b = m->as<torch::nn::BatchNorm2dImpl>()) {
        torch::nn::init::ones_(b->weight);
        torch::nn::init::zeros_(b->bias);
      }
    }
    torch::nn::init::ones_(features->weight);
    features->weight.set_requires_grad(false);
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = act(bn1(conv1(x)));
    for (auto& s : stages) x = s->forward(x);
    x = dropout(bn2(x).flatten(1));
    return features(fc(x));
  }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    std::string v = w.apply(path, "bn1", *bn1, w.apply(path, "conv1", *conv1, x));
    v = w.apply(path, "prelu", *act, v);
    for (int i = 0; i < 4; ++i) v = w.apply(path, "layer" + std::to_string(i + 1), *stages[i], v);
    v = w.apply(path, "bn2", *bn2, v);
    v = w.apply(path, "dropout", *dropout,
                w.graph().flatten(GraphWalker::join(path, "flatten"), v));
    return w.apply(path, "features", *features, w.apply(path, "fc", *fc, v));
  }
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::PReLU act{nullptr};
  std::array<torch::nn::Sequential, 4> stages{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d features{nullptr};
};

}  // namespace

std::shared_ptr<BackboneImpl> makeIResNet(const ModelOptions& opt, int depth, int height,
                                          int width) {
  std::array<int, 4> layers;
  switch (depth) {
    case 18:
      layers = {2, 2, 2, 2};
      break;
    case 34:
      layers = {3, 4, 6, 3};
      break;
    case 50:
      layers = {3, 4, 14, 3};
      break;
    case 100:
      layers = {3, 13, 30, 3};
      break;
    default:
      throw std::invalid_argument("no iresnet" + std::to_string(depth));
  }
  return std::make_shared<IResNet>(opt, layers, height, width);
}

}  // namespace l2face::trainer
