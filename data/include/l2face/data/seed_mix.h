// The project's one 64-bit mixing function (splitmix64's finaliser), for deriving seeds.
#pragma once

#include <cstdint>

namespace l2face::data {

// splitmix64's increment: mix64(x + kGoldenGamma) is one splitmix64 output for state x.
inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

// A bijection of 64-bit words whose every output bit depends on every input bit (Stafford's
// variant 13, as in splitmix64). Pure and identical on every platform.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace l2face::data
