// Tests of the Loader: determinism across worker counts, resume from a cursor, augmentation,
// repair of corrupt samples, prompt shutdown and error propagation.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "l2face/data/errors.h"
#include "l2face/data/image_ops.h"
#include "l2face/data/jpeg.h"
#include "l2face/data/loader.h"
#include "test_datasets.h"
#include "test_util.h"

namespace l2face::data {
namespace {

using test::MemoryDataset;

DataOptions options(int workers, int prefetch = 3) {
  DataOptions o;
  o.workers = workers;
  o.prefetch = prefetch;
  o.image_size = 32;  // stored 40x40: every sample goes through the resize path
  o.flip_p = 0.5;
  return o;
}

std::vector<std::shared_ptr<Batch>> take(Loader& loader, int n) {
  std::vector<std::shared_ptr<Batch>> out;
  for (int i = 0; i < n; ++i) out.push_back(loader.next());
  return out;
}

void expectSame(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.global_step, b.global_step);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_TRUE(a.pixels == b.pixels) << "pixels differ at global step " << a.global_step;
}

TEST(Unit, LoaderBatchesDoNotDependOnWorkerCount) {
  auto ds = std::make_shared<MemoryDataset>(30, 4);
  const Sampler sampler(30, 8, 5, 0, 1);  // 3 steps per epoch, 6 samples dropped
  Loader one(ds, sampler, options(1), 9, {}, true);
  Loader three(ds, sampler, options(3), 9, {}, true);
  EXPECT_EQ(three.workers(), 3);
  const auto a = take(one, 7), b = take(three, 7);  // crosses two epoch boundaries
  for (int i = 0; i < 7; ++i) {
    SCOPED_TRACE(i);
    expectSame(*a[i], *b[i]);
    EXPECT_EQ(a[i]->global_step, i);
    EXPECT_EQ(a[i]->epoch, i / 3);
    EXPECT_EQ(a[i]->step, i % 3);
    ASSERT_EQ(a[i]->batch_size, 8);
    ASSERT_EQ(a[i]->pixels.size(), 8u * 32 * 32 * 3);
    EXPECT_EQ(a[i]->indices, sampler.rankIndices(a[i]->epoch, a[i]->step));
    for (int j = 0; j < 8; ++j) EXPECT_EQ(a[i]->labels[j], ds->label(a[i]->indices[j]));
  }
  EXPECT_EQ(one.stats().batches, 7);
  EXPECT_EQ(one.stats().decode_errors, 0);
}

TEST(Unit, LoaderResumedAtCursorContinuesTheSameStream) {
  auto ds = std::make_shared<MemoryDataset>(30, 4);
  const Sampler sampler(30, 8, 5, 0, 1);
  Loader from_start(ds, sampler, options(2), 9, {}, true);
  const auto all = take(from_start, 8);
  Loader resumed(ds, sampler, options(3), 9, Cursor{1, 2}, true);  // global step 5
  EXPECT_EQ(resumed.cursor().epoch, 1);
  EXPECT_EQ(resumed.cursor().step, 2);
  const auto rest = take(resumed, 3);
  for (int i = 0; i < 3; ++i) expectSame(*all[5 + i], *rest[i]);
  EXPECT_EQ(resumed.cursor().epoch, 2);
  EXPECT_EQ(resumed.cursor().step, 2);
  // The cursor after the last batch of an epoch, {e, stepsPerEpoch}, is the next epoch's start.
  Loader carried(ds, sampler, options(1), 9, Cursor{0, 3}, true);
  expectSame(*all[3], *carried.next());
  EXPECT_THROW(Loader(ds, sampler, options(1), 9, Cursor{0, -1}, true), std::out_of_range);
}

TEST(Unit, LoaderDecodesResizesAndFlipsOnlyWhenTraining) {
  auto ds = std::make_shared<MemoryDataset>(16, 2);
  const Sampler sampler(16, 4, 1, 0, 1);
  DataOptions never = options(2), always = options(2);
  never.flip_p = 0.0;
  always.flip_p = 1.0;
  Loader plain(ds, sampler, never, 3, {}, true);
  Loader flipped(ds, sampler, always, 3, {}, true);
  Loader eval(ds, sampler, always, 3, {}, false);  // no augmentation when not training
  const auto p = plain.next(), f = flipped.next(), e = eval.next();
  JpegDecoder decoder;
  const size_t image = 32 * 32 * 3;
  for (int j = 0; j < 4; ++j) {
    std::vector<uint8_t> expected(image);
    const auto& bytes = ds->images_[p->indices[j]];
    decoder.decode(bytes.data(), bytes.size(), 32, 32, expected.data(), "expected");
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), p->pixels.begin() + j * image));
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), e->pixels.begin() + j * image));
    flipHorizontal(expected.data(), 32, 32, 3);
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), f->pixels.begin() + j * image));
  }
  // With p = 0.5 some samples are flipped and some are not, deterministically.
  Loader half(ds, sampler, options(1), 3, {}, true);
  Loader reference(ds, sampler, never, 3, {}, true);
  int flips = 0;
  for (int s = 0; s < 4; ++s) {
    const auto h = half.next();
    const auto ref = reference.next();
    for (int j = 0; j < 4; ++j) {
      flips += !std::equal(h->pixels.begin() + j * image, h->pixels.begin() + (j + 1) * image,
                           ref->pixels.begin() + j * image);
    }
  }
  EXPECT_GT(flips, 0);
  EXPECT_LT(flips, 16);
}

