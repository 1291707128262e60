// Tests of augmentation: plans depend on (seed, epoch, index) only and each operation on its own
// stream; each operation does what it says in uint8; crop boxes follow the options.
#include <gtest/gtest.h>

#include <cmath>

#include "l2face/data/augment.h"
#include "l2face/data/image_ops.h"
#include "test_util.h"

namespace l2face::data {
namespace {

DataOptions allOn() {
  DataOptions o;
  o.flip_p = 0.5;
  o.random_resized_crop = 0.5;
  o.brightness = 0.4;
  o.contrast = 0.4;
  o.saturation = 0.4;
  o.grayscale_p = 0.3;
  o.blur_p = 0.3;
  o.erase_p = 0.3;
  return o;
}

bool samePlan(const AugmentPlan& a, const AugmentPlan& b) {
  return a.flip == b.flip && a.crop == b.crop && a.crop_seed == b.crop_seed &&
         a.brightness == b.brightness && a.contrast == b.contrast &&
         a.saturation == b.saturation && a.grayscale == b.grayscale &&
         a.blur_sigma == b.blur_sigma && a.erase == b.erase && a.erase_seed == b.erase_seed;
}

TEST(Unit, AugmentPlanIsAFunctionOfSeedEpochAndIndex) {
  const DataOptions o = allOn();
  EXPECT_TRUE(samePlan(planAugmentation(o, 3, 1, 17), planAugmentation(o, 3, 1, 17)));
  int differ_epoch = 0, differ_seed = 0, flips = 0, crops = 0, grays = 0, blurs = 0, erases = 0;
  for (size_t i = 0; i < 400; ++i) {
    const AugmentPlan p = planAugmentation(o, 3, 1, i);
    differ_epoch += !samePlan(p, planAugmentation(o, 3, 2, i));
    differ_seed += !samePlan(p, planAugmentation(o, 4, 1, i));
    flips += p.flip, crops += p.crop, grays += p.grayscale, blurs += p.blur_sigma > 0,
        erases += p.erase;
    EXPECT_GE(p.brightness, 0.6f);
    EXPECT_LE(p.brightness, 1.4f);
    if (p.blur_sigma > 0) {
      EXPECT_GE(p.blur_sigma, 0.1f);
      EXPECT_LE(p.blur_sigma, 2.0f);
    }
  }
  EXPECT_EQ(differ_epoch, 400);
  EXPECT_EQ(differ_seed, 400);
  EXPECT_NEAR(flips, 200, 40);
  EXPECT_NEAR(crops, 200, 40);
  EXPECT_NEAR(grays, 120, 35);
  EXPECT_NEAR(blurs, 120, 35);
  EXPECT_NEAR(erases, 120, 35);
}

TEST(Unit, AugmentOperationsDrawFromIndependentStreams) {
  // Turning other operations on or off never changes the flip (nor any other) decision.
  DataOptions flip_only;
  const DataOptions all = allOn();
  DataOptions no_color = all;
  no_color.brightness = no_color.contrast = no_color.saturation = 0;
  for (size_t i = 0; i < 100; ++i) {
    const AugmentPlan a = planAugmentation(flip_only, 9, 0, i), b = planAugmentation(all, 9, 0, i),
                      c = planAugmentation(no_color, 9, 0, i);
    EXPECT_EQ(a.flip, b.flip);
    EXPECT_EQ(b.crop_seed, c.crop_seed);
    EXPECT_EQ(b.grayscale, c.grayscale);
    EXPECT_EQ(b.blur_sigma, c.blur_sigma);
    EXPECT_EQ(b.erase_seed, c.erase_seed);
    EXPECT_FALSE(a.crop || a.grayscale || a.erase || a.blur_sigma > 0 || a.brightness != 1.0f);
  }
  EXPECT_FALSE(needsAugmentation(flip_only));
  EXPECT_TRUE(needsAugmentation(all));
}

TEST(Unit, AugmentOperationsChangePixelsAsSpecified) {
  const int w = 24, h = 20;
  const auto original = test::smoothImage(w, h, 2);
  std::vector<float> scratch;
  auto apply = [&](const AugmentPlan& p) {
    auto img = original;
    applyAugmentation(p, img.data(), w, h, scratch);
    return img;
  };
  EXPECT_EQ(apply(AugmentPlan{}), original);  // the identity plan changes nothing

  AugmentPlan flip;
  flip.flip = true;
  auto mirrored = original;
  flipHorizontal(mirrored.data(), w, h, 3);
  EXPECT_EQ(apply(flip), mirrored);

  AugmentPlan dark;
  dark.brightness = 0.5f;
  const auto d = apply(dark);
  for (size_t k = 0; k < d.size(); ++k) ASSERT_NEAR(d[k], original[k] * 0.5, 0.51);

  AugmentPlan flat;
  flat.contrast = 0.0f;  // everything becomes the mean grey
  const auto f = apply(flat);
  for (size_t k = 1; k < f.size(); ++k) ASSERT_EQ(f[k], f[0]);

  AugmentPlan gray;
  gray.grayscale = true;
  const auto g = apply(gray);
  AugmentPlan desat;
  desat.saturation = 0.0f;  // saturation 0 is the same grey
  EXPECT_EQ(apply(desat), g);
  for (size_t p = 0; p < g.size(); p += 3) ASSERT_TRUE(g[p] == g[p + 1] && g[p] == g[p + 2]);

  AugmentPlan blur;
  blur.blur_sigma = 1.5f;
  const auto b = apply(blur);
  auto roughness = [&](const std::vector<uint8_t>& img) {
    double s = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 1; x < w; ++x) s += std::abs(img[(y * w + x) * 3] - img[(y * w + x - 1) * 3]);
    return s;
  };
  std::vector<uint8_t> noisy = original;
  for (size_t k = 0; k < noisy.size(); ++k) noisy[k] = static_cast<uint8_t>(noisy[k] ^ (k * 7 & 31));
  auto blurred_noise = noisy;
  applyAugmentation(blur, blurred_noise.data(), w, h, scratch);
  EXPECT_LT(roughness(blurred_noise), 0.5 * roughness(noisy));
  EXPECT_NE(b, original);

