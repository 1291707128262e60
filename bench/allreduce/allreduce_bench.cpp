// allreduce_bench: GradSync's bus bandwidth against raw MPI_Allreduce, and exposed communication.
//
// Run under mpirun; prints JSON, then markdown tables.
//
//   mpirun -np 2 build/bin/allreduce_bench [--max-mib 256] [--reps 3]
//
// Sizes 1 KiB · 4^k up to --max-mib. Per size, interleaved, best of --reps rounds, slowest rank:
//   raw        MPI_Allreduce(MPI_IN_PLACE, sum) on MPI_COMM_WORLD from the main thread
//   iallreduce MPI_Iallreduce polled with MPI_Test: what a watchable MPI collective costs (libnbc)
//   comm       the mpi Communicator's blocking allReduce (avg): comm thread, ring, watchdog
//   gradsync   GradSync over 16 equal parameters with DDP's caps (1 MiB first bucket, 25 MiB):
//              markReady in reverse order, finish; "copy" with separate gradient buffers, "view"
//              with gradients living in the buckets (no copies)
// busbw = bytes / time · 2(P−1)/P (nccl-tests' definition).
//
// Overlap: ResNet-50's 161 gradient tensors; backward is simulated per tensor in reverse order
// (time proportional to its size, total = --compute-ratio × the raw all-reduce time of the whole
// model) then markReady; the step ends with finish(). "sleep" leaves the host idle during
// backward (as with a GPU), "spin" keeps a core busy (as with CPU training). Exposed = time in
// finish(); without overlap the exposed time is the whole all-reduce after backward.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "l2face/comm/grad_sync.h"
#include "l2face/comm/mpi_session.h"
#include "resnet50_layout.h"

using namespace l2face::comm;
using Clock = std::chrono::steady_clock;

namespace {

double now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

// The slowest rank's time: a collective is as fast as its last participant.
double maxOverRanks(double t) {
  double m = 0;
  MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return m;
}

template <typename F>
double timeIt(int iters, F&& f) {
  f();  // warm-up: first-touch pages, connection set-up
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  for (int i = 0; i < iters; ++i) f();
  return maxOverRanks((now() - t0) / iters);
}

struct GradSet {
  GradSet(Communicator& c, size_t total_floats, int params, bool views)
      : sizes(static_cast<size_t>(params), std::max<size_t>(1, total_floats / params)),
        sync(c, sizes, {}) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (views) {
        ptrs.push_back(sync.gradView(i));
      } else {
        owned.emplace_back(sizes[i], 1.f);
        ptrs.push_back(owned.back().data());
      }
      std::fill(ptrs.back(), ptrs.back() + sizes[i], 1.f);
    }
  }
  void step() {
    for (size_t i = sizes.size(); i-- > 0;) sync.markReady(i, ptrs[i]);
    sync.finish(ptrs.data());
  }
  std::vector<size_t> sizes;
  GradSync sync;
  std::vector<std::vector<float>> owned;
  std::vector<float*> ptrs;
};

void spinFor(double seconds) {
  double end = now() + seconds;
  while (now() < end) {
  }
}

