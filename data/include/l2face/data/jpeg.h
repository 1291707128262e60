// JPEG encoding and decoding through TurboJPEG, with resizing to a requested output size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace l2face::data {

struct ImageSize {
  int width = 0;
  int height = 0;
};

// Largest image the decoder accepts (64 Mi pixels, e.g. 8192 x 8192; camera photos are below).
// A few header bytes can announce 65500 x 65500 pixels; decoding that at full size (the loader's
// crop path) would need 12 GiB, so such a file is refused like any undecodable one.
constexpr int64_t kMaxJpegPixels = int64_t{1} << 26;

// Encodes an interleaved RGB image (HWC, 8 bit) as a baseline JPEG with 4:2:0 chroma
// subsampling. quality in [1, 100]. Thread-safe (creates its own compressor); use JpegEncoder in
// loops. Throws DataError if TurboJPEG fails, std::invalid_argument for bad arguments.
std::vector<uint8_t> encodeJpeg(const uint8_t* rgb, int width, int height, int quality);

// Reusable encoder owning one TurboJPEG compressor. Not thread-safe: one per thread.
class JpegEncoder {
 public:
  JpegEncoder();
  ~JpegEncoder();
  JpegEncoder(const JpegEncoder&) = delete;
  JpegEncoder& operator=(const JpegEncoder&) = delete;

  std::vector<uint8_t> encode(const uint8_t* rgb, int width, int height, int quality);

 private:
  void* handle_ = nullptr;  // tjhandle; void* keeps turbojpeg.h out of the public header
};

// Decoder owning one TurboJPEG decompressor (RAII). Not thread-safe: one per thread.
class JpegDecoder {
 public:
  JpegDecoder();
  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  // Reads the stored width and height. Throws DataError naming `what_for_errors` (a path or
  // record) when the header is not a readable JPEG, or announces more than kMaxJpegPixels.
  ImageSize peek(const uint8_t* data, size_t size, const std::string& what_for_errors);

  // Decodes to RGB HWC into out_rgb (out_width * out_height * 3 bytes). When the stored size
  // differs, decodes at the smallest TurboJPEG scaling factor whose result is still >= the
  // target in both axes (cheap DCT-domain reduction) and resizes the rest of the way with a
  // triangle filter (see resizeImage). Corrupt or truncated data (including libjpeg warnings
  // such as "premature end of data") throws DataError naming `what_for_errors`.
  void decode(const uint8_t* data, size_t size, int out_width, int out_height, uint8_t* out_rgb,
              const std::string& what_for_errors);

 private:
  [[noreturn]] void failAndReset(const std::string& message);

  void* handle_ = nullptr;        // tjhandle
  std::vector<uint8_t> scratch_;  // scaled decode before resizing, reused across calls
};

}  // namespace l2face::data
