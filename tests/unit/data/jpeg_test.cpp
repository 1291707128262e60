// Tests of the TurboJPEG wrapper and the resampling / flip helpers.
#include <gtest/gtest.h>

#include "l2face/data/errors.h"
#include "l2face/data/image_ops.h"
#include "l2face/data/jpeg.h"
#include "test_util.h"

namespace l2face::data {
namespace {

using test::psnr;
using test::smoothImage;

TEST(Unit, JpegRoundTripKeepsSmoothImage) {
  const auto rgb = smoothImage(64, 48);
  const auto jpeg = encodeJpeg(rgb.data(), 64, 48, 95);
  ASSERT_GT(jpeg.size(), 100u);
  EXPECT_EQ(jpeg[0], 0xFF);
  EXPECT_EQ(jpeg[1], 0xD8);
  JpegDecoder decoder;
  std::vector<uint8_t> out(rgb.size());
  decoder.decode(jpeg.data(), jpeg.size(), 64, 48, out.data(), "round trip");
  EXPECT_GT(psnr(rgb, out), 30.0);
  // Lower quality must cost fidelity (the quality argument is honoured).
  const auto rough = encodeJpeg(rgb.data(), 64, 48, 10);
  EXPECT_LT(rough.size(), jpeg.size());
}

TEST(Unit, JpegPeekReportsStoredSize) {
  const auto rgb = smoothImage(50, 30);
  const auto jpeg = encodeJpeg(rgb.data(), 50, 30, 90);
  JpegDecoder decoder;
  const ImageSize s = decoder.peek(jpeg.data(), jpeg.size(), "peek");
  EXPECT_EQ(s.width, 50);
  EXPECT_EQ(s.height, 30);
}

TEST(Unit, JpegDecodeResizesToRequestedSize) {
  const auto rgb = smoothImage(100, 80);
  const auto jpeg = encodeJpeg(rgb.data(), 100, 80, 95);
  JpegDecoder decoder;
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{40, 40}, {32, 24}, {150, 120}}) {
    std::vector<uint8_t> out(static_cast<size_t>(w) * h * 3);
    decoder.decode(jpeg.data(), jpeg.size(), w, h, out.data(), "resize");
    std::vector<uint8_t> expected(out.size());
    resizeImage(rgb.data(), 100, 80, expected.data(), w, h, 3);
    EXPECT_GT(psnr(expected, out), 28.0) << w << "x" << h;
  }
}

TEST(Unit, JpegCorruptDataThrowsDataErrorNamingSource) {
  std::vector<uint8_t> garbage(500);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 37 + 11);
  JpegDecoder decoder;
  std::vector<uint8_t> out(32 * 32 * 3);
  try {
    decoder.decode(garbage.data(), garbage.size(), 32, 32, out.data(), "dir/broken_0001.jpg");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("dir/broken_0001.jpg"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decoder.decode(garbage.data(), 0, 32, 32, out.data(), "empty"), DataError);
}

TEST(Unit, JpegTruncatedDataThrowsDataError) {
  const auto rgb = smoothImage(64, 64, 3);
  const auto jpeg = encodeJpeg(rgb.data(), 64, 64, 90);
  JpegDecoder decoder;
  std::vector<uint8_t> out(rgb.size());
  try {
    decoder.decode(jpeg.data(), jpeg.size() / 2, 64, 64, out.data(), "cut.jpg");
    FAIL() << "expected DataError for a truncated file";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.jpg"), std::string::npos) << e.what();
  }
  // The decoder stays usable after an error.
  decoder.decode(jpeg.data(), jpeg.size(), 64, 64, out.data(), "whole.jpg");
  EXPECT_GT(psnr(rgb, out), 30.0);
}

