// Embedding IJB loose crops: decode, align by the five landmarks (data's alignFace), embed.
#pragma once

#include "l2face/eval/ijb.h"
#include "l2face/trainer/file_embedder.h"

namespace l2face::launch {

// An eval::FaceEmbedder that decodes each crop at its stored size, checks that its landmarks lie
// on the crop (else EvalError naming the landmark line and field), aligns it to the ArcFace
// template at side × side (insightface's norm_crop scaled by side / 112) and calls embed once per
// batch. An unreadable or undecodable crop is an error naming the file.
eval::FaceEmbedder alignedFaceEmbedder(trainer::PixelEmbedder embed, int side, int dim);

}  // namespace l2face::launch
