// Tests of saved reports: JSON round trip (single and several), the comparison table, errors.
#include "l2face/eval/compare.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;
using testing::writeFile;

VerificationReport scored(const std::string& name, std::vector<double> scores,
                          std::vector<int> labels) {
  return reportFromScores(std::move(scores), std::move(labels), 2, {0.5, 1e-3}, name);
}

TEST(Compare, ReportsRoundTripThroughJson) {
  TempDir dir;
  const auto a = scored("lfw", {0.9, 0.7, 0.6, 0.4, 0.3, 0.2}, {1, 0, 1, 1, 0, 0});
  const auto b = scored("cfp_fp", {0.9, 0.3, 0.8, 0.2}, {1, 0, 1, 0});
  writeFile(dir.file("one.json"), reportJson(a));
  writeFile(dir.file("two.json"), reportsJson({a, b}));

  const auto one = readReportJson(dir.file("one.json"));
  ASSERT_EQ(one.size(), 1u);
  const VerificationReport& r = one[0].report;
  EXPECT_EQ(one[0].source, "one.json: lfw");
  EXPECT_EQ(r.protocol, "scores");
  EXPECT_EQ(r.pairs, 6);
  EXPECT_EQ(r.metrics.positives, 3);
  EXPECT_DOUBLE_EQ(r.metrics.accuracy_mean, a.metrics.accuracy_mean);
  EXPECT_DOUBLE_EQ(r.metrics.auc, a.metrics.auc);
  EXPECT_DOUBLE_EQ(r.metrics.eer, a.metrics.eer);
  ASSERT_EQ(r.metrics.tar_at_far.size(), 2u);
  EXPECT_TRUE(r.metrics.tar_at_far[0].measurable);
  EXPECT_FALSE(r.metrics.tar_at_far[1].measurable);
  // The ROC points in the file are the plotted subset of the curve (here: all of it).
  const auto roc = rocForPlot(rocCurve(a.scores, a.labels));
  ASSERT_EQ(one[0].roc.size(), roc.size());
  for (size_t i = 0; i < roc.size(); ++i) {
    EXPECT_DOUBLE_EQ(one[0].roc[i].far, roc[i].far);
    EXPECT_DOUBLE_EQ(one[0].roc[i].tar, roc[i].tar);
  }
  const RocSeries series = seriesOf(one[0]);
  EXPECT_EQ(series.label, "one.json: lfw");
  EXPECT_DOUBLE_EQ(series.eer, a.metrics.eer);

  const auto two = readReportJson(dir.file("two.json"));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].source, "two.json: cfp_fp");
  EXPECT_DOUBLE_EQ(two[1].report.metrics.accuracy_mean, 1.0);

  std::vector<SavedReport> all = one;
  all.insert(all.end(), two.begin(), two.end());
  const std::string table = compareTable(all);
  EXPECT_NE(table.find("TAR@0.5"), std::string::npos) << table;
  EXPECT_NE(table.find("TAR@0.001"), std::string::npos) << table;
  EXPECT_NE(table.find("two.json: cfp_fp"), std::string::npos) << table;
  EXPECT_NE(table.find("100.000% ± 0.000"), std::string::npos) << table;
  EXPECT_NE(table.find("n/a"), std::string::npos) << table;    // 1e-3 × 3 negatives < 1
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 4);  // header + 3 runs
}

TEST(Compare, BadFilesNameFileAndField) {
  TempDir dir;
  expectEvalError([&] { readReportJson(dir.file("none.json")); }, {"none.json", "cannot open"});
  writeFile(dir.file("bad.json"), "{not json");
  expectEvalError([&] { readReportJson(dir.file("bad.json")); }, {"bad.json", "not a JSON report"});
  writeFile(dir.file("part.json"), R"({"name": "x", "pairs": 3})");
  expectEvalError([&] { readReportJson(dir.file("part.json")); },
                  {"part.json", "missing field 'positives'"});
  writeFile(dir.file("type.json"), R"({"reports": [{"name": 5}]})");
  expectEvalError([&] { readReportJson(dir.file("type.json")); },
                  {"type.json: reports[0]", "field 'name' has the wrong type"});
  // A report without its ROC (written from metrics alone) cannot be plotted.
  VerificationReport r = scored("x", {0.9, 0.1}, {1, 0});
  r.scores.clear();
  writeFile(dir.file("noroc.json"), reportJson(r));
  const auto saved = readReportJson(dir.file("noroc.json"));
  expectEvalError([&] { seriesOf(saved[0]); }, {"noroc.json: x", "no ROC points"});
}

}  // namespace
}  // namespace l2face::eval
