// Options of the data module: dataset location, batching, loader threads, augmentation and the
// bad-input policy.
#pragma once

#include <cstdint>
#include <string>

namespace l2face::data {

struct DataOptions {
  std::string train;           // a dataset spec (see openDataset): ImageFolder root, .rec file(s)
                               // (comma-separated), or a glob of .rec shards
  int batch_size = 64;         // per rank; with a fixed global_batch: the largest per rank
  int64_t global_batch = 0;    // images per optimizer step, all ranks; 0 = batch_size × ranks ×
                               // optim.accumulate_steps. When > 0 it is split over the ranks
                               // (trainer::splitGlobalBatch).
  int workers = 0;             // loader threads; 0 = from the CPU count
  int prefetch = 4;            // ready batches kept ahead of the trainer
  int image_size = 112;        // model input side (square); images are resized when they differ

  // Augmentation (training only). Every decision is a function of (seed, epoch, sample index).
  double flip_p = 0.5;               // horizontal flip probability
  double random_resized_crop = 0.0;  // probability of a random resized crop
  double crop_scale_min = 0.5;       // crop area, as a fraction of the image: [crop_scale_min, 1]
  double crop_ratio_max = 4.0 / 3.0; // crop aspect ratio w/h in [1/crop_ratio_max, crop_ratio_max]
  double brightness = 0.0;           // jitter strength b: factor uniform in [max(0, 1-b), 1+b]
  double contrast = 0.0;             // same, blending with the image's mean grey
  double saturation = 0.0;           // same, blending with each pixel's grey
  double grayscale_p = 0.0;          // probability of converting to grey (kept 3-channel)
  double blur_p = 0.0;               // probability of a Gaussian blur, sigma uniform in [0.1, 2] px
  double erase_p = 0.0;              // probability of random erasing (a grey rectangle)

  // Bad input: more distinct undecodable samples than this fraction of the dataset stops the
  // loader with a DataError (0 = none tolerated, 1 = never stop).
  double max_bad_fraction = 0.01;
};

}  // namespace l2face::data
