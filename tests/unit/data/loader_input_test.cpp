// Tests of the Loader with other inputs and controls: world sizes x worker counts, RecordIO data
// with corrupt and broken records, the bad-fraction limit, stop(), the batch allocator, and
// augmentation determinism.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "l2face/data/errors.h"
#include "l2face/data/loader.h"
#include "l2face/data/recordio.h"
#include "test_datasets.h"
#include "test_util.h"

namespace l2face::data {
namespace {

using test::MemoryDataset;
using test::TempDir;
namespace fs = std::filesystem;

DataOptions opts(int workers, int prefetch = 2) {
  DataOptions o;
  o.workers = workers;
  o.prefetch = prefetch;
  o.image_size = 32;
  return o;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(Unit, LoaderGlobalStreamIsTheSameForAnyWorldSizeAndWorkerCount) {
  auto ds = std::make_shared<MemoryDataset>(40, 5);
  const int64_t g = 6;  // divisible by 1, 2, 3
  const int steps = 9;  // crosses an epoch boundary (6 steps per epoch)
  const size_t image = 32 * 32 * 3;
  // Reference: P = 1, one worker. Global batch s = indices + pixels of all G images.
  const Sampler single(40, g, 21, 0, 1);
  Loader ref(ds, single, opts(1), 21, {}, true);
  std::vector<std::shared_ptr<Batch>> expected;
  for (int s = 0; s < steps; ++s) expected.push_back(ref.next());
  for (int world : {1, 2, 3}) {
    for (int workers : {1, 3}) {
      SCOPED_TRACE("world " + std::to_string(world) + " workers " + std::to_string(workers));
      std::vector<std::unique_ptr<Loader>> ranks;
      std::vector<Sampler> samplers;
      for (int r = 0; r < world; ++r) samplers.emplace_back(40, g, 21, r, world);
      for (int r = 0; r < world; ++r) {
        ranks.push_back(std::make_unique<Loader>(ds, samplers[r], opts(workers), 21, Cursor{},
                                                 true));
      }
      for (int s = 0; s < steps; ++s) {
        std::vector<size_t> indices;
        std::vector<uint8_t> pixels;
        for (auto& loader : ranks) {
          const auto b = loader->next();
          ASSERT_EQ(b->batch_size, g / world);
          indices.insert(indices.end(), b->indices.begin(), b->indices.end());
          pixels.insert(pixels.end(), b->pixels.begin(), b->pixels.end());
        }
        ASSERT_EQ(indices, expected[s]->indices) << "step " << s;
        ASSERT_TRUE(std::equal(pixels.begin(), pixels.end(), expected[s]->pixels.begin()))
            << "step " << s;
        ASSERT_EQ(pixels.size(), g * image);
      }
    }
  }
}

TEST(Unit, LoaderWithEveryAugmentationIsDeterministicAcrossWorkers) {
  auto ds = std::make_shared<MemoryDataset>(24, 3);
  DataOptions o = opts(1);
  o.random_resized_crop = 0.7;
  o.brightness = o.contrast = o.saturation = 0.3;
  o.grayscale_p = o.blur_p = o.erase_p = 0.3;
  const Sampler sampler(24, 8, 2, 0, 1);
  Loader one(ds, sampler, o, 5, {}, true);
  o.workers = 3;
  Loader three(ds, sampler, o, 5, {}, true);
  Loader plain(ds, sampler, opts(2), 5, {}, true);
  int differs = 0;
  for (int s = 0; s < 6; ++s) {
    const auto a = one.next(), b = three.next(), c = plain.next();
    ASSERT_TRUE(a->pixels == b->pixels) << "step " << s;
    ASSERT_EQ(a->labels, b->labels);
    differs += a->pixels != c->pixels;
  }
  EXPECT_EQ(differs, 6);  // the augmentations did something
}

TEST(Unit, LoaderStopUnblocksAWaitingNext) {
  auto ds = std::make_shared<MemoryDataset>(16, 2);
  ds->sleep_ms = 300;  // a batch of 4 takes 1.2 s
  const Sampler sampler(16, 4, 1, 0, 1);
  Loader loader(ds, sampler, opts(1), 1, {}, true);
  std::atomic<bool> stopped{false};
  std::atomic<double> waited{0.0};
  std::thread consumer([&] {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      loader.next();
    } catch (const LoaderStopped& e) {
      stopped = std::string(e.what()).find("stopped") != std::string::npos;
    }
    waited = secondsSince(t0);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  loader.stop();
  consumer.join();
  EXPECT_TRUE(stopped);
  EXPECT_LT(waited.load(), 0.5);
  EXPECT_THROW(loader.next(), LoaderStopped);  // and stays stopped
  loader.stop();                               // idempotent
}

TEST(Unit, LoaderTakesBatchMemoryFromTheAllocatorAndRecyclesIt) {
  auto ds = std::make_shared<MemoryDataset>(32, 4);
  const Sampler sampler(32, 4, 3, 0, 1);
  std::atomic<int> allocations{0}, frees{0};
  BatchAllocator counting = [&](size_t bytes) {
    ++allocations;
    return std::shared_ptr<uint8_t>(new uint8_t[bytes], [&](uint8_t* p) {
      ++frees;
      delete[] p;
    });
  };
  std::shared_ptr<Batch> kept;
  {
    Loader custom(ds, sampler, opts(2, 2), 3, {}, true, counting);
    Loader standard(ds, sampler, opts(2, 2), 3, {}, true);
    for (int s = 0; s < 30; ++s) {
      const auto a = custom.next(), b = standard.next();
      ASSERT_TRUE(a->pixels == b->pixels);
      ASSERT_EQ(a->pixels.size(), 4u * 32 * 32 * 3);
    }
    // Window of 2 + one held by the consumer + one being recycled: far fewer than 30.
    EXPECT_LE(allocations.load(), 6);
    // A batch kept past the loader's lifetime stays valid (its buffer is freed later).
    kept = custom.next();
  }
  kept->pixels[0] ^= 1;
  EXPECT_LT(frees.load(), allocations.load());
  kept.reset();
  EXPECT_EQ(allocations.load(), frees.load());

  Loader broken(ds, sampler, opts(1), 3, {}, true, [](size_t) { return nullptr; });
  EXPECT_THROW(broken.next(), DataError);
}

TEST(Unit, LoaderStopsWhenTooManySamplesAreBad) {
  auto ds = std::make_shared<MemoryDataset>(20, 4);
  for (size_t i : {3u, 9u, 15u}) ds->images_[i] = {0xFF, 0xD8, 0x00};
  const Sampler sampler(20, 20, 1, 0, 1);  // one batch per epoch touches every sample
  DataOptions ok = opts(2);
  ok.max_bad_fraction = 0.15;  // 3 of 20 allowed
  Loader fine(ds, sampler, ok, 1, {}, false);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(fine.next()->batch_size, 20);
  EXPECT_EQ(fine.stats().bad_samples, 3);

  DataOptions strict = opts(2);
  strict.max_bad_fraction = 0.1;  // 2 allowed: the third crosses it
  Loader loader(ds, sampler, strict, 1, {}, false);
  try {
    loader.next();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("3 distinct undecodable samples"), std::string::npos) << msg;
    EXPECT_NE(msg.find("max_bad_fraction"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mem://"), std::string::npos) << msg;
    EXPECT_NE(msg.find("samples read"), std::string::npos) << msg;
  }
}

// A RecordIO corpus of 12 JPEGs (4 identities x 3); record `corrupt` holds garbage.
fs::path writeRec(const fs::path& dir, int corrupt) {
  const fs::path rec = dir / "train.rec";
  FaceRecordWriter w(rec.string(), 40, 40);
  for (int i = 0; i < 12; ++i) {
    const auto rgb = test::smoothImage(40, 40, i);
    auto jpeg = encodeJpeg(rgb.data(), 40, 40, 90);
    if (i == corrupt) jpeg.resize(jpeg.size() / 3);  // truncated JPEG inside a whole record
    w.add(i / 3, jpeg.data(), jpeg.size());
  }
  w.finish(4);
  return rec;
}

TEST(Unit, LoaderReadsRecordIOAndReplacesCorruptImages) {
  TempDir dir;
  const fs::path rec = writeRec(dir.path(), 4);
  const auto ds = openDataset(rec.string());
  const Sampler sampler(12, 12, 7, 0, 1);
  DataOptions o = opts(2);
  o.max_bad_fraction = 0.1;
  Loader loader(ds, sampler, o, 7, {}, false);
  const auto b = loader.next();
  const auto order = sampler.rankIndices(0, 0);
  for (int j = 0; j < 12; ++j) {
    const size_t want = order[j] == 4 ? 5 : order[j];
    EXPECT_EQ(b->indices[j], want);
    EXPECT_EQ(b->labels[j], static_cast<int64_t>(want / 3));
  }
  EXPECT_EQ(loader.stats().bad_samples, 1);
}

TEST(Unit, LoaderFailsOnABrokenRecordNamingFileAndOffset) {
  TempDir dir;
  const fs::path rec = writeRec(dir.path(), -1);
  const auto ds = openDataset(rec.string());
  const std::string where = ds->describe(6);  // ".../train.rec at offset N (sample 6)"
  const uint64_t offset = std::stoull(where.substr(where.find("offset ") + 7));
  auto bytes = test::readBytes(rec);
  bytes[offset + 1] ^= 0x40;  // break the magic of record 6 (a middle record)
  test::writeBytes(rec, bytes);
  const auto broken = openDataset(rec.string());  // opens: only the ends are checked
  const Sampler sampler(12, 12, 7, 0, 1);
  Loader loader(broken, sampler, opts(2), 7, {}, true);
  try {
    loader.next();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(rec.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset " + std::to_string(offset)), std::string::npos) << msg;
    EXPECT_NE(msg.find("bad magic"), std::string::npos) << msg;
  }
}

TEST(Unit, LoaderReportsQueueDepthAndWaitTime) {
  auto ds = std::make_shared<MemoryDataset>(24, 4);
  const Sampler sampler(24, 4, 1, 0, 1);
  Loader loader(ds, sampler, opts(2, 3), 1, {}, true);
  loader.next();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const LoaderStats s = loader.stats();
  EXPECT_EQ(s.batches, 1);
  EXPECT_EQ(s.queue_depth, 3);  // window of 3 ahead of the consumer, filled
  EXPECT_GE(s.batches_built, 4);
  EXPECT_GE(s.samples_read, 16);
  EXPECT_GT(s.wait_seconds, 0.0);
  EXPECT_EQ(s.decode_errors, 0);
}

}  // namespace
}  // namespace l2face::data
