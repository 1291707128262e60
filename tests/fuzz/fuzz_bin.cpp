// libFuzzer target: the insightface .bin reader (the restricted pickle reader and the checks that
// turn its value into a BinSet).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "l2face/eval/bin_set.h"
#include "l2face/eval/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const l2face::eval::BinSet set = l2face::eval::parseBin(data, size, "fuzz.bin");
    // What the evaluation relies on.
    if (set.same.empty() || set.images.size() != 2 * set.same.size()) std::abort();
    for (const auto& image : set.images) {
      if (!image || image->empty()) std::abort();
    }
  } catch (const l2face::eval::EvalError&) {
  }
  return 0;
}
