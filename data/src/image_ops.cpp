// Separable triangle-filter resampling and horizontal flipping of HWC images.
#include "l2face/data/image_ops.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace l2face::data {
namespace {

// Filter taps of one output coordinate: input start index and normalised weights.
struct Taps {
  int start = 0;
  std::vector<float> weights;
};

// Precomputes the taps of every output position along one axis. The triangle filter is scaled by
// the reduction ratio (support = max(1, ratio)), which is bilinear when enlarging and an
// anti-aliasing average when shrinking.
std::vector<Taps> makeTaps(int src_n, int dst_n) {
  const double ratio = static_cast<double>(src_n) / dst_n;
  const double support = std::max(1.0, ratio);
  std::vector<Taps> taps(dst_n);
  for (int o = 0; o < dst_n; ++o) {
    const double centre = (o + 0.5) * ratio - 0.5;
    const int lo = static_cast<int>(std::floor(centre - support)) + 1;
    const int hi = static_cast<int>(std::ceil(centre + support)) - 1;
    Taps& t = taps[o];
    t.start = std::clamp(lo, 0, src_n - 1);
    const int end = std::clamp(hi, 0, src_n - 1);
    // Out-of-range taps are folded onto the edge pixel (clamp-to-edge).
    t.weights.assign(end - t.start + 1, 0.0f);
    double sum = 0.0;
    for (int i = lo; i <= hi; ++i) {
      const double w = std::max(0.0, 1.0 - std::abs(i - centre) / support);
      if (w <= 0.0) continue;
      t.weights[std::clamp(i, t.start, end) - t.start] += static_cast<float>(w);
      sum += w;
    }
    if (sum <= 0.0) {  // degenerate (cannot happen for n >= 1, kept for safety)
      t.weights.assign(1, 1.0f);
      t.start = std::clamp(static_cast<int>(std::lround(centre)), 0, src_n - 1);
      continue;
    }
    for (auto& w : t.weights) w = static_cast<float>(w / sum);
  }
  return taps;
}

template <typename T>
T fromFloat(float v);
template <>
uint8_t fromFloat<uint8_t>(float v) {
  return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}
template <>
float fromFloat<float>(float v) {
  return v;
}

template <typename T>
void resizeImpl(const T* src, int src_w, int src_h, T* dst, int dst_w, int dst_h, int channels) {
  if (src_w <= 0 || src_h <= 0 || dst_w <= 0 || dst_h <= 0 || channels <= 0) {
    throw std::invalid_argument("resizeImage: sizes and channels must be positive");
  }
  if (src_w == dst_w && src_h == dst_h) {
    std::copy(src, src + static_cast<size_t>(src_w) * src_h * channels, dst);
    return;
  }
  const std::vector<Taps> tx = makeTaps(src_w, dst_w);
  const std::vector<Taps> ty = makeTaps(src_h, dst_h);
  // Horizontal pass into a float buffer (src_h x dst_w), then vertical pass into dst.
  std::vector<float> tmp(static_cast<size_t>(src_h) * dst_w * channels);
  for (int y = 0; y < src_h; ++y) {
    const T* row = src + static_cast<size_t>(y) * src_w * channels;
    float* out = tmp.data() + static_cast<size_t>(y) * dst_w * channels;
    for (int x = 0; x < dst_w; ++x) {
      const Taps& t = tx[x];
      for (int c = 0; c < channels; ++c) {
        float acc = 0.0f;
        for (size_t k = 0; k < t.weights.size(); ++k) {
          acc += t.weights[k] * static_cast<float>(row[(t.start + k) * channels + c]);
        }
        out[x * channels + c] = acc;
      }
    }
  }
  const size_t row_len = static_cast<size_t>(dst_w) * channels;
  std::vector<float> acc(row_len);
  for (int y = 0; y < dst_h; ++y) {
    const Taps& t = ty[y];
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (size_t k = 0; k < t.weights.size(); ++k) {
      const float w = t.weights[k];
      const float* in = tmp.data() + (t.start + k) * row_len;
      for (size_t i = 0; i < row_len; ++i) acc[i] += w * in[i];
    }
    T* out = dst + y * row_len;
    for (size_t i = 0; i < row_len; ++i) out[i] = fromFloat<T>(acc[i]);
  }
}

}  // namespace

void resizeImage(const uint8_t* src, int src_w, int src_h, uint8_t* dst, int dst_w, int dst_h,
                 int channels) {
  resizeImpl(src, src_w, src_h, dst, dst_w, dst_h, channels);
}

void resizeImage(const float* src, int src_w, int src_h, float* dst, int dst_w, int dst_h,
                 int channels) {
  resizeImpl(src, src_w, src_h, dst, dst_w, dst_h, channels);
}

#if defined(__x86_64__)
namespace {

// RGB rows reversed 5 pixels (15 bytes) per SSSE3 byte shuffle, from a copy of the row; the
// 16-byte store's extra byte is overwritten by the next block, and the last pixels of each row go
// through the scalar loop so no store crosses the row end.
__attribute__((target("ssse3"))) void flipRgbSsse3(uint8_t* pixels, int width, int height) {
  const __m128i reverse5 = _mm_setr_epi8(12, 13, 14, 9, 10, 11, 6, 7, 8, 3, 4, 5, 0, 1, 2, 15);
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  std::vector<uint8_t> copy(row_bytes + 16);
  for (int y = 0; y < height; ++y) {
    uint8_t* row = pixels + y * row_bytes;
    std::copy(row, row + row_bytes, copy.begin());
    int d = 0;
    for (; static_cast<size_t>(d) * 3 + 16 <= row_bytes; d += 5) {
      const __m128i src = _mm_loadu_si128(
          reinterpret_cast<const __m128i*>(copy.data() + static_cast<size_t>(width - d - 5) * 3));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(row + static_cast<size_t>(d) * 3),
                       _mm_shuffle_epi8(src, reverse5));
    }
    for (; d < width; ++d) {
      const uint8_t* s = copy.data() + static_cast<size_t>(width - 1 - d) * 3;
      row[d * 3] = s[0], row[d * 3 + 1] = s[1], row[d * 3 + 2] = s[2];
    }
  }
}

bool haveSsse3() {
  static const bool have = __builtin_cpu_supports("ssse3");
  return have;
}

}  // namespace
#endif

void flipHorizontal(uint8_t* pixels, int width, int height, int channels) {
#if defined(__x86_64__)
  // The flip runs on half of all training images; it is worth a vector path.
  if (channels == 3 && width >= 6 && haveSsse3()) {
    flipRgbSsse3(pixels, width, height);
    return;
  }
#endif
  for (int y = 0; y < height; ++y) {
    uint8_t* row = pixels + static_cast<size_t>(y) * width * channels;
    for (int l = 0, r = width - 1; l < r; ++l, --r) {
      for (int c = 0; c < channels; ++c) std::swap(row[l * channels + c], row[r * channels + c]);
    }
  }
}

}  // namespace l2face::data
