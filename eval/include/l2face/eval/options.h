// Options of the eval module: verification protocol and embedding.
#pragma once

#include <string>
#include <vector>

namespace l2face::eval {

struct EvalOptions {
  std::string pairs;                  // LFW-style pairs file; images resolved against its folder
  std::string images;                 // image root for the pairs ("" = the pairs file's folder)
  bool flip = true;                   // embed image + mirror, summed
  int batch_size = 128;
  int folds = 10;
  std::vector<double> far = {1e-3, 1e-2};  // FARs at which TAR is reported
  int every_steps = 0;                // evaluate during training (rank 0); 0 = off
};

}  // namespace l2face::eval
