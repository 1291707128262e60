// Loads a trained backbone from a checkpoint and embeds uint8 image batches (with flip test).
#include "l2face/trainer/embedding_model.h"

#include "embed.h"
#include "l2face/checkpoint/store.h"
#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/input.h"
#include "l2face/trainer/internal/model_state.h"

namespace l2face::trainer {
namespace {

class TorchEmbeddingModel final : public EmbeddingModel {
 public:
  TorchEmbeddingModel(const std::string& path, const std::string& device)
      : device_(resolveDevice(device)) {
    checkpoint::LoadedCheckpoint c = checkpoint::openCheckpoint(path);
    geo_ = geometryFromJson(c.manifest.meta, c.dir.string());
    backbone_ = makeBackbone(geo_.model, geo_.image_size);
    loadModule(*backbone_, c.file("backbone.pt"));
    backbone_->to(device_);
    backbone_->eval();
    step_ = c.manifest.step;
    dir_ = c.dir.string();
  }
  int dim() const override { return geo_.model.embedding_dim; }
  int inputSize() const override { return geo_.image_size; }
  int64_t step() const override { return step_; }
  std::string checkpointDir() const override { return dir_; }

  void embed(const uint8_t* nhwc, int n, bool flip_sum, float* out) override {
    embedPixels(*backbone_, nhwc, n, geo_.image_size, device_, flip_sum, out);
  }

 private:
  torch::Device device_;
  ModelGeometry geo_;
  std::shared_ptr<BackboneImpl> backbone_;
  int64_t step_ = 0;
  std::string dir_;
};

}  // namespace

std::unique_ptr<EmbeddingModel> EmbeddingModel::load(const std::string& path,
                                                     const std::string& device) {
  return std::make_unique<TorchEmbeddingModel>(path, device);
}

}  // namespace l2face::trainer
