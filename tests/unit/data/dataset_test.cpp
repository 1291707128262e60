// Tests of ImageFolderDataset (scan, labels, reads, class map, errors) and dataset statistics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "l2face/data/dataset.h"
#include "l2face/data/errors.h"
#include "test_util.h"

namespace l2face::data {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::vector<uint8_t> tinyJpeg(int variant) {
  const auto rgb = test::smoothImage(16, 16, variant);
  return encodeJpeg(rgb.data(), 16, 16, 90);
}

// root/bob: 2 images, root/alice: 3 (one upper-case .JPG, one .jpeg), root/carol: no images,
// plus files the scan must ignore.
void makeFolder(const fs::path& root) {
  test::writeBytes(root / "bob" / "b_2.jpg", tinyJpeg(1));
  test::writeBytes(root / "bob" / "b_1.jpg", tinyJpeg(2));
  test::writeBytes(root / "alice" / "z.JPG", tinyJpeg(3));
  test::writeBytes(root / "alice" / "a.jpeg", tinyJpeg(4));
  test::writeBytes(root / "alice" / "m.jpg", tinyJpeg(5));
  test::writeBytes(root / "alice" / "notes.txt", {'h', 'i'});
  test::writeBytes(root / "alice" / ".hidden.jpg", tinyJpeg(6));
  test::writeBytes(root / "carol" / "readme.md", {'x'});
  test::writeBytes(root / "stray.jpg", tinyJpeg(7));  // not in a class directory
}

TEST(Unit, ImageFolderScanSortsClassesAndFilesAndSkipsEmptyClasses) {
  TempDir dir;
  makeFolder(dir.path());
  const ImageFolderDataset ds(dir.str());
  ASSERT_EQ(ds.size(), 5u);
  EXPECT_EQ(ds.numClasses(), 2);
  EXPECT_EQ(ds.emptyClassesSkipped(), 1);
  EXPECT_EQ(ds.classNames(), (std::vector<std::string>{"alice", "bob"}));
  const std::vector<std::string> expected = {"alice/a.jpeg", "alice/m.jpg", "alice/z.JPG",
                                             "bob/b_1.jpg", "bob/b_2.jpg"};
  const std::vector<int> labels = {0, 0, 0, 1, 1};
  for (size_t i = 0; i < ds.size(); ++i) {
    EXPECT_EQ(ds.path(i), (dir.path() / expected[i]).string());
    EXPECT_EQ(ds.describe(i), ds.path(i));
    EXPECT_EQ(ds.label(i), labels[i]);
  }
  EXPECT_THROW(ds.label(5), std::out_of_range);
}

TEST(Unit, ImageFolderReadReturnsTheFileBytes) {
  TempDir dir;
  makeFolder(dir.path());
  const ImageFolderDataset ds(dir.str());
  std::vector<uint8_t> bytes{1, 2, 3};
  ds.read(3, bytes);
  EXPECT_EQ(bytes, tinyJpeg(2));  // bob/b_1.jpg
  fs::remove(dir.path() / "bob" / "b_1.jpg");
  try {
    ds.read(3, bytes);
    FAIL() << "expected DataError for a vanished file";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("b_1.jpg"), std::string::npos) << e.what();
  }
}

TEST(Unit, ImageFolderRejectsMissingOrEmptyRoots) {
  TempDir dir;
  const std::string missing = (dir.path() / "nope").string();
  try {
    ImageFolderDataset ds(missing);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
  // A root with files but no class directories.
  test::writeBytes(dir.path() / "flat" / "x.jpg", tinyJpeg(0));
  EXPECT_THROW(ImageFolderDataset((dir.path() / "flat").string()), DataError);
  // Class directories, but no JPEG anywhere.
  test::writeBytes(dir.path() / "nojpeg" / "a" / "x.png", {1});
  fs::create_directories(dir.path() / "nojpeg" / "b");
  EXPECT_THROW(ImageFolderDataset((dir.path() / "nojpeg").string()), DataError);
}

TEST(Unit, ImageFolderWritesClassMap) {
  TempDir dir;
  makeFolder(dir.path() / "root");
  const ImageFolderDataset ds((dir.path() / "root").string());
  const fs::path map = dir.path() / "classes.tsv";
  ds.writeClassMap(map.string());
  EXPECT_EQ(test::readText(map), "0\talice\n1\tbob\n");
  EXPECT_FALSE(fs::exists(map.string() + ".tmp"));
  EXPECT_THROW(ds.writeClassMap((dir.path() / "no" / "such" / "dir.tsv").string()), DataError);
}

TEST(Unit, StatsCountImagesPerClass) {
  TempDir dir;
  makeFolder(dir.path());
  const ImageFolderDataset ds(dir.str());
  const DatasetStats s = computeStats(ds);
  EXPECT_EQ(s.images, 5);
  EXPECT_EQ(s.classes, 2);
  EXPECT_EQ(s.min_per_class, 2);
  EXPECT_EQ(s.max_per_class, 3);
  EXPECT_DOUBLE_EQ(s.mean_per_class, 2.5);
  const auto j = nlohmann::json::parse(statsJson(s));
  EXPECT_EQ(j.at("images"), 5);
  EXPECT_EQ(j.at("classes"), 2);
  EXPECT_EQ(j.at("images_per_class").at("min"), 2);
  EXPECT_EQ(j.at("images_per_class").at("max"), 3);
  EXPECT_DOUBLE_EQ(j.at("images_per_class").at("mean").get<double>(), 2.5);
}

}  // namespace
}  // namespace l2face::data
