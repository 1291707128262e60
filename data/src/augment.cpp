// Augmentation plans (seeded per sample and operation) and their uint8 implementations: flip,
// colour jitter, grayscale, Gaussian blur, random erasing, and the random-resized-crop box.
#include "l2face/data/augment.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "l2face/data/image_ops.h"
#include "l2face/data/random.h"

namespace l2face::data {
namespace {

// Stream tags: one per operation (kFlip is the loader's original flip stream).
constexpr uint64_t kFlipStream = 0x464C495031ULL;   // "FLIP1"
constexpr uint64_t kCropStream = 0x43524F5031ULL;   // "CROP1"
constexpr uint64_t kColorStream = 0x434F4C5231ULL;  // "COLR1"
constexpr uint64_t kGrayStream = 0x4752415931ULL;   // "GRAY1"
constexpr uint64_t kBlurStream = 0x424C555231ULL;   // "BLUR1"
constexpr uint64_t kEraseStream = 0x4552415331ULL;  // "ERAS1"
constexpr float kEraseValue = 128.0f;               // ~0 after (x - 127.5) / 128
constexpr double kBlurSigmaMin = 0.1, kBlurSigmaMax = 2.0;

// Round half up and clamp to [0, 255] (std::lround is several times slower in these loops).
inline uint8_t clampByte(float v) {
  v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
  return static_cast<uint8_t>(v + 0.5f);
}

// ITU-R 601 luma in 8-bit fixed point (weights 77, 150, 29 out of 256): integer arithmetic keeps
// the per-pixel loops cheap.
inline int luma(const uint8_t* p) { return (77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8; }

float jitterFactor(Rng& rng, double strength) {
  if (strength <= 0.0) return 1.0f;
  return static_cast<float>(rng.uniform(std::max(0.0, 1.0 - strength), 1.0 + strength));
}

void applyLut(uint8_t* rgb, size_t n, const std::array<uint8_t, 256>& lut) {
  for (size_t i = 0; i < n; ++i) rgb[i] = lut[rgb[i]];
}

// Blend with a constant: v' = f * v + (1 - f) * c, through a lookup table.
void blendConstant(uint8_t* rgb, size_t n, float f, float c) {
  std::array<uint8_t, 256> lut;
  for (int v = 0; v < 256; ++v) lut[v] = clampByte(f * v + (1.0f - f) * c);
  applyLut(rgb, n, lut);
}

// Separable Gaussian, clamp-to-edge. Each pass adds one shifted row per tap, so the inner loops
// run over whole rows and vectorise.
void gaussianBlur(uint8_t* rgb, int w, int h, float sigma, std::vector<float>& buf) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3.0f * sigma)));
  std::vector<float> k(2 * radius + 1);
  float sum = 0.0f;
  for (int i = -radius; i <= radius; ++i) {
    sum += k[i + radius] = std::exp(-0.5f * static_cast<float>(i * i) / (sigma * sigma));
  }
  for (auto& v : k) v /= sum;
  const size_t row = static_cast<size_t>(w) * 3;
  const size_t padded = static_cast<size_t>(w + 2 * radius) * 3;
  buf.resize(static_cast<size_t>(h) * row + padded + row);
  float* tmp = buf.data();
  float* pad = tmp + static_cast<size_t>(h) * row;
  float* acc = pad + padded;
  for (int y = 0; y < h; ++y) {  // horizontal pass into tmp
    const uint8_t* src = rgb + y * row;
    for (int x = -radius; x < w + radius; ++x) {
      const uint8_t* p = src + std::clamp(x, 0, w - 1) * 3;
      float* q = pad + static_cast<size_t>(x + radius) * 3;
      q[0] = p[0], q[1] = p[1], q[2] = p[2];
    }
    float* out = tmp + y * row;
    std::fill(out, out + row, 0.0f);
    for (int j = 0; j <= 2 * radius; ++j) {
      const float kj = k[j];
      const float* s = pad + static_cast<size_t>(j) * 3;
      for (size_t i = 0; i < row; ++i) out[i] += kj * s[i];
    }
  }
  for (int y = 0; y < h; ++y) {  // vertical pass back into rgb
    std::fill(acc, acc + row, 0.0f);
    for (int j = -radius; j <= radius; ++j) {
      const float kj = k[j + radius];
      const float* s = tmp + std::clamp(y + j, 0, h - 1) * row;
      for (size_t i = 0; i < row; ++i) acc[i] += kj * s[i];
    }
    uint8_t* out = rgb + y * row;
    for (size_t i = 0; i < row; ++i) out[i] = clampByte(acc[i]);
  }
}

// torchvision's RandomErasing.get_params (scale (0.02, 0.33), ratio (0.3, 3.3)); an empty box when
// ten tries fail.
PixelBox eraseBox(uint64_t seed, int w, int h) {
  Rng rng(seed);
  const double area = static_cast<double>(w) * h;
  const double log_lo = std::log(0.3), log_hi = std::log(3.3);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(0.02, 0.33);
    const double ratio = std::exp(rng.uniform(log_lo, log_hi));
    const int eh = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int ew = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (ew < 1 || eh < 1 || ew > w || eh > h) continue;
    const int y = static_cast<int>(rng.below(static_cast<uint64_t>(h - eh + 1)));
    const int x = static_cast<int>(rng.below(static_cast<uint64_t>(w - ew + 1)));
    return {x, y, ew, eh};
  }
  return {};
}

}  // namespace