nlohmann::json overlap(Communicator& c, double raw_model_seconds, double ratio, bool spin,
                       int steps) {
  const std::vector<size_t> sizes = l2face::bench::resnet50ParamNumel();
  size_t total = 0;
  for (size_t s : sizes) total += s;
  GradSync sync(c, sizes, {});
  std::vector<float*> ptrs;
  for (size_t i = 0; i < sizes.size(); ++i) {
    ptrs.push_back(sync.gradView(i));
    std::fill(ptrs.back(), ptrs.back() + sizes[i], 1.f);
  }
  const double compute = ratio * raw_model_seconds;
  auto backward = [&](size_t i) {
    double t = compute * static_cast<double>(sizes[i]) / static_cast<double>(total);
    if (spin) {
      spinFor(t);
    } else {
      std::this_thread::sleep_for(std::chrono::duration<double>(t));
    }
  };
  double best_step = 1e30, best_exposed = 1e30;
  for (int s = 0; s < steps + 1; ++s) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    for (size_t i = sizes.size(); i-- > 0;) {
      backward(i);
      sync.markReady(i, ptrs[i]);
    }
    sync.finish(ptrs.data());
    double step = maxOverRanks(now() - t0);
    double exposed = maxOverRanks(sync.stats().last_exposed_seconds);
    if (s > 0 && step < best_step) {  // step 0 warms up
      best_step = step;
      best_exposed = exposed;
    }
  }
  nlohmann::json j;
  j["backward"] = spin ? "spin" : "sleep";
  j["compute_to_comm"] = ratio;
  j["compute_ms"] = compute * 1e3;
  j["allreduce_ms"] = raw_model_seconds * 1e3;
  j["step_ms"] = best_step * 1e3;
  j["exposed_ms"] = best_exposed * 1e3;
  j["exposed_fraction"] = best_exposed / best_step;
  j["no_overlap_fraction"] = raw_model_seconds / (compute + raw_model_seconds);
  j["buckets"] = sync.bucketCount();
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  MpiSession mpi(&argc, &argv);
  double max_mib = 256;
  int reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--max-mib")) max_mib = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  CommOptions o;
  o.backend = mpi.size() > 1 ? Backend::kMpi : Backend::kLocal;
  auto comm = makeCommunicator(o, runContextFromEnvironment());
  const double p = mpi.size();
  const double bus = p > 1 ? 2 * (p - 1) / p : 1;
  nlohmann::json out;
  out["world"] = mpi.size();
  out["reps"] = reps;
  out["sizes"] = nlohmann::json::array();
  for (size_t bytes = 1024; bytes <= static_cast<size_t>(max_mib * 1048576.0); bytes *= 4) {
    const size_t n = bytes / sizeof(float);
    const int iters = static_cast<int>(std::clamp<size_t>((size_t{64} << 20) / bytes, 3, 1000));
    std::vector<float> buf(n, 1.f);
    GradSet copy(*comm, n, 16, false), view(*comm, n, 16, true);
    double raw = 1e30, inb = 1e30, viacomm = 1e30, gs_copy = 1e30, gs_view = 1e30;
    for (int r = 0; r < reps; ++r) {
      raw = std::min(raw, timeIt(iters, [&] {
                       MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(n), MPI_FLOAT,
                                     MPI_SUM, MPI_COMM_WORLD);
                     }));
      inb = std::min(inb, timeIt(iters, [&] {
                       MPI_Request q;
                       MPI_Iallreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(n), MPI_FLOAT,
                                      MPI_SUM, MPI_COMM_WORLD, &q);
                       for (int done = 0; !done;) MPI_Test(&q, &done, MPI_STATUS_IGNORE);
                     }));
      viacomm = std::min(viacomm, timeIt(iters, [&] {
                           comm->allReduce(buf.data(), n, DType::kFloat32, ReduceOp::kAvg);
                         }));
      gs_copy = std::min(gs_copy, timeIt(iters, [&] { copy.step(); }));
      gs_view = std::min(gs_view, timeIt(iters, [&] { view.step(); }));
    }
    auto bw = [&](double t) { return static_cast<double>(bytes) / t * bus / 1e9; };
    nlohmann::json s;
    s["bytes"] = bytes;
    s["iters"] = iters;
    s["raw_us"] = raw * 1e6;
    s["iallreduce_us"] = inb * 1e6;
    s["comm_us"] = viacomm * 1e6;
    s["gradsync_copy_us"] = gs_copy * 1e6;
    s["gradsync_view_us"] = gs_view * 1e6;
    s["raw_busbw_gbs"] = bw(raw);
    s["gradsync_view_busbw_gbs"] = bw(gs_view);
    s["buckets"] = view.sync.bucketCount();
    s["ratio_iallreduce"] = raw / inb;
    s["ratio_comm"] = raw / viacomm;
    s["ratio_gradsync_copy"] = raw / gs_copy;
    s["ratio_gradsync_view"] = raw / gs_view;
    out["sizes"].push_back(s);
  }

  // Overlap on ResNet-50's layout: first the raw all-reduce of all its bytes, the baseline.
  size_t model = 0;
  for (size_t s : l2face::bench::resnet50ParamNumel()) model += s;
  std::vector<float> all(model, 1.f);
  double raw_model = 1e30;
  for (int r = 0; r < reps; ++r) {
    raw_model = std::min(raw_model, timeIt(3, [&] {
                           MPI_Allreduce(MPI_IN_PLACE, all.data(), static_cast<int>(model),
                                         MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                         }));
  }
  out["overlap"] = nlohmann::json::array();
  for (bool spin : {false, true}) {
    for (double ratio : {1.0, 2.0}) {
      out["overlap"].push_back(overlap(*comm, raw_model, ratio, spin, reps + 1));
    }
  }

  if (mpi.rank() == 0) {
    std::printf("%s\n\n", out.dump(2).c_str());
    std::printf(
        "| size | raw MPI_Allreduce busbw GB/s | MPI_Iallreduce / raw | comm allReduce / raw "
        "| GradSync copy / raw | GradSync view / raw | buckets |\n"
        "|---|---|---|---|---|---|---|\n");
    for (const auto& s : out["sizes"]) {
      double b = s["bytes"].get<double>();
      std::string size = b >= 1048576 ? std::to_string(static_cast<int>(b / 1048576)) + " MiB"
                                      : std::to_string(static_cast<int>(b / 1024)) + " KiB";
      std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %d |\n", size.c_str(),
                  s["raw_busbw_gbs"].get<double>(), s["ratio_iallreduce"].get<double>(),
                  s["ratio_comm"].get<double>(), s["ratio_gradsync_copy"].get<double>(),
                  s["ratio_gradsync_view"].get<double>(), s["buckets"].get<int>());
    }
    std::printf(
        "\n| backward | compute:comm | step ms | exposed ms | exposed / step | without "
        "overlap |\n|---|---|---|---|---|---|\n");
    for (const auto& j : out["overlap"]) {
      std::printf("| %s | %.0f:1 | %.1f | %.1f | %.0f %% | %.0f %% |\n",
                  j["backward"].get<std::string>().c_str(), j["compute_to_comm"].get<double>(),
                  j["step_ms"].get<double>(), j["exposed_ms"].get<double>(),
                  100 * j["exposed_fraction"].get<double>(),
                  100 * j["no_overlap_fraction"].get<double>());
    }
  }
  return 0;
}
