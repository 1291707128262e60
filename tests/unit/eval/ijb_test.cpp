// Tests of the official IJB layout: reading meta/, score-weighted media pooling, 1:N search by
// hand, shard ranges and sharded embedding with a gather.
#include "l2face/eval/ijb.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;
using testing::writeFile;

// Four faces: template 1 = faces 1, 2 (one media) and 3 (another media); template 2 = face 4.
class Ijb : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* f : {"1.jpg", "2.jpg", "3.jpg", "4.jpg"})
      writeFile(dir_.file("loose_crop/" + std::string(f)), "");
    writeFile(meta("ijbc_name_5pts_score.txt"),
              "1.jpg 1 2 3 4 5 6 7 8 9 10 1.0\n2.jpg 1 2 3 4 5 6 7 8 9 10 0.5\n"
              "3.jpg 1 2 3 4 5 6 7 8 9 10 0.25\n4.jpg 1 2 3 4 5 6 7 8 9 10 1\n");
    writeFile(meta("ijbc_face_tid_mid.txt"), "1.jpg 1 10\n2.jpg 1 10\n3.jpg 1 11\n4.jpg 2 12\n");
    writeFile(meta("ijbc_template_pair_label.txt"), "1 2 0\n1 1 1\n");
  }
  std::string meta(const std::string& name) { return dir_.file("meta/" + name); }
  TempDir dir_;
};

TEST_F(Ijb, ReadsTheLayoutAndPoolsWithScoresPerMedia) {
  const IjbSet set = readIjb(dir_.str(), "IJBC", 2);
  ASSERT_EQ(set.faces.size(), 4u);
  EXPECT_FLOAT_EQ(set.faces[2].score, 0.25f);
  EXPECT_EQ(set.faces[1].points[9], 10.0f);
  ASSERT_EQ(set.templates.templates.size(), 2u);
  EXPECT_EQ(set.pairs.size(), 2u);
  EXPECT_TRUE(set.galleries.empty());
  // Features (dim 2): f1 = (2, 0), f2 = (0, 4), f3 = (4, 4), f4 = (0, 1).
  const std::vector<float> faces = {2, 0, 0, 4, 4, 4, 0, 1};
  const std::vector<float> t = ijbTemplateFeatures(set, faces, 2);
  // Media 10: mean of (2, 0)·1 and (0, 4)·0.5 = (1, 1); media 11: (4, 4)·0.25 = (1, 1); sum (2, 2).
  EXPECT_NEAR(t[0], std::sqrt(0.5), 1e-7);
  EXPECT_NEAR(t[1], std::sqrt(0.5), 1e-7);
  EXPECT_NEAR(t[3], 1.0, 1e-7);
  const VerificationReport r = scoreIjb(set, faces, 2, {0.5}, {0.5}, "IJBC");
  EXPECT_EQ(r.protocol, "ijb");
  EXPECT_NEAR(r.scores[0], std::sqrt(0.5), 1e-7);
  EXPECT_NEAR(r.scores[1], 1.0, 1e-7);
  EXPECT_EQ(r.labels, (std::vector<int>{0, 1}));
}

