// Rendering of one synthetic face photo from identity and image parameters.
#pragma once

#include <cstdint>
#include <vector>

#include "l2face/data/synth_params.h"

namespace l2face::data {

// Renders a size x size RGB (HWC, uint8) photo of `identity` under `image`: per-pixel evaluation
// in canonical face coordinates through the inverse pose transform, anti-aliased edges
// (smoothstep over signed distances, one pixel wide), then the degradations down-sampling, blur
// and noise. JPEG compression (image.jpeg_quality) is left to the caller. Deterministic; pure
// function, thread-safe. Throws std::invalid_argument for size < 8.
std::vector<uint8_t> renderFace(const IdentityParams& identity, const ImageParams& image,
                                int size);

}  // namespace l2face::data
