// Test datasets shared by the loader tests: an in-memory dataset with failure hooks.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "l2face/data/dataset.h"
#include "l2face/data/jpeg.h"
#include "test_util.h"

namespace l2face::data::test {

// In-memory dataset of distinct 40x40 JPEGs; label = index % classes. Hooks make reads slow or
// failing for tests of shutdown and error propagation.
class MemoryDataset : public Dataset {
 public:
  MemoryDataset(size_t n, int classes) : classes_(classes) {
    for (int c = 0; c < classes; ++c) names_.push_back("class" + std::to_string(c));
    for (size_t i = 0; i < n; ++i) {
      const auto rgb = smoothImage(40, 40, static_cast<int>(i));
      images_.push_back(encodeJpeg(rgb.data(), 40, 40, 90));
    }
  }
  size_t size() const override { return images_.size(); }
  int numClasses() const override { return classes_; }
  int label(size_t i) const override { return static_cast<int>(i % classes_); }
  void read(size_t i, std::vector<uint8_t>& bytes) const override {
    if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    if (static_cast<int64_t>(i) == fail_index) throw std::runtime_error("disk on fire");
    bytes = images_[i];
  }
  std::string describe(size_t i) const override { return "mem://" + std::to_string(i); }
  const std::vector<std::string>& classNames() const override { return names_; }

  std::vector<std::vector<uint8_t>> images_;
  int sleep_ms = 0;
  int64_t fail_index = -1;

 private:
  int classes_;
  std::vector<std::string> names_;
};

}  // namespace l2face::data::test
