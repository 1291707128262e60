// EmbeddingModel: a trained backbone loaded from a checkpoint, embedding uint8 images; no torch here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace l2face::trainer {

// Not thread-safe; one owner.
class EmbeddingModel {
 public:
  // path: a checkpoint directory or a run directory (its newest valid checkpoint).
  // device: auto | cpu | cuda.
  static std::unique_ptr<EmbeddingModel> load(const std::string& path, const std::string& device);
  virtual ~EmbeddingModel() = default;

  virtual int dim() const = 0;
  virtual int inputSize() const = 0;  // images must be inputSize() × inputSize() RGB
  virtual int64_t step() const = 0;
  virtual std::string checkpointDir() const = 0;
  // nhwc: n images, uint8 RGB. out: n × dim() floats, not normalised. With flip_sum the embedding
  // of the mirrored image is added (the usual flip test).
  virtual void embed(const uint8_t* nhwc, int n, bool flip_sum, float* out) = 0;
};

}  // namespace l2face::trainer
