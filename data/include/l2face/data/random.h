// Portable deterministic randomness: seed mixing and a small PRNG (xoshiro256**).
#pragma once

#include <cstddef>
#include <cstdint>

namespace l2face::data {

// Derives an independent 64-bit seed from a base seed and up to three stream coordinates, e.g.
// mixSeed(seed, epoch, sample) for augmentation. Pure function; identical on every platform
// (std:: distributions are not, which is why the module never uses them for data order).
uint64_t mixSeed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0);

// xoshiro256** seeded through splitmix64. Not thread-safe: one generator per thread / task.
// Every method is defined bit-exactly here, so sequences are reproducible across compilers and
// standard libraries (apart from the last ulp of libm in normal()).
class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Unbiased integer in [0, n) (Lemire's multiply-and-reject); n must be > 0.
  uint64_t below(uint64_t n);
  // True with probability p.
  bool bernoulli(double p) { return uniform() < p; }
  // Standard normal (Box-Muller, no cached second value so the stream stays simple).
  double normal();
  double normal(double mean, double stddev) { return mean + stddev * normal(); }

 private:
  uint64_t state_[4];
};

}  // namespace l2face::data
