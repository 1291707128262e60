// In-training verification on a pairs file, with the same embedding path as `l2face eval`.
#include "periodic_eval.h"

#include <filesystem>

#include "embed.h"
#include "l2face/trainer/file_embedder.h"

namespace l2face::trainer {

PeriodicEval::PeriodicEval(const eval::EvalOptions& opt, int image_size)
    : opt_(opt), image_size_(image_size) {
  std::string root = opt.images.empty()
                         ? std::filesystem::path(opt.pairs).parent_path().string()
                         : opt.images;
  pairs_ = eval::readPairs(opt.pairs, root, opt.folds);
}

eval::VerificationReport PeriodicEval::run(BackboneImpl& net, const torch::Device& device) {
  net.eval();
  eval::Embedder embed = fileEmbedder(
      [&](const uint8_t* nhwc, int n, float* out) {
        embedPixels(net, nhwc, n, image_size_, device, opt_.flip, out);
      },
      image_size_, net.embedding_dim);
  eval::VerificationReport r =
      eval::runPairs(pairs_, embed, net.embedding_dim, opt_.batch_size, opt_.far,
                     std::filesystem::path(opt_.pairs).filename().string());
  net.train();
  return r;
}

}  // namespace l2face::trainer
