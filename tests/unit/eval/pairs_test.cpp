// Tests of the pair-list readers: LFW pairs.txt, plain lists, and their error messages.
#include "l2face/eval/pairs.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;
using testing::writeFile;

// An LFW-style tree: Alice 1..3, Bob 1..2, Carol 1 (empty files: only existence matters).
class LfwPairs : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* f : {"Alice/Alice_0001.jpg", "Alice/Alice_0002.jpg", "Alice/Alice_0003.jpg",
                          "Bob/Bob_0001.jpg", "Bob/Bob_0002.jpg", "Carol/Carol_0001.jpg"}) {
      writeFile(dir_.file(f), "");
    }
  }
  std::string image(const std::string& name, int i) const {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s/%s_%04d.jpg", name.c_str(), name.c_str(), i);
    return dir_.file(buf);
  }
  std::string write(const std::string& text) const {
    writeFile(dir_.file("pairs.txt"), text);
    return dir_.file("pairs.txt");
  }
  TempDir dir_;
};

const char* kTwoFolds =
    "2\t2\n"
    "Alice\t1\t2\n"
    "Bob 1 2\n"
    "Alice\t1\tBob\t1\n"
    "Alice 3 Carol 1\n"
    "Alice 2 3\n"
    "Alice 1 3\n"
    "Bob 2 Carol 1\n"
    "Carol 1 Alice 2\n";

TEST_F(LfwPairs, ParsesFoldsLabelsAndPaths) {
  const auto pairs = readPairs(write(kTwoFolds), dir_.path().string());
  ASSERT_EQ(pairs.size(), 8u);
  const std::vector<bool> same = {true, true, false, false, true, true, false, false};
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(pairs[i].same, same[i]) << i;
    EXPECT_EQ(pairs[i].fold, i < 4 ? 0 : 1) << i;
  }
  EXPECT_EQ(pairs[0].a, image("Alice", 1));
  EXPECT_EQ(pairs[0].b, image("Alice", 2));
  EXPECT_EQ(pairs[3].a, image("Alice", 3));
  EXPECT_EQ(pairs[3].b, image("Carol", 1));
  EXPECT_EQ(pairs[7].b, image("Alice", 2));
}

TEST_F(LfwPairs, EmptyImageRootMeansThePairsFilesFolder) {
  const auto pairs = readPairs(write(kTwoFolds), "");
  EXPECT_EQ(pairs[1].a, image("Bob", 1));
}

TEST_F(LfwPairs, SingleNumberHeaderIsOneFold) {
  const auto pairs = readPairs(write("1\nAlice 1 2\nBob 1 Carol 1\n"), "");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_TRUE(pairs[0].same);
  EXPECT_FALSE(pairs[1].same);
  EXPECT_EQ(pairs[1].fold, 0);
}

TEST_F(LfwPairs, UniqueImagesSortedAndDeduplicated) {
  const auto images = uniqueImages(readPairs(write(kTwoFolds), ""));
  const std::vector<std::string> expected = {image("Alice", 1), image("Alice", 2),
                                             image("Alice", 3), image("Bob", 1),
                                             image("Bob", 2),   image("Carol", 1)};
  EXPECT_EQ(images, expected);
}

