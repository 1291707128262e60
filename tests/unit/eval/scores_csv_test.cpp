// Tests of readScoresCsv: header detection, parsing and file:line errors.
#include <gtest/gtest.h>

#include "l2face/eval/metrics.h"
#include "l2face/eval/verification.h"
#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;
using testing::writeFile;

TEST(ScoresCsv, ParsesWithAndWithoutHeader) {
  TempDir dir;
  const std::string path = dir.file("scores.csv");
  writeFile(path, "label,score\r\n1,0.75\n0, -0.25\n\n1,1e-3\n");
  const auto rows = readScoresCsv(path);
  const std::vector<std::pair<int, double>> expected = {{1, 0.75}, {0, -0.25}, {1, 1e-3}};
  EXPECT_EQ(rows, expected);
  writeFile(path, "0,0.5\n1,0.9");  // no header, no final newline
  const std::vector<std::pair<int, double>> expected2 = {{0, 0.5}, {1, 0.9}};
  EXPECT_EQ(readScoresCsv(path), expected2);
}

TEST(ScoresCsv, WrittenScoresReadBackExactly) {
  TempDir dir;
  const std::string path = dir.file("out.csv");
  const std::vector<double> scores = {0.1, -1.0 / 3.0, 0.7071067811865476, 1e-300};
  const std::vector<int> labels = {1, 0, 1, 0};
  writeScoresCsv(path, scores, labels);
  const auto rows = readScoresCsv(path);
  ASSERT_EQ(rows.size(), scores.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].first, labels[i]);
    EXPECT_EQ(rows[i].second, scores[i]);  // bit-exact: %.17g round-trips doubles
  }
  expectEvalError([&] { writeScoresCsv(path, {0.5}, {}); }, {"1 scores but 0 labels"});
}

TEST(ScoresCsv, ErrorsNameFileAndLine) {
  TempDir dir;
  const std::string path = dir.file("scores.csv");
  auto expectError = [&](const std::string& text, std::initializer_list<std::string> parts) {
    writeFile(path, text);
    expectEvalError([&] { readScoresCsv(path); }, parts);
  };
  expectError("label,score\n1,0.5\n0,abc\n", {path + ":3", "score 'abc'"});
  expectError("1,0.5\n2,0.1\n", {path + ":2", "label '2'", "not 0 or 1"});
  expectError("1,0.5\nx,0.1\n", {path + ":2", "label 'x'"});
  expectError("1,0.5,7\n", {path + ":1", "found 3 fields"});
  expectError("1,nan\n", {path + ":1", "not a finite number"});
  expectError("label,0.5\n", {path + ":1", "label 'label'"});  // numeric score: not a header
  expectError("1,0.5\nlabel,score\n", {path + ":2"});          // header only on line 1
  expectError("label,score\n", {path, "no scores"});
  expectError("", {path, "no scores"});
  expectEvalError([&] { readScoresCsv(dir.file("none.csv")); }, {"none.csv", "cannot open"});
}

}  // namespace
}  // namespace l2face::eval
