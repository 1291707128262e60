// Options of the data module: dataset location, batching, loader threads and augmentation.
#pragma once

#include <cstdint>
#include <string>

namespace l2face::data {

struct DataOptions {
  std::string train;           // ImageFolder root (a later format adds .rec files)
  int batch_size = 64;         // per rank
  int workers = 0;             // loader threads; 0 = from the CPU count
  int prefetch = 4;            // ready batches kept ahead of the trainer
  int image_size = 112;        // model input side (square); images are resized when they differ
  double flip_p = 0.5;         // horizontal flip probability (training only)
};

}  // namespace l2face::data
