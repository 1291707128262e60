// "In the wild" placement of canonical synthetic faces on larger canvases, with their landmarks.
#include "l2face/data/synth_wild.h"

#include <algorithm>
#include <cmath>

namespace l2face::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

// The canvas-space bounding box of a side × side square under t.
void boundingBox(const Similarity& t, double side, double& x0, double& y0, double& x1, double& y1) {
  const Point2 corners[4] = {{0, 0}, {side, 0}, {0, side}, {side, side}};
  x0 = y0 = 1e300, x1 = y1 = -1e300;
  for (const Point2& c : corners) {
    const Point2 p = t.apply(c);
    x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
  }
}

}  // namespace

WildPlacement drawWildPlacement(Rng& rng, int face_size, double difficulty) {
  WildPlacement p;
  const double scale = rng.uniform(0.75, 1.6);
  const double limit = 40.0 * kPi / 180.0;
  const double angle = std::clamp(rng.normal(0.0, 12.0 * difficulty * kPi / 180.0), -limit, limit);
  Similarity t{scale * std::cos(angle), scale * std::sin(angle), 0.0, 0.0};
  double x0, y0, x1, y1;
  boundingBox(t, face_size - 1.0, x0, y0, x1, y1);
  const double need_w = x1 - x0 + 2.0, need_h = y1 - y0 + 2.0;
  p.canvas_w = static_cast<int>(std::ceil(std::max(need_w, face_size * rng.uniform(1.4, 2.4))));
  p.canvas_h = static_cast<int>(std::ceil(std::max(need_h, face_size * rng.uniform(1.4, 2.4))));
  // Uniform position with the box (plus one pixel of margin) inside the canvas.
  const double left = rng.uniform(1.0, std::max(1.0, p.canvas_w - need_w + 1.0));
  const double top = rng.uniform(1.0, std::max(1.0, p.canvas_h - need_h + 1.0));
  t.tx = left - x0;
  t.ty = top - y0;
  p.face_to_canvas = t;
  for (int c = 0; c < 3; ++c) {
    p.background[c] = static_cast<uint8_t>(rng.below(256));
    p.background_bottom[c] = static_cast<uint8_t>(rng.below(256));
  }
  return p;
}

WildImage placeInTheWild(const uint8_t* crop, int crop_size, int face_size,
                         const WildPlacement& placement, double point_noise, Rng& rng) {
  WildImage w;
  w.width = placement.canvas_w;
  w.height = placement.canvas_h;
  w.rgb.resize(static_cast<size_t>(w.width) * w.height * 3);
  // The scene: a vertical gradient between the two background colours.
  for (int y = 0; y < w.height; ++y) {
    const double f = w.height > 1 ? static_cast<double>(y) / (w.height - 1) : 0.0;
    uint8_t colour[3];
    for (int c = 0; c < 3; ++c) {
      colour[c] = static_cast<uint8_t>(
          std::lround((1 - f) * placement.background[c] + f * placement.background_bottom[c]));
    }
    for (int x = 0; x < w.width; ++x) {
      std::copy(colour, colour + 3, &w.rgb[(static_cast<size_t>(y) * w.width + x) * 3]);
    }
  }
  // crop pixels -> canonical face pixels -> canvas; the crop's own square is drawn over the scene.
  const double k = static_cast<double>(face_size) / crop_size;
  const Similarity crop_to_canvas = placement.face_to_canvas.after(Similarity{k, 0.0, 0.0, 0.0});
  std::vector<uint8_t> layer(w.rgb.size());
  const uint8_t key[3] = {0, 0, 0};
  warpSimilarity(crop, crop_size, crop_size, 3, crop_to_canvas, layer.data(), w.width, w.height,
                 key);
  const Similarity back = crop_to_canvas.inverse();
  for (int y = 0; y < w.height; ++y) {
    for (int x = 0; x < w.width; ++x) {
      const Point2 s = back.apply({static_cast<double>(x), static_cast<double>(y)});
      if (s.x < 0 || s.y < 0 || s.x > crop_size - 1 || s.y > crop_size - 1) continue;
      const size_t i = (static_cast<size_t>(y) * w.width + x) * 3;
      std::copy(&layer[i], &layer[i] + 3, &w.rgb[i]);
    }
  }
  const FivePoints canonical = arcFaceTemplate(face_size);
  for (int i = 0; i < 5; ++i) {
    w.true_points[i] = placement.face_to_canvas.apply(canonical[i]);
    w.points[i] = {w.true_points[i].x + rng.normal(0.0, point_noise),
                   w.true_points[i].y + rng.normal(0.0, point_noise)};
  }
  return w;
}

}  // namespace l2face::data
