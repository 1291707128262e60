// step_bench: training images/s of one rank through the trainer's own step (TrainStep, the code
// trainer::train runs), either on in-memory uint8 batches (compute only: conversion, forward,
// head, backward, gradient check, fused optimizer step) or fed by the real Loader over a JPEG
// corpus (end to end: read, decode, flip, batch, then the same step). bench/step/run.sh runs it
// against bench/reference/train_reference.py; one JSON line on stdout.
#include <time.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cuda_memory.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"
#include "l2face/data/dataset.h"
#include "l2face/data/loader.h"
#include "l2face/data/sampler.h"
#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/batch_transfer.h"
#include "l2face/trainer/internal/head.h"
#include "l2face/trainer/internal/input.h"
#include "l2face/trainer/internal/optimizer.h"
#include "l2face/trainer/internal/precision.h"
#include "l2face/trainer/internal/run_checkpoint.h"
#include "l2face/trainer/internal/step_counters.h"
#include "l2face/trainer/internal/train_step.h"

namespace {

using namespace l2face;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: step_bench [--backbone tiny|iresnet18|iresnet50|...] [--batch 32] [--size 112]\n"
    "                  [--threads 0] [--warmup 3] [--steps 10] [--classes 1000]\n"
    "                  [--embedding-dim 512] [--width 32] [--device cpu|cuda]\n"
    "                  [--precision fp32|bf16] [--channels-last 0|1] [--batches 4]\n"
    "                  [--corpus DIR --workers 2 --prefetch 4 --flip 0.5]\n"
    "Without --corpus: compute only, on --batches in-memory uint8 NHWC batches cycled (the\n"
    "pattern bench/reference/train_reference.py builds: byte i of batch b is the top byte of\n"
    "(i + b * n) * 0x9E3779B97F4A7C15, label j of batch b is (j * 7919 + b * 13) mod classes).\n"
    "With --corpus: the Loader over that ImageFolder/RecordIO (flip, workers) feeds the step.\n"
    "Times --steps steps after --warmup steps; prints one JSON line.\n";

// n bytes from `alloc` (pinned on CUDA, as the loader's), or from the heap without one.
std::shared_ptr<uint8_t> hostBytes(const data::BatchAllocator& alloc, size_t n) {
  if (alloc) return alloc(n);
  return std::shared_ptr<uint8_t>(new uint8_t[n], std::default_delete<uint8_t[]>());
}

// Byte i of batch b: the top byte of (i + b·n)·φ64 (wrapping), as the reference computes it.
std::shared_ptr<data::Batch> syntheticBatch(int b, int batch, int side, int64_t classes,
                                            const data::BatchAllocator& alloc) {
  auto out = std::make_shared<data::Batch>();
  const size_t n = static_cast<size_t>(batch) * side * side * 3;
  std::shared_ptr<uint8_t> storage = hostBytes(alloc, n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k =
        (static_cast<uint64_t>(i) + static_cast<uint64_t>(b) * n) * 0x9E3779B97F4A7C15ULL;
    storage.get()[i] = static_cast<uint8_t>(k >> 56);
  }
  out->pixels = data::PixelBuffer(storage, n);
  out->batch_size = batch;
  out->height = out->width = side;
  std::shared_ptr<uint8_t> label_bytes = hostBytes(alloc, sizeof(int64_t) * batch);
  out->labels = data::LabelBuffer(
      std::shared_ptr<int64_t>(label_bytes, reinterpret_cast<int64_t*>(label_bytes.get())), batch);
  for (int j = 0; j < batch; ++j) out->labels[j] = (int64_t{j} * 7919 + b * 13) % classes;
  return out;
}

// CPU seconds of the whole process (every thread, loader workers included): on a shared machine
// the compute-only rate per CPU-second is steadier than the wall-clock rate.
double cpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The command line: --key value pairs.
struct Args {
  std::map<std::string, std::string> kv;
  std::string str(const char* k, const char* d) const {
    auto it = kv.find(k);
    return it != kv.end() ? it->second : std::string(d);
  }
  double num(const char* k, double d) const {
    auto it = kv.find(k);
    return it != kv.end() ? std::atof(it->second.c_str()) : d;
  }
  int count(const char* k, double d) const { return static_cast<int>(num(k, d)); }
};

// The model, optimizer and step as trainer::train builds them (replicated l2_softmax head, SGD
// with momentum 0.9 and weight decay 5e-4 on every trainable parameter), on a local communicator.
struct Bench {
  trainer::StepConfig config;
  std::string precision;
  trainer::ModelOptions model;
  int batch = 0, side = 0;
  int64_t classes = 0;
  std::shared_ptr<data::Dataset> dataset;
  trainer::TrainModel m;
  std::unique_ptr<trainer::Optimizer> optimizer;
  std::unique_ptr<comm::Communicator> comm;
  std::unique_ptr<trainer::TrainStep> step;
};

void buildBench(const Args& a, Bench& b) {
  b.model.backbone = a.str("--backbone", "tiny");
  b.model.embedding_dim = a.count("--embedding-dim", 512);
  b.model.width = a.count("--width", 32);
  b.batch = a.count("--batch", 32);
  b.side = a.count("--size", 112);
  const torch::Device device = trainer::resolveDevice(a.str("--device", "cpu"));
  if (device.is_cpu()) trainer::retainFreedHostMemory();  // as trainer::train does
  b.precision = trainer::resolvePrecision(a.str("--precision", "auto"), device);
  b.config.device = device;
  b.config.bf16 = b.precision == "bf16";
  b.config.channels_last = a.num("--channels-last", device.is_cuda() ? 1 : 0) != 0;
  const std::string corpus = a.str("--corpus", "");
  if (!corpus.empty()) b.dataset = data::openDataset(corpus);
  b.classes = b.dataset ? b.dataset->numClasses() : static_cast<int64_t>(a.num("--classes", 1000));

  b.m.backbone = trainer::makeBackbone(b.model, b.side);
  trainer::HeadOptions head;
  b.m.head = trainer::Head(head, b.model.embedding_dim, b.classes, /*seed=*/1,
                           /*with_classifier=*/true);
  b.m.backbone->to(device);
  b.m.head->to(device);
  if (b.config.channels_last) trainer::toChannelsLast(*b.m.backbone);
  b.m.backbone->train();
  b.m.head->train();
  trainer::OptimOptions optim;
  b.optimizer = trainer::makeOptimizer(
      optim, trainer::parameterGroups({b.m.backbone.get(), b.m.head.get()}, optim));
  comm::CommOptions co;
  co.backend = comm::Backend::kLocal;
  b.comm = comm::makeCommunicator(co, comm::RunContext{});
  b.step = std::make_unique<trainer::TrainStep>(b.m, *b.optimizer, *b.comm, /*dp=*/nullptr,
                                                b.config);
}

// The batches: the Loader over the corpus (end to end), or --batches in-memory batches.
struct Inputs {
  std::unique_ptr<data::Loader> loader;
  std::vector<std::shared_ptr<data::Batch>> batches;
  uint64_t pixel_sum = 0, label_sum = 0;  // of the in-memory batches: run.sh compares them
};

Inputs makeInputs(const Args& a, const Bench& b) {
  Inputs in;
  const data::BatchAllocator pinned = trainer::batchAllocator(b.config.device);
  if (b.dataset) {
    data::DataOptions d;
    d.batch_size = b.batch;
    d.image_size = b.side;
    d.workers = a.count("--workers", 2);
    d.prefetch = a.count("--prefetch", 4);
    d.flip_p = a.num("--flip", 0.5);
    data::Sampler sampler(b.dataset->size(), b.batch, /*seed=*/1, /*rank=*/0, /*world=*/1);
    in.loader = std::make_unique<data::Loader>(b.dataset, sampler, d, /*seed=*/1, data::Cursor{},
                                               /*train=*/true, pinned);
    return in;
  }
  const int n = std::max(1, a.count("--batches", 4));
  for (int k = 0; k < n; ++k) {
    in.batches.push_back(syntheticBatch(k, b.batch, b.side, b.classes, pinned));
    const data::Batch& batch = *in.batches.back();
    for (size_t i = 0; i < batch.pixels.size(); ++i) in.pixel_sum += batch.pixels[i];
    for (int64_t l : batch.labels) in.label_sum += static_cast<uint64_t>(l);
  }
  return in;
}

struct Timing {
  std::vector<double> step_seconds;
  double wait_seconds = 0, seconds = 0, cpu_seconds = 0;
  // The loss of the first step (batch 0, the initial weights), which bench/gpu/run.sh compares
  // with the reference's (reading it is one host sync in a warm-up step), and the timed steps'.
  trainer::StepCounters::Window first{}, timed{};
};

// --warmup steps, then --steps timed ones (synchronised per step on the GPU).
Timing runSteps(Bench& b, Inputs& in, int warmup, int steps) {
  const bool cuda = b.config.device.is_cuda();
  auto sync = [&] {
    if (cuda) torch::cuda::synchronize();
  };
  trainer::StepCounters counters(b.config.device);
  Timing t;
  Clock::time_point t0;
  double cpu0 = 0;
  for (int s = 0; s < warmup + steps; ++s) {
    if (s == warmup) {
      sync();
      t0 = Clock::now();
      cpu0 = cpuSeconds();
    }
    const auto ts = Clock::now();
    std::shared_ptr<data::Batch> batch;
    if (in.loader) {
      batch = in.loader->next();
      if (s >= warmup) t.wait_seconds += std::chrono::duration<double>(Clock::now() - ts).count();
    } else {
      batch = in.batches[s % in.batches.size()];
    }
    b.step->begin(s);
    b.step->microBatch(*batch, 0, /*poisoned=*/false);
    b.step->finish(0.1, /*poisoned=*/false, counters);
    if (s == 0) t.first = counters.snapshot({}, {});
    if (cuda && s >= warmup) sync();  // per-step times on the GPU
    if (s >= warmup) {
      t.step_seconds.push_back(std::chrono::duration<double>(Clock::now() - ts).count());
    }
  }
  sync();
  t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t.cpu_seconds = cpuSeconds() - cpu0;
  t.timed = counters.snapshot({}, {});
  return t;
}

nlohmann::json report(const Bench& b, const Inputs& in, const Timing& t, int warmup, int steps) {
  const torch::Device& device = b.config.device;
  const double finite = t.first.finite_steps + t.timed.finite_steps;
  return {{"impl", "l2face"},
          {"mode", b.dataset ? "e2e" : "compute"},
          {"backbone", b.model.backbone},
          {"batch", b.batch},
          {"size", b.side},
          {"threads", torch::get_num_threads()},
          {"workers", in.loader ? in.loader->workers() : 0},
          {"classes", b.classes},
          {"device", device.str()},
          {"precision", b.precision},
          {"channels_last", b.config.channels_last},
          {"warmup", warmup},
          {"steps", steps},
          {"seconds", t.seconds},
          {"images_per_second", steps * b.batch / t.seconds},
          {"step_seconds_median", median(t.step_seconds)},
          {"cpu_seconds", t.cpu_seconds},
          {"images_per_cpu_second", steps * b.batch / t.cpu_seconds},
          {"data_wait_fraction", t.wait_seconds / t.seconds},
          {"pixel_sum", in.pixel_sum},
          {"label_sum", in.label_sum},
          {"peak_cuda_bytes",
           device.is_cuda() ? bench::cudaAllocated(device.has_index() ? device.index() : 0).peak
                            : 0},
          {"first_loss", t.first.finite_steps > 0 ? t.first.loss_sum : -1.0},
          {"mean_loss", finite > 0 ? (t.first.loss_sum + t.timed.loss_sum) / finite : -1.0}};
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << kUsage;
      return 0;
    }
    if (std::strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
      std::cerr << kUsage;
      return 2;
    }
    a.kv[argv[i]] = argv[i + 1];
    ++i;
  }
  try {
    const int threads = a.count("--threads", 0);
    if (threads > 0) torch::set_num_threads(threads);
    torch::manual_seed(1);
    Bench b;
    buildBench(a, b);
    Inputs in = makeInputs(a, b);
    const int warmup = a.count("--warmup", 3), steps = a.count("--steps", 10);
    const Timing t = runSteps(b, in, warmup, steps);
    std::cout << report(b, in, t, warmup, steps).dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "step_bench: " << e.what() << "\n";
    return 1;
  }
}
