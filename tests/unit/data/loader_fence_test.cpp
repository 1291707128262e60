// Tests of the Loader's batch memory protocol: every pixel and label buffer from the allocator,
// blocks reused only after their reuse fence fired, bounded waiting when every block is pending.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "l2face/data/errors.h"
#include "l2face/data/loader.h"
#include "test_datasets.h"

namespace l2face::data {
namespace {

using test::MemoryDataset;
using Clock = std::chrono::steady_clock;

// A fence fired by hand.
class FakeFence : public ReuseFence {
 public:
  bool ready() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return fired_;
  }
  bool wait(double timeout_seconds) override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, std::chrono::duration<double>(timeout_seconds), [&] { return fired_; });
    return fired_;
  }
  void fire() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fired_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool fired_ = false;
};

// Records every block it hands out (filled with 0xAB, so nothing may rely on zeroed memory).
struct RecordingAllocator {
  std::mutex mutex;
  std::vector<std::pair<const uint8_t*, size_t>> blocks;

  BatchAllocator get() {
    return [this](size_t bytes) {
      std::shared_ptr<uint8_t> p(new uint8_t[bytes], std::default_delete<uint8_t[]>());
      std::fill(p.get(), p.get() + bytes, uint8_t{0xAB});
      std::lock_guard<std::mutex> lock(mutex);
      blocks.emplace_back(p.get(), bytes);
      return p;
    };
  }
  // True when [p, p + bytes) lies inside one recorded block.
  bool owns(const void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    const auto* q = static_cast<const uint8_t*>(p);
    for (const auto& [start, size] : blocks) {
      if (q >= start && q + bytes <= start + size) return true;
    }
    return false;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return blocks.size();
  }
};

DataOptions opts(int workers, int prefetch) {
  DataOptions o;
  o.workers = workers;
  o.prefetch = prefetch;
  o.image_size = 32;
  return o;
}

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST(Unit, LoaderPixelsAndLabelsComeFromTheAllocatorAndMatchTheDefault) {
  auto ds = std::make_shared<MemoryDataset>(32, 4);
  const Sampler sampler(32, 4, 3, 0, 1);
  RecordingAllocator alloc;
  Loader custom(ds, sampler, opts(2, 2), 3, {}, true, alloc.get());
  Loader standard(ds, sampler, opts(2, 2), 3, {}, true);
  for (int s = 0; s < 20; ++s) {
    const auto a = custom.next(), b = standard.next();
    ASSERT_TRUE(alloc.owns(a->pixels.data(), a->pixels.size()));
    ASSERT_TRUE(alloc.owns(a->labels.data(), a->labels.size() * sizeof(int64_t)));
    ASSERT_EQ(a->labels.size(), 4u);
    ASSERT_TRUE(a->pixels == b->pixels);
    ASSERT_TRUE(a->labels == b->labels);
    for (int j = 0; j < 4; ++j) ASSERT_EQ(a->labels[j], ds->label(a->indices[j]));
    auto fence = std::make_shared<FakeFence>();
    fence->fire();  // an already completed copy changes nothing
    a->setReuseFence(fence);
  }
}

TEST(Unit, LoaderReusesABlockOnlyAfterItsFenceFired) {
  auto ds = std::make_shared<MemoryDataset>(32, 4);
  const Sampler sampler(32, 4, 3, 0, 1);
  RecordingAllocator alloc;
  Loader loader(ds, sampler, opts(1, 1), 3, {}, true, alloc.get());
  auto fence = std::make_shared<FakeFence>();
  const uint8_t* held = nullptr;
  {
    const auto a = loader.next();
    held = a->pixels.data();
    a->setReuseFence(fence);
  }
  for (int s = 0; s < 20; ++s) {
    const auto b = loader.next();
    ASSERT_NE(b->pixels.data(), held) << "batch " << s << " reuses a block whose fence is pending";
  }
  fence->fire();
  bool reused = false;
  for (int s = 0; s < 8 && !reused; ++s) reused = loader.next()->pixels.data() == held;
  EXPECT_TRUE(reused) << "the block came back once its fence fired";
  // A pending block is kept aside, not lost: few blocks in all.
  EXPECT_LE(alloc.count(), 6u);
}

