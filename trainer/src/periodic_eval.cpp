// In-training verification of every configured set, with the same embedding path as `l2face eval`.
#include "periodic_eval.h"

#include "embed.h"
#include "l2face/trainer/file_embedder.h"

namespace l2face::trainer {

PeriodicEval::PeriodicEval(const eval::EvalOptions& opt, int image_size)
    : opt_(opt), image_size_(image_size), suite_(opt) {}

std::vector<eval::VerificationReport> PeriodicEval::run(BackboneImpl& net,
                                                        const torch::Device& device) {
  net.eval();
  PixelEmbedder pixels = [&](const uint8_t* nhwc, int n, float* out) {
    embedPixels(net, nhwc, n, image_size_, device, opt_.flip, out);
  };
  const int dim = net.embedding_dim;
  std::vector<eval::VerificationReport> reports = suite_.run(
      fileEmbedder(pixels, image_size_, dim),
      suite_.needsBytes() ? bytesEmbedder(pixels, image_size_, dim) : eval::BytesEmbedder(), dim);
  net.train();
  return reports;
}

}  // namespace l2face::trainer
