// Seed mixing (splitmix64 finaliser) and the xoshiro256** generator.
#include "l2face/data/random.h"

#include <cmath>

#include "l2face/data/seed_mix.h"

namespace l2face::data {
namespace {

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

uint64_t mixSeed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  // Each input gets its own offset and is finalised before being folded in, and the state is
  // finalised between folds, so argument positions matter: mixSeed(s, a) != mixSeed(a, s) and
  // small consecutive values do not produce correlated streams.
  uint64_t h = mix64(seed ^ 0x243F6A8885A308D3ULL);
  h = mix64(h ^ mix64(a + kGoldenGamma));
  h = mix64(h ^ mix64(b + 0x632BE59BD9B4E019ULL));
  h = mix64(h ^ mix64(c + 0x85157AF5C2B2AE3DULL));
  return h;
}

Rng::Rng(uint64_t seed) {
  uint64_t s = seed;
  for (auto& word : state_) {
    s += kGoldenGamma;
    word = mix64(s);
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
