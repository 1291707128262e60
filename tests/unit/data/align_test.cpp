// Tests of face alignment: similarity estimation (exactness and least-squares optimality),
// transform algebra, the bilinear warp, and recovering canonical crops placed "in the wild".
#include "l2face/data/align.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "l2face/data/random.h"
#include "l2face/data/synth_wild.h"

namespace l2face::data {
namespace {

FivePoints mapAll(const Similarity& t, const FivePoints& p) {
  FivePoints out;
  for (int i = 0; i < 5; ++i) out[i] = t.apply(p[i]);
  return out;
}

TEST(Align, EstimateRecoversAKnownSimilarityExactly) {
  const Similarity truth{1.7 * std::cos(0.4), 1.7 * std::sin(0.4), 123.25, -40.5};
  const FivePoints src = kArcFaceTemplate112;
  const Similarity t = estimateSimilarity(src, mapAll(truth, src));
  EXPECT_NEAR(t.a, truth.a, 1e-12);
  EXPECT_NEAR(t.b, truth.b, 1e-12);
  EXPECT_NEAR(t.tx, truth.tx, 1e-10);
  EXPECT_NEAR(t.ty, truth.ty, 1e-10);
  EXPECT_NEAR(t.scale(), 1.7, 1e-12);
  EXPECT_NEAR(t.angleRadians(), 0.4, 1e-12);
}

// With noisy points the estimate must satisfy the normal equations of the least-squares problem
// in (a, b, tx, ty): the residuals sum to zero and are orthogonal to s and to s rotated by 90°.
TEST(Align, EstimateIsTheLeastSquaresSolution) {
  Rng rng(7);
  const Similarity truth{0.8, -0.3, 50.0, 20.0};
  FivePoints src = kArcFaceTemplate112, dst = mapAll(truth, src);
  for (Point2& p : dst) p = {p.x + rng.normal(0, 2.0), p.y + rng.normal(0, 2.0)};
  const Similarity t = estimateSimilarity(src, dst);
  double rx = 0, ry = 0, ga = 0, gb = 0;
  for (int i = 0; i < 5; ++i) {
    const Point2 m = t.apply(src[i]);
    const double ex = m.x - dst[i].x, ey = m.y - dst[i].y;
    rx += ex, ry += ey;
    ga += src[i].x * ex + src[i].y * ey;
    gb += -src[i].y * ex + src[i].x * ey;
  }
  EXPECT_NEAR(rx, 0.0, 1e-9);
  EXPECT_NEAR(ry, 0.0, 1e-9);
  EXPECT_NEAR(ga, 0.0, 1e-7);
  EXPECT_NEAR(gb, 0.0, 1e-7);
  EXPECT_GT(alignmentRms(t, src.data(), dst.data(), 5), 0.5);  // the noise is really there
  EXPECT_LT(alignmentRms(t, src.data(), dst.data(), 5),
            alignmentRms(truth, src.data(), dst.data(), 5) + 1e-12);
}

TEST(Align, InverseAndCompositionAreConsistent) {
  const Similarity t{0.9, 0.6, -3.0, 11.0};
  const Similarity id = t.after(t.inverse());
  EXPECT_NEAR(id.a, 1.0, 1e-14);
  EXPECT_NEAR(id.b, 0.0, 1e-14);
  EXPECT_NEAR(id.tx, 0.0, 1e-13);
  EXPECT_NEAR(id.ty, 0.0, 1e-13);
  const Similarity u{1.1, -0.2, 4.0, 5.0};
  const Point2 p{3.5, -7.25};
  const Point2 want = t.apply(u.apply(p)), got = t.after(u).apply(p);
  EXPECT_NEAR(got.x, want.x, 1e-12);
  EXPECT_NEAR(got.y, want.y, 1e-12);
  EXPECT_THROW(Similarity({0, 0, 1, 1}).inverse(), std::invalid_argument);
}

TEST(Align, TemplateScalesWithTheCropSize) {
  const FivePoints t = arcFaceTemplate(224);
  for (int i = 0; i < 5; ++i) {
    EXPECT_DOUBLE_EQ(t[i].x, 2 * kArcFaceTemplate112[i].x);
    EXPECT_DOUBLE_EQ(t[i].y, 2 * kArcFaceTemplate112[i].y);
  }
  EXPECT_DOUBLE_EQ(kArcFaceTemplate112[0].x, 38.2946);
  EXPECT_DOUBLE_EQ(kArcFaceTemplate112[4].y, 92.2041);
  EXPECT_THROW(arcFaceTemplate(0), std::invalid_argument);
}

TEST(Align, DegenerateOrNonFiniteLandmarksAreRejected) {
  FivePoints same;
  for (Point2& p : same) p = {10, 10};
  EXPECT_THROW(estimateSimilarity(same, kArcFaceTemplate112), std::invalid_argument);
  FivePoints nan = kArcFaceTemplate112;
  nan[2].y = std::nan("");
  EXPECT_THROW(estimateSimilarity(nan, kArcFaceTemplate112), std::invalid_argument);
  EXPECT_THROW(estimateSimilarity(same.data(), same.data(), 1), std::invalid_argument);
}

std::vector<uint8_t> gradientImage(int w, int h) {
  std::vector<uint8_t> img(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        img[(y * w + x) * 3 + c] = static_cast<uint8_t>((x * 7 + y * 3 + c * 50) % 256);
  return img;
}

TEST(Align, WarpByIdentityAndIntegerShiftsCopiesPixelsExactly) {
  const int w = 9, h = 7;
  const std::vector<uint8_t> img = gradientImage(w, h);
  std::vector<uint8_t> out(img.size());
  warpSimilarity(img.data(), w, h, 3, Similarity{}, out.data(), w, h);
  EXPECT_EQ(out, img);
  const uint8_t fill[3] = {1, 2, 3};
  warpSimilarity(img.data(), w, h, 3, Similarity{1, 0, 2, 1}, out.data(), w, h, fill);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        const uint8_t want = (x < 2 || y < 1) ? fill[c] : img[((y - 1) * w + (x - 2)) * 3 + c];
        ASSERT_EQ(out[(y * w + x) * 3 + c], want) << x << "," << y << "," << c;
      }
    }
  }
}