TEST_F(Ijb, BadInputNamesFileLineAndField) {
  writeFile(meta("ijbc_name_5pts_score.txt"),
            "1.jpg 1 2 3 4 5 6 7 8 9 10 1.0\n2.jpg 1 2 3 x 5 6 7 8 9 10 1\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); },
                  {"ijbc_name_5pts_score.txt:2: field 'y2' 'x' is not a finite number"});
  writeFile(meta("ijbc_name_5pts_score.txt"), "1.jpg 1 2 3 -4 5 6 7 8 9 10 1.0\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); }, {":1: field 'y2' -4", "outside"});
  // Finite as a double but not as the float a landmark or score is kept in.
  writeFile(meta("ijbc_name_5pts_score.txt"), "1.jpg 1 2 3 4 5 6 7 4e64 9 10 1.0\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); }, {":1: field 'y4' 4e64", "too large"});
  writeFile(meta("ijbc_name_5pts_score.txt"), "1.jpg 1 2 3 4 5 6 7 8 9 10 1e39\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); }, {":1: field 'score' 1e39", "too large"});
  writeFile(meta("ijbc_name_5pts_score.txt"), "1.jpg 1 2 3 4 5 6 7 8 9 10\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); }, {":1: expected 12 fields"});
  SetUp();
  writeFile(meta("ijbc_face_tid_mid.txt"), "1.jpg 1 10\n3.jpg 1 10\n3.jpg 1 11\n4.jpg 2 12\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); },
                  {"ijbc_face_tid_mid.txt:2: field 'image' '3.jpg'", "names"});
  SetUp();
  writeFile(meta("ijbc_template_pair_label.txt"), "1 2 0\n1 5 1\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); },
                  {"pair_label.txt:2: field 'template_b': template 5 has no media"});
  SetUp();
  writeFile(meta("ijbc_1N_gal_G1.csv"), "TEMPLATE_ID,SUBJECT_ID,FILENAME\n1,7,1.jpg\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); }, {"come as a group", "found 1 of 3"});
  writeFile(meta("ijbc_1N_gal_G2.csv"), "TEMPLATE_ID,SUBJECT_ID,FILENAME\n2,8,4.jpg\n");
  writeFile(meta("ijbc_1N_probe_mixed.csv"), "TEMPLATE_ID,SUBJECT_ID,FILENAME\n1,7\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); },
                  {"probe_mixed.csv:2: expected the header's 3 columns but found 2"});
  writeFile(meta("ijbc_1N_probe_mixed.csv"), "TEMPLATE_ID,SUBJECT_ID,FILENAME\n1,7,a\n1,8,b\n");
  expectEvalError([&] { readIjb(dir_.str(), "IJBC", 2); },
                  {"probe_mixed.csv:3: field 'SUBJECT_ID': template 1 is subject 8"});
}

TEST(Identify, RanksAndTpirByHand) {
  // Gallery: subject 1 twice ((1, 0) and (0, 1)), subject 2 once ((-1, 0)). dim 2.
  const std::vector<float> gallery = {1, 0, 0, 1, -1, 0};
  const std::vector<int64_t> gsub = {1, 1, 2};
  const float c = static_cast<float>(std::sqrt(0.5));
  // Probes: subject 1 near (0, 1) -> rank 1; subject 2 at (c, c) -> subject 1 scores c, own -c:
  // rank 2; subject 3 (non-mated) at (0.6, 0.8) and (-1, 0).
  const std::vector<float> probes = {0, 1, c, c, 0.6f, 0.8f, -1, 0};
  const std::vector<int64_t> psub = {1, 2, 3, 4};
  const IdentificationResult r = identify(gallery, gsub, probes, psub, 2, {1, 2}, {0.5}, "G");
  EXPECT_EQ(r.gallery_subjects, 2);
  EXPECT_EQ(r.mated, 2);
  EXPECT_EQ(r.nonmated, 2);
  EXPECT_EQ(r.ranks[0].accuracy, 0.5);
  EXPECT_EQ(r.ranks[1].accuracy, 1.0);
  // Non-mated best scores 0.8 and 1.0; FPIR 0.5 allows one: threshold 0.8. The rank-1 mated
  // probe scores 1.0 > 0.8; the rank-2 one never counts.
  ASSERT_TRUE(r.tpir_at_fpir[0].measurable);
  EXPECT_NEAR(r.tpir_at_fpir[0].threshold, 0.8, 1e-7);
  EXPECT_EQ(r.tpir_at_fpir[0].tpir, 0.5);
  expectEvalError([&] { identify(gallery, gsub, probes, psub, 2, {1}, {1.0}, "G"); },
                  {"FPIR must be in (0, 1)"});
}

TEST(Shards, WholeBatchesDealtContiguously) {
  // 10 items in batches of 3: batches [0,3) [3,6) [6,9) [9,10); 2 ranks: 2 batches each.
  EXPECT_EQ(shardRange(10, 3, 0, 2), (std::pair<size_t, size_t>{0, 6}));
  EXPECT_EQ(shardRange(10, 3, 1, 2), (std::pair<size_t, size_t>{6, 10}));
  // 3 ranks: 2, 1, 1 batches.
  EXPECT_EQ(shardRange(10, 3, 0, 3), (std::pair<size_t, size_t>{0, 6}));
  EXPECT_EQ(shardRange(10, 3, 1, 3), (std::pair<size_t, size_t>{6, 9}));
  EXPECT_EQ(shardRange(10, 3, 2, 3), (std::pair<size_t, size_t>{9, 10}));
  // More ranks than batches: the last get nothing.
  EXPECT_EQ(shardRange(2, 8, 1, 2), (std::pair<size_t, size_t>{2, 2}));
  EXPECT_EQ(shardRange(0, 8, 0, 1), (std::pair<size_t, size_t>{0, 0}));
  expectEvalError([] { shardRange(1, 0, 0, 1); }, {"shardRange"});
}

TEST(Shards, ShardedRunEqualsOneProcess) {
  // Two "ranks" in one process: rank 1's rows are computed first and handed to rank 0's gather.
  const std::vector<Pair> pairs = {
      {"a", "b", true, 0}, {"c", "d", false, 0}, {"a", "c", false, 0}, {"b", "d", true, 0}};
  std::vector<std::vector<std::string>> batches;
  const Embedder embed = [&](const std::vector<std::string>& paths, std::vector<float>& out) {
    batches.push_back(paths);
    for (const auto& p : paths) {
      out.push_back(static_cast<float>(p[0] - 'a' + 1));
      out.push_back(p[0] == 'a' || p[0] == 'b' ? 1.0f : -1.0f);
    }
  };
  const VerificationReport one = runPairs(pairs, embed, 2, 3, {0.5}, "p");
  batches.clear();
  std::vector<float> rank1_rows;
  EmbedShards r1{1, 2, [&](const std::vector<float>& local) {
                   rank1_rows = local;
                   return std::vector<float>();
                 }};
  EXPECT_THROW(runPairs(pairs, embed, 2, 3, {0.5}, "p", r1), EvalError);  // gather returned 0
  EXPECT_EQ(batches, (std::vector<std::vector<std::string>>{{"d"}}));
  EmbedShards r0{0, 2, [&](const std::vector<float>& local) {
                   std::vector<float> all = local;
                   all.insert(all.end(), rank1_rows.begin(), rank1_rows.end());
                   return all;
                 }};
  const VerificationReport two = runPairs(pairs, embed, 2, 3, {0.5}, "p", r0);
  EXPECT_EQ(batches.back(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(two.scores, one.scores);
  EXPECT_EQ(two.labels, one.labels);
  EXPECT_EQ(two.metrics.auc, one.metrics.auc);
  EXPECT_EQ(two.metrics.tar_at_far[0].tar, one.metrics.tar_at_far[0].tar);
}

}  // namespace
}  // namespace l2face::eval
