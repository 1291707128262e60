// Seed mixing (splitmix64 finaliser) and the xoshiro256** generator.
#include "l2face/data/random.h"

#include <cmath>

namespace l2face::data {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

uint64_t fmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

uint64_t mixSeed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  // Each input gets its own offset and is finalised before being folded in, and the state is
  // finalised between folds, so argument positions matter: mixSeed(s, a) != mixSeed(a, s) and
  // small consecutive values do not produce correlated streams.
  uint64_t h = fmix64(seed ^ 0x243F6A8885A308D3ULL);
  h = fmix64(h ^ fmix64(a + kGolden));
  h = fmix64(h ^ fmix64(b + 0x632BE59BD9B4E019ULL));
  h = fmix64(h ^ fmix64(c + 0x85157AF5C2B2AE3DULL));
  return h;
}

Rng::Rng(uint64_t seed) {
  uint64_t s = seed;
  for (auto& word : state_) {
    s += kGolden;
    word = fmix64(s);
  }
}

uint64_t Rng::next() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t Rng::below(uint64_t n) {
  unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
  auto low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double Rng::normal() {
  // 1 - uniform() lies in (0, 1], so the log is finite.
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace l2face::data
