// Hostile clients against the real metrics Exposer (default limits): oversized headers, garbage,
// slowloris, 1000 concurrent connections. The exposer answers 400 or drops them, keeps its memory
// bounded, and a scrape is answered throughout.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hostile_util.h"
#include "l2face/monitoring/exposer.h"

using namespace l2face::hostile;
using namespace l2face::monitoring;

namespace {

std::shared_ptr<Registry> trainingLikeRegistry() {
  auto r = std::make_shared<Registry>();
  auto& steps = BuildCounter().Name("l2face_steps_total").Help("steps").Register(*r);
  auto& hist = BuildHistogram().Name("l2face_step_seconds").Help("step time").Register(*r);
  for (int rank = 0; rank < 8; ++rank) {
    steps.Add({{"rank", std::to_string(rank)}}).Increment(rank);
    hist.Add({{"rank", std::to_string(rank)}}, Histogram::ExponentialBuckets(0.001, 2, 20))
        .Observe(0.1);
  }
  return r;
}

bool scrapeOk(int port) {
  const std::string answer = httpGet(port, "/metrics");
  return answer.find("HTTP/1.1 200 OK") == 0 &&
         answer.find("l2face_steps_total{rank=\"7\"} 7") != std::string::npos;
}

// Scrapes every `period` on its own thread while hostile traffic runs; counts failures.
class Scraper {
 public:
  Scraper(int port, std::chrono::milliseconds period)
      : thread_([this, port, period] {
          while (!stop_) {
            const auto t0 = Clock::now();
            (scrapeOk(port) ? ok_ : failed_)++;
            worst_ = std::max(worst_.load(), secondsSince(t0));
            std::this_thread::sleep_for(period);
          }
        }) {}
  ~Scraper() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  double worstSeconds() const { return worst_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::atomic<double> worst_{0};
  std::thread thread_;
};

}  // namespace

TEST(ExposerHostile, OversizedHeadersAreRefusedWith400) {
  Exposer e(ExposerOptions{}, trainingLikeRegistry());
  // One header line past the 8 KiB limit, many small lines past it, and a 4 MiB request line
  // streamed at the server (it answers and closes long before the end).
  const std::vector<std::string> requests = {
      "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n",
      [] {
        std::string r = "GET /metrics HTTP/1.1\r\n";
        for (int i = 0; i < 2000; ++i) r += "X-H" + std::to_string(i) + ": v\r\n";
        return r + "\r\n";
      }(),
      "GET /" + std::string(size_t{4} << 20, 'x') + " HTTP/1.1\r\n\r\n",
  };
  for (const auto& request : requests) {
    RawClient c(e.port());
    c.send(request);  // may stop early: the server closes once the limit is hit
    ASSERT_TRUE(c.waitClosed(5)) << "server kept an oversized request open";
    EXPECT_EQ(c.received().rfind("HTTP/1.1 400 Bad Request", 0), 0u) << c.received().substr(0, 200);
  }
  // A body over 4 KiB is refused too.
  RawClient c(e.port());
  c.send("GET /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'b'));
  ASSERT_TRUE(c.waitClosed(5));
  EXPECT_EQ(c.received().rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_TRUE(scrapeOk(e.port()));
  EXPECT_GE(e.stats().rejected, 4u);
}

TEST(ExposerHostile, GarbageIsRefusedAndServingContinues) {
  Exposer e(ExposerOptions{}, trainingLikeRegistry());
  std::mt19937 rng(7);
  int answered_400 = 0, closed = 0;
  for (int i = 0; i < 200; ++i) {
    std::string junk(1 + rng() % 3000, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    if (i % 4 == 0) junk = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + junk;  // a TLS hello
    if (i % 4 == 1) junk = "GET /metrics HTTP/1.1\r\n" + junk + "\r\n\r\n";        // bad headers
    RawClient c(e.port());
    c.send(junk);
    if (c.waitClosed(6)) ++closed;
    if (c.received().rfind("HTTP/1.1 400", 0) == 0) ++answered_400;
  }
  // Every garbage connection ends: answered 400, or (bytes that are not even a request line yet)
  // dropped at the read deadline.
  EXPECT_EQ(closed, 200);
  EXPECT_GT(answered_400, 100);
  EXPECT_TRUE(scrapeOk(e.port()));
}

TEST(ExposerHostile, SlowlorisIsDroppedAtTheDeadlineAndScrapesStillAnswer) {
  ExposerOptions o;  // default limits: 5 s per request, 64 connections
  Exposer e(o, trainingLikeRegistry());
  // 200 connections, each sending one more byte of a valid request every second: more than the
  // connection cap, and none ever completes its request.
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n";
  std::vector<RawClient> slow(200);
  std::vector<double> opened(200, 0), dropped_after(200, -1);
  const auto t0 = Clock::now();
  for (size_t i = 0; i < slow.size(); ++i) {
    ASSERT_TRUE(slow[i].open(e.port()));
    opened[i] = secondsSince(t0);
  }
  Scraper scraper(e.port(), std::chrono::milliseconds(250));
  for (int second = 0; second < 8; ++second) {
    for (size_t i = 0; i < slow.size(); ++i) {
      if (dropped_after[i] >= 0) continue;
      slow[i].send(request.substr(static_cast<size_t>(second), 1));
      if (slow[i].closedByPeer()) dropped_after[i] = secondsSince(t0) - opened[i];
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  for (size_t i = 0; i < slow.size(); ++i) {
    if (dropped_after[i] < 0 && slow[i].closedByPeer())
      dropped_after[i] = secondsSince(t0) - opened[i];
  }
  scraper.stop();
  // Every slow connection was dropped: evicted for a newer one, or at the 5 s deadline; none got
  // an answer (their request never completed).
  for (size_t i = 0; i < slow.size(); ++i) {
    EXPECT_GE(dropped_after[i], 0) << "slow connection " << i << " still open after 8 s";
    EXPECT_LE(dropped_after[i], 5.0 + 1.5 * kSlowdown) << "slow connection " << i;
    EXPECT_EQ(slow[i].received(), "") << i;
  }
  EXPECT_GT(scraper.ok(), 20 / kSlowdown);
  EXPECT_EQ(scraper.failed(), 0);
  EXPECT_LT(scraper.worstSeconds(), 1.0 * kSlowdown);
  std::printf(
      "[ slowloris ] 200 connections, 1 byte/s: %d scrapes answered, 0 failed, worst %.3f s; "
      "%llu evicted\n",
      scraper.ok(), scraper.worstSeconds(), static_cast<unsigned long long>(e.stats().evicted));
}

TEST(ExposerHostile, ThousandConcurrentConnectionsKeepMemoryBounded) {
  const uint64_t limit = raiseDescriptorLimit(4096);
  ASSERT_GE(limit, 1200u) << "needs ~1100 descriptors for 1000 client sockets";
  Exposer e(ExposerOptions{}, trainingLikeRegistry());
  ASSERT_TRUE(scrapeOk(e.port()));  // warm: the first answer's allocations are not the flood's
  const uint64_t rss_before = residentBytes();
  uint64_t rss_peak = rss_before;
  Scraper scraper(e.port(), std::chrono::milliseconds(100));
  // Three waves of 1000 concurrent connections: silent ones, half requests, and full requests
  // whose answers are never read.
  const std::vector<std::string> waves = {
      "", "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(4000, 'p'),
      "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"};
  size_t opened = 0;
  for (const auto& first_bytes : waves) {
    std::vector<RawClient> flood(1000);
    for (auto& c : flood) {
      if (c.open(e.port())) ++opened;
      if (!first_bytes.empty()) c.send(first_bytes);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    rss_peak = std::max(rss_peak, residentBytes());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  scraper.stop();
  const uint64_t rss_after = residentBytes();
  EXPECT_EQ(opened, 3000u);
  EXPECT_EQ(scraper.failed(), 0);
  EXPECT_GT(scraper.ok(), 20 / kSlowdown);
  EXPECT_TRUE(scrapeOk(e.port()));
  // Bounded: 64 connections' buffers and answers, whatever 3000 clients do.
  if (!kSanitized) {
    EXPECT_LT(rss_peak - rss_before, uint64_t{24} << 20);
    EXPECT_LT(static_cast<int64_t>(rss_after) - static_cast<int64_t>(rss_before),
              int64_t{16} << 20);
  }
  std::printf(
      "[ flood ] 3 x 1000 concurrent connections: RSS %.1f MiB before, %.1f MiB peak, "
      "%.1f MiB after; %d scrapes answered, 0 failed, worst %.3f s; %llu evicted\n",
      rss_before / 1048576.0, rss_peak / 1048576.0, rss_after / 1048576.0, scraper.ok(),
      scraper.worstSeconds(), static_cast<unsigned long long>(e.stats().evicted));
}
