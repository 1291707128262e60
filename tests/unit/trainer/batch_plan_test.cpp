// Tests of the global-batch split (splitGlobalBatch) and of where the global batch comes from
// (planBatch: data.global_batch, --keep-global-batch, or the configured batch).
#include "l2face/trainer/internal/batch_plan.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace l2face::trainer {
namespace {

std::string splitError(int64_t s, int p, int max_b, int min_k, const std::string& origin) {
  try {
    splitGlobalBatch(s, p, max_b, min_k, origin);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

void expectPlan(const BatchPlan& plan, int64_t s, int p, int b, int k) {
  EXPECT_EQ(plan.global_batch, s);
  EXPECT_EQ(plan.ranks, p);
  EXPECT_EQ(plan.batch_per_rank, b);
  EXPECT_EQ(plan.accumulate, k);
  EXPECT_EQ(plan.loaderBatch() * plan.accumulate, s);
}

TEST(BatchPlan, DivisibleGlobalBatchNeedsNoAccumulation) {
  expectPlan(splitGlobalBatch(8, 2, 4, 1), 8, 2, 4, 1);
  expectPlan(splitGlobalBatch(8, 4, 4, 1), 8, 4, 2, 1);  // b below the maximum
  expectPlan(splitGlobalBatch(8, 8, 4, 1), 8, 8, 1, 1);
  expectPlan(splitGlobalBatch(512, 16, 64, 1), 512, 16, 32, 1);
}

TEST(BatchPlan, AccumulatesWhenTheRanksCannotHoldTheBatch) {
  expectPlan(splitGlobalBatch(8, 1, 4, 1), 8, 1, 4, 2);  // the 2 -> 1 rank resume
  expectPlan(splitGlobalBatch(16, 1, 8, 1), 16, 1, 8, 2);
  expectPlan(splitGlobalBatch(16, 2, 3, 1), 16, 2, 2, 4);  // k = 3 does not divide: 4
  expectPlan(splitGlobalBatch(12, 1, 5, 1), 12, 1, 4, 3);
  expectPlan(splitGlobalBatch(7, 1, 1, 1), 7, 1, 1, 7);
}

TEST(BatchPlan, HonoursTheUsersMinimumAccumulation) {
  expectPlan(splitGlobalBatch(16, 2, 8, 2), 16, 2, 4, 2);   // fits in one, k >= 2 asked
  expectPlan(splitGlobalBatch(24, 2, 12, 5), 24, 2, 2, 6);  // 5 does not divide 12: 6
  expectPlan(splitGlobalBatch(8, 2, 4, 4), 8, 2, 1, 4);
}

TEST(BatchPlan, ImpossibleSplitNamesTheGlobalBatchTheRanksAndTheWaysOut) {
  const std::string e = splitError(8, 3, 4, 1, "kept from checkpoint step_4");
  ASSERT_FALSE(e.empty());
  EXPECT_NE(e.find("global batch of 8 images per optimizer step (kept from checkpoint step_4)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("cannot be split over 3 rank(s)"), std::string::npos) << e;
  EXPECT_NE(e.find("Rank counts up to 6 that can run it unchanged: 1, 2 or 4"), std::string::npos)
      << e;
  EXPECT_NE(e.find("set data.global_batch to 6 or 9"), std::string::npos) << e;
  EXPECT_NE(e.find("changes the batch"), std::string::npos) << e;

  // A prime global batch: only 1 and itself.
  const std::string prime = splitError(7, 2, 8, 1, "data.global_batch");
  EXPECT_NE(prime.find("unchanged: 1"), std::string::npos) << prime;
  EXPECT_NE(prime.find("data.global_batch to 6 or 8"), std::string::npos) << prime;

  // More accumulation steps asked than the batch has images per rank.
  const std::string many = splitError(8, 2, 4, 5, "data.global_batch");
  EXPECT_NE(many.find("optim.accumulate_steps 5"), std::string::npos) << many;
  EXPECT_NE(many.find("unchanged: 1"), std::string::npos) << many;  // one rank can: k = 8
  EXPECT_NE(many.find("data.global_batch to 10"), std::string::npos) << many;
  EXPECT_THROW(splitGlobalBatch(0, 1, 1, 1), std::invalid_argument);
}

TEST(BatchPlan, WhereTheGlobalBatchComesFrom) {
  data::DataOptions d;
  d.batch_size = 4;
  OptimOptions o;
  o.accumulate_steps = 1;
  std::string warning;
  const SavedBatch saved{8, "step_4"};

  // Configured (today's meaning): b × P × k, never split; the flag alone without a checkpoint
  // changes nothing.
  BatchPlan p = planBatch(d, o, false, 3, saved, &warning);
  expectPlan(p, 12, 3, 4, 1);
  EXPECT_FALSE(p.fixed());
  p = planBatch(d, o, true, 3, std::nullopt, &warning);
  expectPlan(p, 12, 3, 4, 1);
  EXPECT_FALSE(p.fixed());

  // Kept from the checkpoint.
  p = planBatch(d, o, true, 1, saved, &warning);
  expectPlan(p, 8, 1, 4, 2);
  EXPECT_EQ(p.origin, "kept from checkpoint step_4");
  EXPECT_EQ(describeBatchPlan(p),
            "global batch 8 over 1 rank(s): 4 images per rank x 2 accumulation step(s) "
            "(kept from checkpoint step_4)");
  EXPECT_TRUE(warning.empty());
  EXPECT_THROW(planBatch(d, o, true, 3, saved, &warning), std::invalid_argument);

  // data.global_batch wins, with a warning when it differs from the kept one.
  d.global_batch = 16;
  p = planBatch(d, o, true, 2, saved, &warning);
  expectPlan(p, 16, 2, 4, 2);
  EXPECT_EQ(p.origin, "data.global_batch");
  EXPECT_NE(warning.find("differs from the global batch 8 of checkpoint step_4"), std::string::npos)
      << warning;
  warning.clear();
  d.global_batch = 8;
  expectPlan(planBatch(d, o, true, 2, saved, &warning), 8, 2, 4, 1);
  EXPECT_TRUE(warning.empty());
  expectPlan(planBatch(d, o, false, 4, std::nullopt, nullptr), 8, 4, 2, 1);
}

TEST(BatchPlan, CursorContinuesExactlyWhenTheGlobalBatchIsKept) {
  auto expectCursor = [](ContinuedCursor c, int64_t epoch, int64_t step, int64_t skipped) {
    EXPECT_EQ(c.cursor.epoch, epoch);
    EXPECT_EQ(c.cursor.step, step);
    EXPECT_EQ(c.skipped, skipped);
  };
  // S = 8 kept: 2 ranks x 4 -> 1 rank x 4 x 2 -> 4 ranks x 2 -> 2 ranks x 2 x 2.
  expectCursor(continueCursor({0, 4}, 8, 4, 2), 0, 8, 0);
  expectCursor(continueCursor({0, 16}, 4, 8, 1), 0, 8, 0);
  expectCursor(continueCursor({3, 10}, 8, 4, 2), 3, 20, 0);
  expectCursor(continueCursor({1, 6}, 4, 2, 4), 1, 12, 0);
  expectCursor(continueCursor({0, 11}, 8, 4, 2), 0, 22, 0);  // the end of an 11-step epoch
  expectCursor(continueCursor({2, 0}, 8, 16, 1), 2, 0, 0);
  // S changed: the next optimizer-step boundary, the samples passed over counted.
  expectCursor(continueCursor({0, 3}, 8, 4, 4), 0, 8, 8);    // 24 seen, steps of 16
  expectCursor(continueCursor({0, 5}, 6, 12, 1), 0, 3, 6);   // 30 seen, steps of 12
  expectCursor(continueCursor({0, 5}, 12, 6, 1), 0, 10, 0);  // smaller batch: exact
}

}  // namespace
}  // namespace l2face::trainer
