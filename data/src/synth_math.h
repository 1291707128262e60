// Private shading helpers of the face renderer: smoothstep coverage, colour blending, value noise.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "l2face/data/synth_params.h"

namespace l2face::data::synth {

inline float clamp01(float v) { return std::min(1.0f, std::max(0.0f, v)); }

inline float smoothstep(float e0, float e1, float x) {
  const float t = clamp01((x - e0) / (e1 - e0));
  return t * t * (3.0f - 2.0f * t);
}

// Coverage of a shape with signed distance d (negative inside) for a pixel of size aa: the
// anti-aliasing of every edge in the renderer.
inline float coverage(float d, float aa) { return smoothstep(aa, -aa, d); }

inline void blend(Rgb& c, const Rgb& layer, float alpha) {
  if (alpha <= 0.0f) return;
  for (int k = 0; k < 3; ++k) c[k] += (layer[k] - c[k]) * alpha;
}

inline Rgb scaled(const Rgb& c, float s) { return {c[0] * s, c[1] * s, c[2] * s}; }
inline Rgb mixed(const Rgb& a, const Rgb& b, float t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}

// Approximate signed distance to an axis-aligned ellipse (centre cx, cy; radii rx, ry): the
// implicit function divided by its gradient length, accurate near the boundary (all we need).
inline float ellipseSdf(float x, float y, float cx, float cy, float rx, float ry) {
  const float qx = (x - cx) / rx, qy = (y - cy) / ry;
  const float k = std::sqrt(qx * qx + qy * qy);
  const float gx = qx / rx, gy = qy / ry;
  const float g = std::sqrt(gx * gx + gy * gy);
  if (g < 1e-6f) return -std::min(rx, ry);
  return (k - 1.0f) * k / g;
}

// Signed distance to a rounded box centred at (cx, cy) with half sizes hx, hy and corner r.
inline float roundedBoxSdf(float x, float y, float cx, float cy, float hx, float hy, float r) {
  const float qx = std::abs(x - cx) - hx + r, qy = std::abs(y - cy) - hy + r;
  const float ox = std::max(qx, 0.0f), oy = std::max(qy, 0.0f);
  return std::sqrt(ox * ox + oy * oy) + std::min(std::max(qx, qy), 0.0f) - r;
}

// Distance to the segment (ax, ay)-(bx, by).
inline float segmentDistance(float x, float y, float ax, float ay, float bx, float by) {
  const float px = x - ax, py = y - ay, dx = bx - ax, dy = by - ay;
  const float h = clamp01((px * dx + py * dy) / (dx * dx + dy * dy + 1e-12f));
  const float ex = px - dx * h, ey = py - dy * h;
  return std::sqrt(ex * ex + ey * ey);
}

inline float gauss(float d2, float radius) { return std::exp(-d2 / (radius * radius)); }

// Lattice hash -> [-1, 1].
inline float latticeValue(int32_t ix, int32_t iy, uint64_t seed) {
  uint64_t h = seed ^ (static_cast<uint64_t>(static_cast<uint32_t>(ix)) * 0x9E3779B97F4A7C15ULL) ^
               (static_cast<uint64_t>(static_cast<uint32_t>(iy)) * 0xC2B2AE3D27D4EB4FULL);
  h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 29)) * 0x94D049BB133111EBULL;
  h ^= h >> 32;
  return static_cast<float>(h & 0xFFFFFF) / static_cast<float>(0x7FFFFF) - 1.0f;
}

// Smooth value noise in [-1, 1] with unit lattice spacing (quintic interpolation).
inline float valueNoise(float x, float y, uint64_t seed) {
  const float fx = std::floor(x), fy = std::floor(y);
  const auto ix = static_cast<int32_t>(fx), iy = static_cast<int32_t>(fy);
  const float tx = x - fx, ty = y - fy;
  const float ux = tx * tx * tx * (tx * (tx * 6 - 15) + 10);
  const float uy = ty * ty * ty * (ty * (ty * 6 - 15) + 10);
  const float v00 = latticeValue(ix, iy, seed), v10 = latticeValue(ix + 1, iy, seed);
  const float v01 = latticeValue(ix, iy + 1, seed), v11 = latticeValue(ix + 1, iy + 1, seed);
  const float a = v00 + (v10 - v00) * ux, b = v01 + (v11 - v01) * ux;
  return a + (b - a) * uy;
}

}  // namespace l2face::data::synth