// A header can announce 65500 x 65500 pixels in a few bytes; the loader's crop path decoded at
// the stored size, so one such file asked for a 12 GiB buffer (std::bad_alloc, which the loader's
// bad-sample repair does not catch). Now refused like any undecodable file, and the decoder
// still works for the next image.
TEST(Unit, JpegHeaderAnnouncingTooManyPixelsIsRefused) {
  const auto rgb = smoothImage(16, 16);
  auto jpeg = encodeJpeg(rgb.data(), 16, 16, 90);
  // The baseline frame header: FF C0, length (2), precision (1), height (2), width (2).
  size_t sof = 0;
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      sof = i;
      break;
    }
  }
  ASSERT_GT(sof, 0u);
  JpegDecoder decoder;
  for (auto [w, h] : {std::pair{65500, 65500}, std::pair{8193, 8192}}) {
    jpeg[sof + 5] = static_cast<uint8_t>(h >> 8);
    jpeg[sof + 6] = static_cast<uint8_t>(h & 0xFF);
    jpeg[sof + 7] = static_cast<uint8_t>(w >> 8);
    jpeg[sof + 8] = static_cast<uint8_t>(w & 0xFF);
    try {
      decoder.peek(jpeg.data(), jpeg.size(), "huge.jpg");
      ADD_FAILURE() << w << "x" << h << " accepted";
    } catch (const DataError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("huge.jpg"), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::to_string(w) + "x" + std::to_string(h) + " pixels"), std::string::npos)
          << msg;
    }
    std::vector<uint8_t> out(size_t{112} * 112 * 3);
    EXPECT_THROW(decoder.decode(jpeg.data(), jpeg.size(), 112, 112, out.data(), "huge.jpg"),
                 DataError);
  }
  const auto good = encodeJpeg(rgb.data(), 16, 16, 90);
  EXPECT_EQ(decoder.peek(good.data(), good.size(), "good.jpg").width, 16);
}

TEST(Unit, JpegEncodeRejectsBadArguments) {
  const auto rgb = smoothImage(8, 8);
  EXPECT_THROW(encodeJpeg(rgb.data(), 8, 8, 0), std::invalid_argument);
  EXPECT_THROW(encodeJpeg(rgb.data(), 8, 8, 101), std::invalid_argument);
  EXPECT_THROW(encodeJpeg(rgb.data(), 0, 8, 90), std::invalid_argument);
}

TEST(Unit, ResizeKeepsConstantImagesAndAveragesWhenShrinking) {
  std::vector<uint8_t> flat(40 * 30 * 3, 77), out(13 * 7 * 3);
  resizeImage(flat.data(), 40, 30, out.data(), 13, 7, 3);
  for (uint8_t v : out) ASSERT_EQ(v, 77);
  // A 1-pixel checkerboard shrunk 4x must average to grey, not alias to black or white.
  std::vector<uint8_t> checker(64 * 64);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) checker[y * 64 + x] = ((x + y) % 2) ? 255 : 0;
  std::vector<uint8_t> small(16 * 16);
  resizeImage(checker.data(), 64, 64, small.data(), 16, 16, 1);
  // (The outermost ring sees the clamped edge and is allowed to deviate.)
  for (int y = 1; y < 15; ++y)
    for (int x = 1; x < 15; ++x) EXPECT_NEAR(small[y * 16 + x], 128, 2) << x << "," << y;
}

TEST(Unit, FlipHorizontalMirrorsRows) {
  auto rgb = smoothImage(5, 3);
  const auto original = rgb;
  flipHorizontal(rgb.data(), 5, 3, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(rgb[(y * 5 + x) * 3 + c], original[(y * 5 + (4 - x)) * 3 + c]);
  flipHorizontal(rgb.data(), 5, 3, 3);
  EXPECT_EQ(rgb, original);
  // Every width, through the vector path for RGB rows of 6+ pixels, and other channel counts.
  for (int channels : {1, 3, 4}) {
    for (int w : {1, 2, 6, 7, 10, 11, 16, 17, 112, 113}) {
      std::vector<uint8_t> img(static_cast<size_t>(w) * 4 * channels);
      for (size_t k = 0; k < img.size(); ++k) img[k] = static_cast<uint8_t>(k * 31 + 7);
      auto flipped = img;
      flipHorizontal(flipped.data(), w, 4, channels);
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < w; ++x)
          for (int c = 0; c < channels; ++c)
            ASSERT_EQ(flipped[(y * w + x) * channels + c], img[(y * w + (w - 1 - x)) * channels + c])
                << "width " << w << " channels " << channels;
    }
  }
}

}  // namespace
}  // namespace l2face::data