TEST(Unit, LoaderReplacesCorruptSampleWithNextValidOne) {
  auto ds = std::make_shared<MemoryDataset>(12, 3);
  ds->images_[5].resize(ds->images_[5].size() / 3);  // truncated
  ds->images_[6] = {1, 2, 3, 4};                      // garbage
  const Sampler sampler(12, 12, 2, 0, 1);             // one batch holds every sample
  DataOptions tolerant = options(2);
  tolerant.max_bad_fraction = 0.2;  // 2 of 12 are bad
  Loader loader(ds, sampler, tolerant, 4, {}, false);
  const auto b = loader.next();
  ASSERT_EQ(b->batch_size, 12);
  ASSERT_EQ(b->pixels.size(), 12u * 32 * 32 * 3);
  const auto order = sampler.rankIndices(0, 0);
  int replaced = 0;
  for (int j = 0; j < 12; ++j) {
    if (order[j] == 5 || order[j] == 6) {
      EXPECT_EQ(b->indices[j], 7u);  // next decodable sample
      EXPECT_EQ(b->labels[j], ds->label(7));
      ++replaced;
    } else {
      EXPECT_EQ(b->indices[j], order[j]);
    }
  }
  EXPECT_EQ(replaced, 2);
  // 5 fails; 6 fails (as itself and while repairing 5). Batches of later epochs may already be
  // in the making and add to the count.
  EXPECT_GE(loader.stats().decode_errors, 3);
  EXPECT_EQ(loader.stats().bad_samples, 2);
}

TEST(Unit, LoaderDestructionWithFullQueueIsPrompt) {
  auto ds = std::make_shared<MemoryDataset>(64, 4);
  const Sampler sampler(64, 8, 1, 0, 1);
  auto loader = std::make_unique<Loader>(ds, sampler, options(2, 2), 1, Cursor{}, true);
  loader->next();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // queue fills up, workers wait
  EXPECT_GE(loader->stats().queue_depth, 1);
  auto t0 = std::chrono::steady_clock::now();
  loader.reset();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);

  // Also while workers are in the middle of slow batches.
  ds->sleep_ms = 40;  // 8 samples: 320 ms per batch
  loader = std::make_unique<Loader>(ds, sampler, options(2, 2), 1, Cursor{}, true);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  t0 = std::chrono::steady_clock::now();
  loader.reset();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.25);
}

TEST(Unit, LoaderPropagatesWorkerErrorsNamingTheSample) {
  auto ds = std::make_shared<MemoryDataset>(24, 4);
  const Sampler sampler(24, 4, 8, 0, 1);
  ds->fail_index = static_cast<int64_t>(sampler.rankIndices(0, 2)[1]);  // third batch
  Loader loader(ds, sampler, options(3), 1, {}, true);
  loader.next();
  loader.next();
  try {
    loader.next();
    FAIL() << "expected the worker's error";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mem://" + std::to_string(ds->fail_index)), std::string::npos) << msg;
    EXPECT_NE(msg.find("disk on fire"), std::string::npos) << msg;
  }
  EXPECT_THROW(loader.next(), DataError);  // the loader stays failed
}

TEST(Unit, LoaderGivesEachRankItsSlice) {
  auto ds = std::make_shared<MemoryDataset>(24, 4);
  const Sampler r0(24, 8, 3, 0, 2), r1(24, 8, 3, 1, 2);
  Loader a(ds, r0, options(1), 3, {}, true), b(ds, r1, options(2), 3, {}, true);
  for (int s = 0; s < 4; ++s) {
    const auto x = a.next(), y = b.next();
    ASSERT_EQ(x->batch_size, 4);
    std::vector<size_t> joined = x->indices;
    joined.insert(joined.end(), y->indices.begin(), y->indices.end());
    EXPECT_EQ(joined, r0.globalIndices(x->epoch, x->step));
  }
}

TEST(Unit, LoaderValidatesArguments) {
  auto ds = std::make_shared<MemoryDataset>(10, 2);
  const Sampler wrong(11, 5, 1, 0, 1), right(10, 5, 1, 0, 1);
  EXPECT_THROW(Loader(ds, wrong, options(1), 1, {}, true), std::invalid_argument);
  EXPECT_THROW(Loader(nullptr, right, options(1), 1, {}, true), std::invalid_argument);
  DataOptions bad = options(1);
  bad.flip_p = 1.5;
  EXPECT_THROW(Loader(ds, right, bad, 1, {}, true), std::invalid_argument);
}

}  // namespace
}  // namespace l2face::data
