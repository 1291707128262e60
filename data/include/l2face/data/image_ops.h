// Small image operations on interleaved RGB buffers: resampling and horizontal flip.
#pragma once

#include <cstdint>

namespace l2face::data {

// Resamples an interleaved image with `channels` channels (HWC) from src_w x src_h to
// dst_w x dst_h using a separable triangle (bilinear) filter with pixel-centre alignment
// (align_corners = false). When shrinking, the filter support widens with the ratio so large
// reductions average instead of aliasing; when enlarging it is plain bilinear interpolation.
// Pure function; thread-safe. src and dst must not overlap.
void resizeImage(const uint8_t* src, int src_w, int src_h, uint8_t* dst, int dst_w, int dst_h,
                 int channels = 3);
void resizeImage(const float* src, int src_w, int src_h, float* dst, int dst_w, int dst_h,
                 int channels = 3);

// Mirrors an interleaved image left-right in place.
void flipHorizontal(uint8_t* pixels, int width, int height, int channels = 3);

}  // namespace l2face::data