bool needsAugmentation(const DataOptions& o) {
  return o.random_resized_crop > 0 || o.brightness > 0 || o.contrast > 0 || o.saturation > 0 ||
         o.grayscale_p > 0 || o.blur_p > 0 || o.erase_p > 0;
}

AugmentPlan planAugmentation(const DataOptions& o, uint64_t seed, int64_t epoch, size_t index) {
  const auto e = static_cast<uint64_t>(epoch);
  const uint64_t i = index;
  AugmentPlan plan;
  if (o.flip_p > 0) plan.flip = Rng(mixSeed(seed, e, i, kFlipStream)).uniform() < o.flip_p;
  if (o.random_resized_crop > 0) {
    Rng rng(mixSeed(seed, e, i, kCropStream));
    plan.crop = rng.uniform() < o.random_resized_crop;
    plan.crop_seed = rng.next();
  }
  if (o.brightness > 0 || o.contrast > 0 || o.saturation > 0) {
    Rng rng(mixSeed(seed, e, i, kColorStream));
    plan.brightness = jitterFactor(rng, o.brightness);
    plan.contrast = jitterFactor(rng, o.contrast);
    plan.saturation = jitterFactor(rng, o.saturation);
  }
  if (o.grayscale_p > 0) plan.grayscale = Rng(mixSeed(seed, e, i, kGrayStream)).uniform() < o.grayscale_p;
  if (o.blur_p > 0) {
    Rng rng(mixSeed(seed, e, i, kBlurStream));
    if (rng.uniform() < o.blur_p) {
      plan.blur_sigma = static_cast<float>(rng.uniform(kBlurSigmaMin, kBlurSigmaMax));
    }
  }
  if (o.erase_p > 0) {
    Rng rng(mixSeed(seed, e, i, kEraseStream));
    plan.erase = rng.uniform() < o.erase_p;
    plan.erase_seed = rng.next();
  }
  return plan;
}

PixelBox cropBox(const AugmentPlan& plan, const DataOptions& o, int w, int h) {
  if (!plan.crop) return {0, 0, w, h};
  Rng rng(plan.crop_seed);
  const double area = static_cast<double>(w) * h;
  const double r = std::max(1.0, o.crop_ratio_max);
  const double log_r = std::log(r);
  const double scale_min = std::clamp(o.crop_scale_min, 0.0, 1.0);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale_min, 1.0);
    const double ratio = std::exp(rng.uniform(-log_r, log_r));
    const int cw = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int ch = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (cw < 1 || ch < 1 || cw > w || ch > h) continue;
    const int y = static_cast<int>(rng.below(static_cast<uint64_t>(h - ch + 1)));
    const int x = static_cast<int>(rng.below(static_cast<uint64_t>(w - cw + 1)));
    return {x, y, cw, ch};
  }
  // Fallback: the whole image when its ratio is allowed, else the largest centred allowed box.
  const double in_ratio = static_cast<double>(w) / h;
  int cw = w, ch = h;
  if (in_ratio < 1.0 / r) {
    ch = static_cast<int>(std::lround(w * r));
  } else if (in_ratio > r) {
    cw = static_cast<int>(std::lround(h * r));
  }
  cw = std::clamp(cw, 1, w);
  ch = std::clamp(ch, 1, h);
  return {(w - cw) / 2, (h - ch) / 2, cw, ch};
}

void applyAugmentation(const AugmentPlan& plan, uint8_t* rgb, int w, int h,
                       std::vector<float>& scratch) {
  const size_t pixels = static_cast<size_t>(w) * h;
  const size_t n = pixels * 3;
  if (plan.flip) flipHorizontal(rgb, w, h, 3);
  if (plan.brightness != 1.0f) blendConstant(rgb, n, plan.brightness, 0.0f);
  if (plan.contrast != 1.0f) {
    int64_t sum = 0;
    for (size_t p = 0; p < pixels; ++p) sum += luma(rgb + 3 * p);
    blendConstant(rgb, n, plan.contrast, static_cast<float>(sum) / static_cast<float>(pixels));
  }
  if (plan.saturation != 1.0f) {
    // v' = g + f (v - g) with f in 8-bit fixed point, rounded, clamped.
    const int f = static_cast<int>(std::lround(plan.saturation * 256.0f));
    for (size_t p = 0; p < pixels; ++p) {
      uint8_t* px = rgb + 3 * p;
      const int g = luma(px);
      for (int c = 0; c < 3; ++c) {
        const int v = (g * 256 + f * (px[c] - g) + 128) >> 8;
        px[c] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
      }
    }
  }
  if (plan.grayscale) {
    for (size_t p = 0; p < pixels; ++p) {
      uint8_t* px = rgb + 3 * p;
      px[0] = px[1] = px[2] = static_cast<uint8_t>(luma(px));
    }
  }
  if (plan.blur_sigma > 0.0f) gaussianBlur(rgb, w, h, plan.blur_sigma, scratch);
  if (plan.erase) {
    const PixelBox b = eraseBox(plan.erase_seed, w, h);
    for (int y = b.y; y < b.y + b.height; ++y) {
      std::fill(rgb + (static_cast<size_t>(y) * w + b.x) * 3,
                rgb + (static_cast<size_t>(y) * w + b.x + b.width) * 3,
                static_cast<uint8_t>(kEraseValue));
    }
  }
}

}  // namespace l2face::data