// The fences handed out so far and the blocks they hold back; fired from any thread.
struct Fences {
  std::mutex mutex;
  std::vector<std::shared_ptr<FakeFence>> list;
  std::vector<const uint8_t*> blocks;

  void add(const Batch& b) {
    auto f = std::make_shared<FakeFence>();
    b.setReuseFence(f);
    std::lock_guard<std::mutex> lock(mutex);
    list.push_back(f);
    blocks.push_back(b.pixels.data());
  }
  bool held(const uint8_t* block) {
    std::lock_guard<std::mutex> lock(mutex);
    return std::find(blocks.begin(), blocks.end(), block) != blocks.end();
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mutex);
    return list.size();
  }
  void fireAll() {  // the pool frees pending memory only after its fence
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& f : list) f->fire();
  }
};

// Takes up to 20 batches, dropping each with a new pending fence, until a call to next() blocks
// for over 0.2 s or throws. Returns that call's batch (null if none blocked) and its duration.
std::pair<std::shared_ptr<Batch>, double> untilBlocked(Loader& loader, Fences& fences) {
  for (int s = 0; s < 20; ++s) {
    const auto t0 = Clock::now();
    auto b = loader.next();
    const double took = secondsSince(t0);
    if (took > 0.2) return {b, took};
    fences.add(*b);
  }
  return {nullptr, 0.0};
}

// One worker, window 1: the pool keeps 3 blocks.
std::unique_ptr<Loader> windowOneLoader(double fence_timeout_seconds) {
  auto ds = std::make_shared<MemoryDataset>(32, 4);
  const Sampler sampler(32, 4, 3, 0, 1);
  return std::make_unique<Loader>(ds, sampler, opts(1, 1), 3, Cursor{}, true, nullptr,
                                  fence_timeout_seconds);
}

TEST(Unit, LoaderFailsClearlyWhenEveryBlockAwaitsAFenceTooLong) {
  Fences fences;
  const auto owned = windowOneLoader(0.3);
  Loader& loader = *owned;
  const auto t0 = Clock::now();
  try {
    untilBlocked(loader, fences);
    ADD_FAILURE() << "expected DataError once every block awaits a fence";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("await their reuse fences"), std::string::npos)
        << e.what();
  }
  // Bounded: window 1 keeps 3 blocks, so the fourth or fifth batch cannot find memory.
  EXPECT_LE(fences.size(), 5u);
  EXPECT_GE(fences.size(), 3u);
  EXPECT_LT(secondsSince(t0), 5.0);
  fences.fireAll();
}

TEST(Unit, LoaderWaitingForAFenceResumesWhenItFires) {
  Fences fences;
  const auto owned = windowOneLoader(30);
  Loader& loader = *owned;
  std::thread firer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    fences.fireAll();
  });
  const auto [b, took] = untilBlocked(loader, fences);
  firer.join();
  ASSERT_TRUE(b) << "next() never waited for a fence";
  EXPECT_LT(took, 5.0);
  // The batch it waited for sits in a block that a fence had held back.
  EXPECT_TRUE(fences.held(b->pixels.data()));
}

TEST(Unit, LoaderWaitingForAFenceStopsPromptly) {
  Fences fences;
  const auto owned = windowOneLoader(30);
  Loader& loader = *owned;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    loader.stop();
  });
  const auto t0 = Clock::now();
  EXPECT_THROW(untilBlocked(loader, fences), LoaderStopped);
  stopper.join();
  EXPECT_LT(secondsSince(t0), 5.0);
  fences.fireAll();
}

}  // namespace
}  // namespace l2face::data
