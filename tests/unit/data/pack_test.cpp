// Tests of packDataset and its list parser: alignment of wild photos, determinism across threads,
// shards read back as one dataset, labels, the centre-crop path, skipped files and list errors.
#include "l2face/data/pack.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "l2face/data/errors.h"
#include "l2face/data/jpeg.h"
#include "l2face/data/random.h"
#include "l2face/data/recordio.h"
#include "l2face/data/synth_wild.h"
#include "test_util.h"

namespace l2face::data {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

constexpr int kSize = 64;

void writeText(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string pointsText(const FivePoints& p) {
  std::string s;
  for (const Point2& q : p) s += " " + std::to_string(q.x) + " " + std::to_string(q.y);
  return s;
}

// n wild photos (variant k: label k % 3, written in label-descending order) and their list.
struct WildSet {
  std::vector<std::vector<uint8_t>> crops;  // the canonical crops, by line
  std::string list;
};

WildSet writeWildSet(const fs::path& dir, int n) {
  WildSet set;
  Rng rng(11);
  for (int k = 0; k < n; ++k) {
    const std::vector<uint8_t> crop = test::smoothImage(kSize, kSize, k);
    const WildImage w =
        placeInTheWild(crop.data(), kSize, kSize, drawWildPlacement(rng, kSize, 1.0), 0.0, rng);
    const std::string name = "img_" + std::to_string(k) + ".jpg";
    test::writeBytes(dir / name, encodeJpeg(w.rgb.data(), w.width, w.height, 98));
    set.list += name + " " + std::to_string(2 - k % 3) + pointsText(w.points) + "\n";
    set.crops.push_back(crop);
  }
  writeText(dir / "list.txt", set.list);
  return set;
}

PackOptions options(const fs::path& input, const fs::path& out, int threads) {
  PackOptions o;
  o.input = input.string();
  o.out = out.string();
  o.size = kSize;
  o.threads = threads;
  return o;
}

std::vector<uint8_t> decoded(const Dataset& d, size_t i) {
  std::vector<uint8_t> bytes, rgb(kSize * kSize * 3);
  d.read(i, bytes);
  JpegDecoder().decode(bytes.data(), bytes.size(), kSize, kSize, rgb.data(), d.describe(i));
  return rgb;
}

// PSNR without a 2-pixel border (where the warp mixes the crop's edge with the background).
double innerPsnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  std::vector<uint8_t> ia, ib;
  for (int y = 2; y < kSize - 2; ++y) {
    ia.insert(ia.end(), &a[(y * kSize + 2) * 3], &a[(y * kSize + kSize - 2) * 3]);
    ib.insert(ib.end(), &b[(y * kSize + 2) * 3], &b[(y * kSize + kSize - 2) * 3]);
  }
  return test::psnr(ia, ib);
}

TEST(Pack, WildPhotosComeBackAlignedSortedByLabelAndIdenticalForAnyThreadCount) {
  TempDir dir;
  const WildSet set = writeWildSet(dir.path() / "in", 7);
  const PackReport one = packDataset(options(dir.path() / "in/list.txt", dir.path() / "a", 1));
  const PackReport three = packDataset(options(dir.path() / "in/list.txt", dir.path() / "b", 3));
  EXPECT_EQ(one.packed, 7);
  EXPECT_EQ(one.aligned, 7);
  EXPECT_EQ(one.classes, 3);
  ASSERT_EQ(one.shards, std::vector<std::string>{"train.rec"});
  for (const char* f : {"train.rec", "train.idx", "property"}) {
    EXPECT_EQ(test::readBytes(dir.path() / "a" / f), test::readBytes(dir.path() / "b" / f)) << f;
  }
  EXPECT_EQ(test::readText(dir.path() / "a/property"), "3,64,64\n");
  EXPECT_FALSE(fs::exists(dir.path() / "a/.pack-staging"));
  // Stable sort by label: label 0 = lines 2, 5; label 1 = lines 1, 4; label 2 = lines 0, 3, 6.
  const std::vector<int> line_of = {2, 5, 1, 4, 0, 3, 6};
  const auto packed = openDataset((dir.path() / "a").string());
  ASSERT_EQ(packed->size(), 7u);
  EXPECT_EQ(packed->numClasses(), 3);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(packed->label(i), 2 - line_of[i] % 3);
    // Two bilinear resamplings and two JPEG encodings of a smooth image: measured 37.7-42.7 dB.
    EXPECT_GT(innerPsnr(decoded(*packed, i), set.crops[line_of[i]]), 36.0) << i;
  }
}

