// Training-time augmentation of decoded uint8 RGB images; every random decision is a pure function
// of (seed, epoch, sample index), so batches do not depend on threads or timing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "l2face/data/options.h"

namespace l2face::data {

// A rectangle in pixels of the image it applies to.
struct PixelBox {
  int x = 0, y = 0, width = 0, height = 0;
};

// What happens to one sample. Each operation draws from its own stream, mixSeed(seed, epoch,
// index, <operation tag>), so enabling one operation never changes another's decisions (and the
// flip decisions are those of every earlier version of the loader).
struct AugmentPlan {
  bool flip = false;
  bool crop = false;
  uint64_t crop_seed = 0;   // the box depends on the stored size: see cropBox()
  float brightness = 1.0f;  // multiplicative factors; 1 = unchanged
  float contrast = 1.0f;
  float saturation = 1.0f;
  bool grayscale = false;
  float blur_sigma = 0.0f;  // pixels of the output image; 0 = no blur
  bool erase = false;
  uint64_t erase_seed = 0;
};

// Draws the plan of sample `index` in `epoch`. Pure function; thread-safe.
AugmentPlan planAugmentation(const DataOptions& opt, uint64_t seed, int64_t epoch, size_t index);

// True when some operation other than the flip can be active (a cheap test for the loader).
bool needsAugmentation(const DataOptions& opt);

// The random resized crop of a width x height image (torchvision's RandomResizedCrop.get_params:
// area fraction uniform in [crop_scale_min, 1], log aspect ratio uniform in
// [-log crop_ratio_max, log crop_ratio_max], ten tries, then the largest centred box of an allowed
// ratio). Pure function.
PixelBox cropBox(const AugmentPlan& plan, const DataOptions& opt, int width, int height);

// Applies, in this order: flip, brightness, contrast, saturation, grayscale, blur, erasing (the
// crop happens at decode time). rgb is HWC uint8; `scratch` is reused between calls. Pure
// function of its arguments; thread-safe with distinct buffers.
void applyAugmentation(const AugmentPlan& plan, uint8_t* rgb, int width, int height,
                       std::vector<float>& scratch);

}  // namespace l2face::data
