// Face alignment: least-squares similarity estimation, the scaled ArcFace template and the
// bilinear similarity warp.
#include "l2face/data/align.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace l2face::data {

double Similarity::scale() const { return std::hypot(a, b); }

double Similarity::angleRadians() const { return std::atan2(b, a); }

Similarity Similarity::inverse() const {
  const double s2 = a * a + b * b;
  if (!(s2 > 0.0) || !std::isfinite(s2)) {
    throw std::invalid_argument("similarity transform with scale " + std::to_string(scale()) +
                                " has no inverse");
  }
  // R⁻¹ = Rᵀ / s²; t' = −R⁻¹ t.
  const double ia = a / s2, ib = -b / s2;
  return {ia, ib, -(ia * tx - ib * ty), -(ib * tx + ia * ty)};
}

Similarity Similarity::after(const Similarity& f) const {
  return {a * f.a - b * f.b, b * f.a + a * f.b, a * f.tx - b * f.ty + tx, b * f.tx + a * f.ty + ty};
}

FivePoints arcFaceTemplate(int size) {
  if (size <= 0) throw std::invalid_argument("crop size must be positive");
  const double k = size / 112.0;
  FivePoints t = kArcFaceTemplate112;
  for (Point2& p : t) p = {p.x * k, p.y * k};
  return t;
}

Similarity estimateSimilarity(const Point2* src, const Point2* dst, int n) {
  if (n < 2) throw std::invalid_argument("a similarity needs at least 2 point pairs");
  double msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(src[i].x) || !std::isfinite(src[i].y) || !std::isfinite(dst[i].x) ||
        !std::isfinite(dst[i].y)) {
      throw std::invalid_argument("landmark " + std::to_string(i + 1) + " is not finite");
    }
    msx += src[i].x, msy += src[i].y, mdx += dst[i].x, mdy += dst[i].y;
  }
  msx /= n, msy /= n, mdx /= n, mdy /= n;
  double ss = 0, dot = 0, cross = 0;
  for (int i = 0; i < n; ++i) {
    const double sx = src[i].x - msx, sy = src[i].y - msy;
    const double dx = dst[i].x - mdx, dy = dst[i].y - mdy;
    ss += sx * sx + sy * sy;
    dot += sx * dx + sy * dy;
    cross += sx * dy - sy * dx;
  }
  // Relative to the points' magnitude, so a face of any size in any photo is accepted.
  const double extent = std::fabs(msx) + std::fabs(msy) + 1.0;
  if (!(ss > 1e-12 * extent * extent * n)) {
    throw std::invalid_argument("the landmarks coincide: no scale or rotation can be estimated");
  }
  Similarity t{dot / ss, cross / ss, 0.0, 0.0};
  t.tx = mdx - (t.a * msx - t.b * msy);
  t.ty = mdy - (t.b * msx + t.a * msy);
  return t;
}

double alignmentRms(const Similarity& t, const Point2* src, const Point2* dst, int n) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    const Point2 p = t.apply(src[i]);
    sum += (p.x - dst[i].x) * (p.x - dst[i].x) + (p.y - dst[i].y) * (p.y - dst[i].y);
  }
  return n > 0 ? std::sqrt(sum / n) : 0.0;
}

namespace {

// One bilinear sample at (x, y); taps outside the image contribute `fill`.
void sampleBilinear(const uint8_t* src, int w, int h, int c, double x, double y,
                    const uint8_t* fill, uint8_t* out) {
  const double fx = std::floor(x), fy = std::floor(y);
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const double wx = x - fx, wy = y - fy;
  const double weight[4] = {(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy};
  const int tx[4] = {x0, x0 + 1, x0, x0 + 1}, ty[4] = {y0, y0, y0 + 1, y0 + 1};
  for (int ch = 0; ch < c; ++ch) {
    double v = 0.0;
    for (int k = 0; k < 4; ++k) {
      const bool inside = tx[k] >= 0 && tx[k] < w && ty[k] >= 0 && ty[k] < h;
      const uint8_t tap =
          inside ? src[(static_cast<size_t>(ty[k]) * w + tx[k]) * c + ch] : (fill ? fill[ch] : 0);
      v += weight[k] * tap;
    }
    out[ch] = static_cast<uint8_t>(std::lround(std::fmin(255.0, std::fmax(0.0, v))));
  }
}

}  // namespace

void warpSimilarity(const uint8_t* src, int src_w, int src_h, int channels,
                    const Similarity& src_to_dst, uint8_t* dst, int dst_w, int dst_h,
                    const uint8_t* fill) {
  if (src_w <= 0 || src_h <= 0 || dst_w <= 0 || dst_h <= 0 || channels <= 0) {
    throw std::invalid_argument("warpSimilarity: image sizes and channels must be positive");
  }
  const Similarity back = src_to_dst.inverse();
  for (int y = 0; y < dst_h; ++y) {
    for (int x = 0; x < dst_w; ++x) {
      const Point2 s = back.apply({static_cast<double>(x), static_cast<double>(y)});
      uint8_t* out = dst + (static_cast<size_t>(y) * dst_w + x) * channels;
      // Far outside: all four taps are fill (also keeps the int conversion in range).
      if (s.x <= -1.0 || s.y <= -1.0 || s.x >= src_w || s.y >= src_h) {
        for (int ch = 0; ch < channels; ++ch) out[ch] = fill ? fill[ch] : 0;
        continue;
      }
      sampleBilinear(src, src_w, src_h, channels, s.x, s.y, fill, out);
    }
  }
}

std::vector<uint8_t> alignFace(const uint8_t* rgb, int w, int h, const FivePoints& points, int size,
                               Similarity* used) {
  const Similarity t = estimateSimilarity(points, arcFaceTemplate(size));
  std::vector<uint8_t> crop(static_cast<size_t>(size) * size * 3);
  warpSimilarity(rgb, w, h, 3, t, crop.data(), size, size);
  if (used) *used = t;
  return crop;
}

}  // namespace l2face::data
