// ResNet-50's parameter tensors in forward order: a realistic gradient layout for benchmarks.
// (ImageNet, 1000 classes: 161 tensors, 25.6 M floats, 97.5 MiB.)
#pragma once

#include <cstddef>
#include <vector>

namespace l2face::bench {

inline std::vector<size_t> resnet50ParamNumel() {
  std::vector<size_t> p;
  auto conv = [&](size_t in, size_t out, size_t k) {
    p.push_back(in * out * k * k);
    p.push_back(out);  // batch-norm weight
    p.push_back(out);  // batch-norm bias
  };
  conv(3, 64, 7);
  size_t in = 64;
  const size_t widths[] = {64, 128, 256, 512};
  const int blocks[] = {3, 4, 6, 3};
  for (int s = 0; s < 4; ++s) {
    for (int b = 0; b < blocks[s]; ++b) {
      const size_t w = widths[s];
      conv(in, w, 1);
      conv(w, w, 3);
      conv(w, 4 * w, 1);
      if (b == 0) conv(in, 4 * w, 1);  // the projection shortcut
      in = 4 * w;
    }
  }
  p.push_back(2048 * 1000);  // fc weight
  p.push_back(1000);         // fc bias
  return p;
}

}  // namespace l2face::bench