TEST(Pack, ShardsByImagesOrBytesReadBackAsTheUnshardedDataset) {
  TempDir dir;
  writeWildSet(dir.path() / "in", 7);
  const fs::path list = dir.path() / "in/list.txt";
  packDataset(options(list, dir.path() / "whole", 2));
  PackOptions by_images = options(list, dir.path() / "img", 2);
  by_images.shard_images = 3;
  const PackReport r = packDataset(by_images);
  EXPECT_EQ(r.shards,
            (std::vector<std::string>{"train_000.rec", "train_001.rec", "train_002.rec"}));
  PackOptions by_bytes = options(list, dir.path() / "bytes", 2);
  int64_t images = 0;
  parseShardSize("4K", images, by_bytes.shard_bytes);
  const PackReport rb = packDataset(by_bytes);
  EXPECT_GT(rb.shards.size(), 1u);
  for (const auto& s : rb.shards) {
    const auto size = fs::file_size(dir.path() / "bytes" / s);
    EXPECT_LE(size, 4096u + 40u * 3) << s;  // identity records (40 bytes per class) come on top
  }
  const auto whole = openDataset((dir.path() / "whole").string());
  for (const std::string spec : {"img/train_*.rec", "bytes/train_*.rec"}) {
    const auto sharded = openDataset((dir.path() / spec).string());
    ASSERT_EQ(sharded->size(), whole->size()) << spec;
    EXPECT_EQ(sharded->numClasses(), 3);
    std::vector<uint8_t> a, b;
    for (size_t i = 0; i < whole->size(); ++i) {
      EXPECT_EQ(sharded->readSample(i, a), whole->readSample(i, b)) << spec << " " << i;
      EXPECT_EQ(a, b) << spec << " " << i;
    }
  }
}

TEST(Pack, ImageFolderPhotosAreCentreCroppedWithDenseLabels) {
  TempDir dir;
  const std::vector<uint8_t> wide = test::smoothImage(96, 64, 1);
  for (const char* cls : {"zeta", "alpha"}) {
    test::writeBytes(dir.path() / "in" / cls / "a.jpg", encodeJpeg(wide.data(), 96, 64, 98));
  }
  fs::create_directories(dir.path() / "in/empty");
  const PackReport r = packDataset(options(dir.path() / "in", dir.path() / "out", 2));
  EXPECT_EQ(r.centre_cropped, 2);
  EXPECT_EQ(r.aligned, 0);
  EXPECT_EQ(r.classes, 2);
  // The largest centred square: columns 16..79, resized 64 -> 64 (a copy).
  std::vector<uint8_t> want(kSize * kSize * 3);
  for (int y = 0; y < 64; ++y) {
    std::copy(&wide[(y * 96 + 16) * 3], &wide[(y * 96 + 80) * 3], &want[y * 64 * 3]);
  }
  const auto packed = openDataset((dir.path() / "out").string());
  ASSERT_EQ(packed->size(), 2u);
  EXPECT_EQ(packed->label(0), 0);
  EXPECT_EQ(packed->label(1), 1);
  EXPECT_GT(test::psnr(decoded(*packed, 0), want), 35.0);
}

TEST(Pack, UnusablePhotosAreSkippedAndListedWithTheirReasons) {
  TempDir dir;
  const fs::path in = dir.path() / "in";
  const WildSet set = writeWildSet(in, 2);
  const std::vector<uint8_t> small = test::smoothImage(8, 8);
  test::writeBytes(in / "small.jpg", encodeJpeg(small.data(), 8, 8, 90));
  test::writeBytes(in / "fake.png", {0x89, 'P', 'N', 'G', 13, 10, 26, 10});
  test::writeBytes(in / "text.jpg", {'h', 'e', 'l', 'l', 'o'});
  std::vector<uint8_t> cut = test::readBytes(in / "img_0.jpg");
  cut.resize(cut.size() / 2);
  test::writeBytes(in / "cut.jpg", cut);
  writeText(in / "list.txt", set.list +
                                 "missing.jpg 0\nsmall.jpg 0\nfake.png 1\ntext.jpg 1\n"
                                 "cut.jpg 1\n");
  const PackReport r = packDataset(options(in / "list.txt", dir.path() / "out", 2));
  EXPECT_EQ(r.packed, 2);
  ASSERT_EQ(r.skipped.size(), 5u);
  const std::vector<std::string> want = {"missing file", "too small: 8x8", "PNG:", "not a JPEG",
                                         "undecodable:"};
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(r.skipped[k].line, k + 3);
    EXPECT_EQ(r.skipped[k].reason.rfind(want[k], 0), 0u) << r.skipped[k].reason;
  }
  const auto report = nlohmann::json::parse(test::readText(dir.path() / "out/pack_report.json"));
  EXPECT_EQ(report["counts"]["skipped"], 5);
  EXPECT_EQ(report["skipped"][2]["file"], "fake.png");
  EXPECT_EQ(report["skipped"][2]["line"], 5);
}

