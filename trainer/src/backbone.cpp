// The backbone factory: checks the shared model options and builds the named network.
#include "l2face/trainer/internal/backbone.h"

#include <stdexcept>

namespace l2face::trainer {

std::shared_ptr<BackboneImpl> makeBackbone(const ModelOptions& opt, int height, int width) {
  if (opt.embedding_dim < 1) throw std::invalid_argument("model.embedding_dim must be >= 1");
  if (opt.norm != "batch" && opt.norm != "none") {
    throw std::invalid_argument("model.norm must be batch or none, got '" + opt.norm + "'");
  }
  if (!(opt.dropout >= 0 && opt.dropout < 1)) {
    throw std::invalid_argument("model.dropout must be in [0, 1)");
  }
  if (height < 16 || width < 16) {
    throw std::invalid_argument("model input must be at least 16×16 pixels, got " +
                                std::to_string(height) + "×" + std::to_string(width));
  }
  const std::string& name = opt.backbone;
  if (name == "tiny") return makeTinyNet(opt, height, width);
  if (name == "face_resnet") return makeFaceResNet(opt, height, width);
  if (opt.norm == "none") {
    throw std::invalid_argument("model.norm none is available for tiny and face_resnet only, not " +
                                name);
  }
  if (name == "mobilefacenet") return makeMobileFaceNet(opt, height, width);
  for (int depth : {18, 34, 50, 100}) {
    if (name == "iresnet" + std::to_string(depth)) return makeIResNet(opt, depth, height, width);
  }
  throw std::invalid_argument("unknown model.backbone '" + name +
                              "' (available: tiny, face_resnet, iresnet18, iresnet34, iresnet50, "
                              "iresnet100, mobilefacenet)");
}

std::shared_ptr<BackboneImpl> makeBackbone(const ModelOptions& opt, int input_size) {
  return makeBackbone(opt, input_size, input_size);
}

int64_t parameterCount(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace l2face::trainer
