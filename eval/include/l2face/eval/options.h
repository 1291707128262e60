// Options of the eval module: verification sets, embedding and the reported rates.
#pragma once

#include <string>
#include <vector>

namespace l2face::eval {

struct EvalOptions {
  std::string pairs;           // LFW-style pairs file; images resolved against its folder
  std::string images;          // image root for the pairs ("" = the pairs file's folder)
  std::string bins;            // insightface .bin sets, comma-separated ("" = none)
  std::string templates;       // templates.csv, or a folder holding it ("" = none)
  std::string template_pairs;  // "" = template_pairs.csv beside the templates file
  bool media_pool = false;     // templates: average within each media id first (IJB)
  std::string all_vs_all;      // ImageFolder tree root/<identity>/*.jpg: every pair ("" = none)
  bool flip = true;            // embed image + mirror, summed
  int batch_size = 128;
  int folds = 10;
  // FARs at which TAR is reported: the decades 1e-6 .. 1e-1 (those below 1/#negatives are
  // reported as not measurable).
  std::vector<double> far = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1};
  int every_steps = 0;  // evaluate during training (rank 0); 0 = off
};

}  // namespace l2face::eval
