// libFuzzer target: the loader's JPEG decode path (JpegDecoder::peek and decode, both the direct
// decode to the training size and the crop path's decode at the stored size).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "l2face/data/errors.h"
#include "l2face/data/jpeg.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One decoder for the whole run, as a loader worker keeps one: a bad input must not poison the
  // next (the decoder resets itself after a failure).
  static l2face::data::JpegDecoder decoder;
  static std::vector<uint8_t> out;
  try {
    const l2face::data::ImageSize stored = decoder.peek(data, size, "fuzz");
    out.resize(size_t{112} * 112 * 3);
    decoder.decode(data, size, 112, 112, out.data(), "fuzz");  // DCT scaling + triangle filter
    decoder.decode(data, size, 7, 5, out.data(), "fuzz");      // odd sizes, large reductions
    // The crop path decodes at the stored size; keep it to small images so runs stay fast (the
    // pixel limit itself is a unit test).
    if (static_cast<uint64_t>(stored.width) * stored.height <= (uint64_t{1} << 20)) {
      out.resize(static_cast<size_t>(stored.width) * stored.height * 3);
      decoder.decode(data, size, stored.width, stored.height, out.data(), "fuzz");
    }
  } catch (const l2face::data::DataError&) {
    // Refused with a message: the expected outcome for most inputs.
  }
  return 0;
}
