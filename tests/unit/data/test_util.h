// Helpers shared by the data tests: a self-deleting temp directory, test images, file I/O.
#pragma once

#include "temp_dir.h"

#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "l2face/data/jpeg.h"

namespace l2face::data::test {

// A fresh temp directory per test, removed with its contents.
class TempDir : public l2face::testing::TempDir {
 public:
  TempDir() : l2face::testing::TempDir("l2face_data") {}
};

// A smooth RGB test image whose content depends on `variant` (so images differ).
inline std::vector<uint8_t> smoothImage(int width, int height, int variant = 0) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double u = static_cast<double>(x) / width, v = static_cast<double>(y) / height;
      const double phase = 0.7 * variant;
      uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(128 + 100 * std::sin(2.0 * u + phase));
      p[1] = static_cast<uint8_t>(128 + 100 * std::cos(1.5 * v + 0.5 * phase));
      p[2] = static_cast<uint8_t>(40 + 170 * u * v);
    }
  }
  return rgb;
}

inline double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) throw std::invalid_argument("psnr: size mismatch");
  double se = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    se += d * d;
  }
  const double mse = se / a.size();
  return mse == 0.0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

inline void writeBytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> readBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline std::string readText(const std::filesystem::path& p) {
  const auto b = readBytes(p);
  return std::string(b.begin(), b.end());
}

}  // namespace l2face::data::test
