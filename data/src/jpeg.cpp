// TurboJPEG-backed JpegEncoder / JpegDecoder and the encodeJpeg convenience function.
#include "l2face/data/jpeg.h"

#include <turbojpeg.h>

#include <limits>
#include <stdexcept>

#include "l2face/data/errors.h"
#include "l2face/data/image_ops.h"

namespace l2face::data {
namespace {

std::string tjMessage(tjhandle handle) {
  const char* msg = tjGetErrorStr2(handle);
  return msg ? msg : "unknown TurboJPEG error";
}

void checkFits(size_t size, const std::string& what) {
  // The TurboJPEG 2.x API takes the size as unsigned long; reject anything it cannot represent.
  if (size == 0) throw DataError("JPEG '" + what + "': empty file (0 bytes); re-create it");
  if (size > std::numeric_limits<unsigned long>::max()) {
    throw DataError("JPEG '" + what + "': too large for TurboJPEG");
  }
}

}  // namespace

std::vector<uint8_t> encodeJpeg(const uint8_t* rgb, int width, int height, int quality) {
  JpegEncoder encoder;
  return encoder.encode(rgb, width, height, quality);
}

JpegEncoder::JpegEncoder() : handle_(tjInitCompress()) {
  if (!handle_) throw DataError("TurboJPEG: cannot create a compressor (out of memory?)");
}

JpegEncoder::~JpegEncoder() { tjDestroy(static_cast<tjhandle>(handle_)); }

std::vector<uint8_t> JpegEncoder::encode(const uint8_t* rgb, int width, int height, int quality) {
  if (!rgb || width <= 0 || height <= 0) {
    throw std::invalid_argument("encodeJpeg: need a non-null image with positive width and height");
  }
  if (quality < 1 || quality > 100) {
    throw std::invalid_argument("encodeJpeg: quality " + std::to_string(quality) +
                                " outside [1, 100]");
  }
  auto handle = static_cast<tjhandle>(handle_);
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  const int rc = tjCompress2(handle, rgb, width, 0, height, TJPF_RGB, &out, &out_size, TJSAMP_420,
                             quality, TJFLAG_ACCURATEDCT);
  if (rc != 0) {
    const std::string msg = tjMessage(handle);
    tjFree(out);
    throw DataError("encodeJpeg: TurboJPEG failed on a " + std::to_string(width) + "x" +
                    std::to_string(height) + " image: " + msg);
  }
  std::vector<uint8_t> bytes(out, out + out_size);
  tjFree(out);
  return bytes;
}

JpegDecoder::JpegDecoder() : handle_(tjInitDecompress()) {
  if (!handle_) throw DataError("TurboJPEG: cannot create a decompressor (out of memory?)");
}

JpegDecoder::~JpegDecoder() { tjDestroy(static_cast<tjhandle>(handle_)); }

void JpegDecoder::failAndReset(const std::string& message) {
  // After a failed call the TurboJPEG 2.x decompressor can be left mid-stream, so that the next
  // header read "succeeds" with a 0x0 image; a fresh handle keeps one bad file from poisoning
  // the decoding of the good ones after it.
  tjDestroy(static_cast<tjhandle>(handle_));
  handle_ = tjInitDecompress();
  if (!handle_) throw DataError("TurboJPEG: cannot re-create a decompressor (out of memory?)");
  throw DataError(message);
}

ImageSize JpegDecoder::peek(const uint8_t* data, size_t size, const std::string& what) {
  checkFits(size, what);
  auto handle = static_cast<tjhandle>(handle_);
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(handle, data, static_cast<unsigned long>(size), &w, &h, &subsamp,
                          &colorspace) != 0) {
    failAndReset("JPEG '" + what + "': unreadable header (" + tjMessage(handle) +
                 "); the file is corrupt or not a JPEG (PNG and other formats are not "
                 "supported)");
  }
  if (w <= 0 || h <= 0) failAndReset("JPEG '" + what + "': header reports an empty image");
  if (static_cast<int64_t>(w) * h > kMaxJpegPixels) {
    failAndReset("JPEG '" + what + "': " + std::to_string(w) + "x" + std::to_string(h) +
                 " pixels, over the decoder's limit of " + std::to_string(kMaxJpegPixels) +
                 " (8192x8192); the header is corrupt, or the image needs resizing first");
  }
  return {w, h};
}

void JpegDecoder::decode(const uint8_t* data, size_t size, int out_width, int out_height,
                         uint8_t* out_rgb, const std::string& what) {
  if (out_width <= 0 || out_height <= 0 || !out_rgb) {
    throw std::invalid_argument("JpegDecoder::decode: bad output buffer for '" + what + "'");
  }
  const ImageSize stored = peek(data, size, what);
  auto handle = static_cast<tjhandle>(handle_);

  // Pick the smallest scaling factor (num/denom <= 1) that keeps both sides >= the target, so
  // the DCT does the bulk of a large reduction and the triangle filter only the last step.
  int dec_w = stored.width, dec_h = stored.height;
  int num_factors = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&num_factors);
  for (int i = 0; factors && i < num_factors; ++i) {
    const tjscalingfactor f = factors[i];
    if (f.num > f.denom) continue;
    const int w = TJSCALED(stored.width, f);
    const int h = TJSCALED(stored.height, f);
    if (w >= out_width && h >= out_height && static_cast<int64_t>(w) * h <
                                                 static_cast<int64_t>(dec_w) * dec_h) {
      dec_w = w;
      dec_h = h;
    }
  }

  const bool direct = dec_w == out_width && dec_h == out_height;
  uint8_t* target = out_rgb;
  if (!direct) {
    scratch_.resize(static_cast<size_t>(dec_w) * dec_h * 3);
    target = scratch_.data();
  }
  // STOPONWARNING: a truncated file is a warning to libjpeg (it pads with grey); we want it to be
  // an error so a damaged sample is replaced rather than trained on.
  if (tjDecompress2(handle, data, static_cast<unsigned long>(size), target, dec_w, 0, dec_h,
                    TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
    failAndReset("JPEG '" + what + "': decode failed (" + tjMessage(handle) +
                 "); the file is corrupt or truncated, re-create or remove it");
  }
  if (!direct) resizeImage(target, dec_w, dec_h, out_rgb, out_width, out_height, 3);
}

}  // namespace l2face::data