// Each bad list fails with std::invalid_argument naming file:line and the field, and leaves no
// output directory behind.
TEST(Pack, ListErrorsNameTheLineAndFieldAndLeaveNoOutput) {
  TempDir dir;
  const fs::path in = dir.path() / "in";
  const WildSet set = writeWildSet(in, 1);
  const std::string good = set.list;
  const std::string pts = " 10 20 30 20 20 30 12 40 28 40";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"img_0.jpg 0 1 2 3\n", "list.txt:2: 5 columns"},
      {"img_0.jpg zero" + pts + "\n", "list.txt:2: column 2 (label): 'zero'"},
      {"img_0.jpg -1\n", "list.txt:2: column 2 (label): '-1'"},
      {"img_0.jpg 0 10 20 30 2x0 20 30 12 40 28 40\n", "list.txt:2: column 6 (y2): '2x0'"},
      {"img_0.jpg 0 10 20 30 20 20 30 12 40 28 nan\n", "list.txt:2: column 12 (y5)"},
      {"img_0.jpg 0 1 1 1 1 1 1 1 1 1 1\n", "list.txt:2: landmarks x1..y5: the landmarks coincide"},
      {"img_0.jpg 0 10 20 30 20 20 30 12 4000 28 40\n", "list.txt:2: point 4 (columns x4 y4)"},
  };
  for (const auto& [line, message] : cases) {
    writeText(in / "list.txt", good + line);
    try {
      packDataset(options(in / "list.txt", dir.path() / "out", 2));
      ADD_FAILURE() << "no error for " << line;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir.path() / "out")) << line;
  }
}

TEST(Pack, ListParserAcceptsCommentsScoresAndRelativeRoots) {
  TempDir dir;
  writeText(dir.path() / "l.txt",
            "# path label points\n\na/b.jpg 3\n/abs.jpg 0 10 20 30 20 20 30 12 40 28 40 0.99\n");
  const auto e = parsePackList(dir.file("l.txt"), "/data");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].path, "/data/a/b.jpg");
  EXPECT_EQ(e[0].line, 3u);
  EXPECT_FALSE(e[0].has_points);
  EXPECT_EQ(e[1].path, "/abs.jpg");
  EXPECT_TRUE(e[1].has_points);
  EXPECT_DOUBLE_EQ(e[1].points[4].y, 40.0);
  EXPECT_EQ(parsePackList(dir.file("l.txt"), "")[0].path, (dir.path() / "a/b.jpg").string());
  int64_t images = 0, bytes = 0;
  parseShardSize("50000", images, bytes);
  EXPECT_EQ(images, 50000);
  EXPECT_EQ(bytes, 0);
  parseShardSize("512M", images, bytes);
  EXPECT_EQ(images, 0);
  EXPECT_EQ(bytes, int64_t{512} << 20);
  for (const char* bad : {"", "0", "12T", "-5", "1.5G"}) {
    EXPECT_THROW(parseShardSize(bad, images, bytes), std::invalid_argument) << bad;
  }
}

// A number column is read whole: "40" followed by a NUL byte and more characters is not 40.
TEST(Pack, ListNumberColumnWithBytesAfterANulIsRefused) {
  TempDir dir;
  const std::string head = "a.jpg 0 10 20 30 20 20 30 12 40 28 40";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string(" 0.9\0x", 6), "l.txt:1: column 13 (score): '0.9"},
      {std::string("\0\0002", 3), "l.txt:1: column 12 (y5): '40"}};
  for (const auto& [tail, message] : cases) {
    writeText(dir.path() / "l.txt", head + tail + "\n");
    try {
      parsePackList(dir.file("l.txt"), "");
      ADD_FAILURE() << "no error for " << message;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(Pack, RefusesAForeignNonEmptyOutputButReplacesItsOwn) {
  TempDir dir;
  writeWildSet(dir.path() / "in", 2);
  const fs::path list = dir.path() / "in/list.txt";
  writeText(dir.path() / "out/notes.txt", "mine");
  EXPECT_THROW(packDataset(options(list, dir.path() / "out", 1)), DataError);
  EXPECT_EQ(test::readText(dir.path() / "out/notes.txt"), "mine");
  PackOptions sharded = options(list, dir.path() / "own", 1);
  sharded.shard_images = 1;
  packDataset(sharded);
  EXPECT_TRUE(fs::exists(dir.path() / "own/train_001.rec"));
  packDataset(options(list, dir.path() / "own", 1));
  EXPECT_FALSE(fs::exists(dir.path() / "own/train_001.rec"));
  EXPECT_TRUE(fs::exists(dir.path() / "own/train.rec"));
}

}  // namespace
}  // namespace l2face::data
