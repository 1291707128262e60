// Embedding image files for verification: read, decode (resized to the model input), embed.
#pragma once

#include <cstdint>
#include <functional>

#include "l2face/eval/verification.h"

namespace l2face::trainer {

// Embeds n uint8 RGB images (NHWC, side × side) into out (n × dim floats).
using PixelEmbedder = std::function<void(const uint8_t* nhwc, int n, float* out)>;

// An eval::Embedder that reads and decodes each path (resizing to side × side) and calls embed
// once per batch. A missing or undecodable image is an error naming the file.
eval::Embedder fileEmbedder(PixelEmbedder embed, int side, int dim);

// The same for encoded images held in memory (insightface .bin sets); errors name the record.
eval::BytesEmbedder bytesEmbedder(PixelEmbedder embed, int side, int dim);

}  // namespace l2face::trainer
