// Face alignment: 2-D similarity transforms from five landmarks (least squares), the ArcFace
// template, and a bilinear similarity warp of interleaved images.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace l2face::data {

// Pixel coordinates: the centre of pixel (column i, row j) is at (i, j), as in OpenCV's
// warpAffine and insightface's norm_crop, so points printed by face detectors apply unchanged.
struct Point2 {
  double x = 0.0;
  double y = 0.0;
};

// The five landmarks in detector order: left eye, right eye, nose tip, left and right mouth
// corner (left/right as seen in the image).
using FivePoints = std::array<Point2, 5>;

// x' = a·x − b·y + tx, y' = b·x + a·y + ty: a rotation by atan2(b, a), a uniform scale
// hypot(a, b) and a translation (no reflection, no shear).
struct Similarity {
  double a = 1.0;
  double b = 0.0;
  double tx = 0.0;
  double ty = 0.0;

  Point2 apply(Point2 p) const { return {a * p.x - b * p.y + tx, b * p.x + a * p.y + ty}; }
  double scale() const;
  double angleRadians() const;
  // The transform that undoes this one; throws std::invalid_argument when scale() is 0.
  Similarity inverse() const;
  // (this ∘ first)(p) = this->apply(first.apply(p)).
  Similarity after(const Similarity& first) const;
};

// insightface's ArcFace template for 112×112 crops, in pixels.
inline constexpr FivePoints kArcFaceTemplate112 = {{{38.2946, 51.6963},
                                                    {73.5318, 51.5014},
                                                    {56.0252, 71.7366},
                                                    {41.5493, 92.3655},
                                                    {70.7299, 92.2041}}};

// The template for a size×size crop: kArcFaceTemplate112 scaled by size / 112 (the layout the
// network was trained on, at another resolution). size must be positive.
FivePoints arcFaceTemplate(int size);

// The similarity that maps src onto dst with the least sum of squared distances (Umeyama's
// closed form restricted to proper rotations): with centred points s, d,
// a = Σ s·d / Σ|s|², b = Σ s×d / Σ|s|², t = mean(d) − R·mean(s). Throws std::invalid_argument
// when n < 2 or the source points coincide (no scale can be estimated) or a point is not finite.
Similarity estimateSimilarity(const Point2* src, const Point2* dst, int n);
inline Similarity estimateSimilarity(const FivePoints& src, const FivePoints& dst) {
  return estimateSimilarity(src.data(), dst.data(), 5);
}

// Root-mean-square distance between t(src[i]) and dst[i].
double alignmentRms(const Similarity& t, const Point2* src, const Point2* dst, int n);

// Writes dst (dst_w × dst_h × channels, interleaved) with dst(p) = src(src_to_dst⁻¹(p)), sampled
// bilinearly; samples outside src take `fill` (channels values; nullptr = zeros), like OpenCV's
// BORDER_CONSTANT. Pure; thread-safe; src and dst must not overlap. Throws std::invalid_argument
// for a non-invertible transform or non-positive sizes.
void warpSimilarity(const uint8_t* src, int src_w, int src_h, int channels,
                    const Similarity& src_to_dst, uint8_t* dst, int dst_w, int dst_h,
                    const uint8_t* fill = nullptr);

// The aligned size×size RGB crop of a face whose landmarks in `rgb` (w × h × 3) are `points`:
// the least-squares similarity from points to arcFaceTemplate(size), then warpSimilarity with
// black outside the photo (insightface's norm_crop). `used` receives the transform.
std::vector<uint8_t> alignFace(const uint8_t* rgb, int w, int h, const FivePoints& points,
                               int size = 112, Similarity* used = nullptr);

}  // namespace l2face::data