TEST(Align, WarpInterpolatesBilinearlyBetweenPixelCentres) {
  // A 2×1 image shifted by half a pixel: the new centre sits halfway between the two values.
  const uint8_t img[6] = {0, 100, 200, 50, 150, 250};
  uint8_t out[3];
  warpSimilarity(img, 2, 1, 3, Similarity{1, 0, -0.5, 0}, out, 1, 1);
  EXPECT_EQ(out[0], 25);
  EXPECT_EQ(out[1], 125);
  EXPECT_EQ(out[2], 225);
}

// A canonical crop placed at a random similarity on a canvas and aligned again by its true
// landmarks comes back up to the two bilinear resamplings (smooth content: small error).
TEST(Align, AligningAWildPlacementRecoversTheCanonicalCrop) {
  const int size = 112;
  std::vector<uint8_t> crop(size * size * 3);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      for (int c = 0; c < 3; ++c)
        crop[(y * size + x) * 3 + c] = static_cast<uint8_t>(
            127.5 + 100 * std::sin(0.11 * x + 0.07 * y + c) * std::cos(0.05 * y - 0.3 * c));
  Rng rng(3);
  for (int trial = 0; trial < 8; ++trial) {
    const WildPlacement place = drawWildPlacement(rng, size, 1.5);
    const WildImage wild = placeInTheWild(crop.data(), size, size, place, 0.0, rng);
    ASSERT_GE(wild.width, size);
    Similarity used;
    const std::vector<uint8_t> back =
        alignFace(wild.rgb.data(), wild.width, wild.height, wild.points, size, &used);
    const Similarity round_trip = used.after(place.face_to_canvas);
    EXPECT_NEAR(round_trip.a, 1.0, 1e-9);
    EXPECT_NEAR(round_trip.b, 0.0, 1e-9);
    double err = 0;
    int counted = 0;
    for (int y = 2; y < size - 2; ++y)
      for (int x = 2; x < size - 2; ++x, ++counted)
        for (int c = 0; c < 3; ++c)
          err += std::abs(back[(y * size + x) * 3 + c] - crop[(y * size + x) * 3 + c]);
    err /= counted * 3.0;
    // Measured 0.06–0.18 grey levels on these draws (two bilinear resamplings, shrink to 0.8).
    EXPECT_LT(err, 0.25) << "trial " << trial << " scale " << place.face_to_canvas.scale();
  }
}

}  // namespace
}  // namespace l2face::data