TEST_F(LfwPairs, ErrorsNameFileAndLine) {
  const std::string file = dir_.file("pairs.txt");
  expectEvalError([&] { readPairs(write("2 x\nAlice 1 2\n"), ""); },
                  {file + ":1", "bad LFW header"});
  expectEvalError([&] { readPairs(write("0 3\n"), ""); }, {file + ":1", "bad LFW header"});
  // Header announces 8 pairs, the file stops after 7.
  std::string seven(kTwoFolds);
  seven.erase(seven.rfind("Carol 1 Alice 2\n"));
  expectEvalError([&] { readPairs(write(seven), ""); },
                  {file + ":8", "ends after 7 pairs", "2 fold(s) x 2 x 2 = 8"});
  // Header announces 4 pairs (one fold), the file has 8: the first extra line is named.
  std::string eight(kTwoFolds);
  eight.replace(0, 3, "1 2");
  expectEvalError([&] { readPairs(write(eight), ""); }, {file + ":6", "more pairs than expected"});
  // A mismatched line where a matched one belongs (blank line 2 still counts as a line).
  expectEvalError([&] { readPairs(write("1 1\n\nAlice 1 Bob 1\nAlice 1 2\n"), ""); },
                  {file + ":3", "matched pair", "found 4 fields"});
  expectEvalError([&] { readPairs(write("1 1\nAlice one 2\nAlice 1 Bob 1\n"), ""); },
                  {file + ":2", "'one'", "not a positive integer"});
  expectEvalError([&] { readPairs(write("1 1\nAlice 1 2\nAlice 1 Bob 9\n"), ""); },
                  {file + ":3", "image not found", image("Bob", 9)});
  expectEvalError([&] { readPairs(write(""), ""); }, {file, "empty"});
  expectEvalError([&] { readPairs(write("\n  \n"), ""); }, {file, "empty"});
  expectEvalError([&] { readPairs(write("a b c d e\n"), ""); },
                  {file + ":1", "unrecognised layout"});
  expectEvalError([&] { readPairs(dir_.file("absent.txt"), ""); }, {"absent.txt", "cannot open"});
}

TEST_F(LfwPairs, PlainListResolvesPathsLabelsAndBlockFolds) {
  const std::string abs = image("Carol", 1);
  std::string text;
  for (int i = 0; i < 25; ++i) {
    const char* label = i % 4 == 0 ? "1" : i % 4 == 1 ? "0" : i % 4 == 2 ? "same" : "diff";
    text += "Alice/Alice_0001.jpg " + abs + "\t" + label + "\n";
  }
  const auto pairs = readPairs(write(text), "");
  ASSERT_EQ(pairs.size(), 25u);
  std::vector<int> per_fold(10, 0);
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(pairs[i].a, image("Alice", 1));
    EXPECT_EQ(pairs[i].b, abs);
    EXPECT_EQ(pairs[i].same, i % 4 == 0 || i % 4 == 2) << i;
    // sklearn KFold's cut: 25 = 5 folds of 3, then 5 folds of 2.
    EXPECT_EQ(pairs[i].fold, static_cast<int>(i < 15 ? i / 3 : 5 + (i - 15) / 2)) << i;
    if (i > 0) {
      EXPECT_GE(pairs[i].fold, pairs[i - 1].fold);  // contiguous blocks
    }
    ++per_fold.at(pairs[i].fold);
  }
  for (int n : per_fold) EXPECT_TRUE(n == 2 || n == 3) << n;
  // plain_folds is honoured: 25 pairs in 5 blocks of 5.
  EXPECT_EQ(readPairs(write(text), "", 5)[24].fold, 4);
  EXPECT_EQ(readPairs(write(text), "", 5)[5].fold, 1);
}

TEST_F(LfwPairs, PlainListErrorsNameFileAndLine) {
  const std::string file = dir_.file("pairs.txt");
  const std::string ok = "Alice/Alice_0001.jpg Bob/Bob_0001.jpg 0\n";
  expectEvalError([&] { readPairs(write(ok + "Alice/Alice_0001.jpg Bob/Bob_0002.jpg yes\n"), ""); },
                  {file + ":2", "label 'yes'"});
  expectEvalError([&] { readPairs(write(ok + ok + "Alice/Alice_0001.jpg 1\n"), ""); },
                  {file + ":3", "found 2 fields"});
  expectEvalError([&] { readPairs(write(ok + "Alice/Alice_0001.jpg Dan/Dan_0001.jpg 1\n"), ""); },
                  {file + ":2", "image not found", dir_.file("Dan/Dan_0001.jpg")});
  // A directory is not an image.
  expectEvalError([&] { readPairs(write("Alice Bob/Bob_0001.jpg 1\n"), ""); },
                  {file + ":1", "image not found"});
}

}  // namespace
}  // namespace l2face::eval
