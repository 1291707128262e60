// "In the wild" placement for the synthetic corpus: a canonical face crop drawn at a random
// similarity transform on a larger canvas, with the five landmarks a face detector would report.
#pragma once

#include <cstdint>
#include <vector>

#include "l2face/data/align.h"
#include "l2face/data/random.h"

namespace l2face::data {

// Where a canonical face (a face_size × face_size crop aligned to arcFaceTemplate(face_size))
// lands on the canvas.
struct WildPlacement {
  Similarity face_to_canvas;  // canonical-crop pixel coordinates -> canvas pixel coordinates
  int canvas_w = 0;
  int canvas_h = 0;
  uint8_t background[3] = {0, 0, 0};  // colour at the canvas's top (a vertical gradient below)
  uint8_t background_bottom[3] = {0, 0, 0};
};

// Draws a placement from rng: scale in [0.75, 1.6] of face_size, rotation N(0, 12°·difficulty)
// clipped to ±40°, a canvas of 1.4–2.4 face sizes per side (enlarged when the rotated crop would
// not fit) and a position that keeps the whole crop on the canvas, so aligning by the true
// landmarks never samples outside it.
WildPlacement drawWildPlacement(Rng& rng, int face_size, double difficulty);

struct WildImage {
  std::vector<uint8_t> rgb;  // canvas_w × canvas_h × 3
  int width = 0;
  int height = 0;
  FivePoints points;       // arcFaceTemplate(face_size) mapped onto the canvas, plus noise
  FivePoints true_points;  // without noise
};

// Renders `crop` (crop_size × crop_size RGB, aligned to arcFaceTemplate(crop_size); crop_size may
// exceed face_size for more detail on enlarged faces) on the placement's canvas. point_noise:
// standard deviation in canvas pixels of the Gaussian noise added to each reported landmark
// coordinate (a detector's error), drawn from rng.
WildImage placeInTheWild(const uint8_t* crop, int crop_size, int face_size,
                         const WildPlacement& placement, double point_noise, Rng& rng);

}  // namespace l2face::data