  AugmentPlan erase;
  erase.erase = true;
  int erased_seen = 0;
  for (uint64_t seed = 1; seed < 20; ++seed) {
    erase.erase_seed = seed;
    const auto e = apply(erase);
    int changed = 0;  // pixels
    for (size_t k = 0; k < e.size(); k += 3) {
      if (e[k] != original[k] || e[k + 1] != original[k + 1] || e[k + 2] != original[k + 2]) {
        ++changed;
        ASSERT_TRUE(e[k] == 128 && e[k + 1] == 128 && e[k + 2] == 128);  // only grey written
      }
    }
    EXPECT_LE(changed, 0.34 * w * h);
    erased_seen += changed > 0;
  }
  EXPECT_GT(erased_seen, 15);
}

TEST(Unit, CropBoxesStayInsideAndFollowScaleAndRatio) {
  DataOptions o;
  o.crop_scale_min = 0.3;
  o.crop_ratio_max = 1.5;
  AugmentPlan p;
  p.crop = true;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    p.crop_seed = seed;
    const PixelBox b = cropBox(p, o, 100, 80);
    ASSERT_GE(b.x, 0);
    ASSERT_GE(b.y, 0);
    ASSERT_LE(b.x + b.width, 100);
    ASSERT_LE(b.y + b.height, 80);
    const double area = static_cast<double>(b.width) * b.height / 8000.0;
    EXPECT_GE(area, 0.3 - 0.03);
    EXPECT_LE(area, 1.0);
    const double ratio = static_cast<double>(b.width) / b.height;
    EXPECT_GE(ratio, 1 / 1.5 - 0.05);
    EXPECT_LE(ratio, 1.5 + 0.05);
  }
  p.crop = false;
  const PixelBox whole = cropBox(p, o, 100, 80);
  EXPECT_EQ(whole.width, 100);
  EXPECT_EQ(whole.height, 80);
}

}  // namespace
}  // namespace l2face::data
