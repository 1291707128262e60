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

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << kUsage;
      return 0;
    }
    if (std::strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
      std::cerr << kUsage;
      return 2;
    }
    args[argv[i]] = argv[i + 1];
    ++i;
  }
  auto str = [&](const char* k, const char* d) { return args.count(k) ? args[k] : std::string(d); };
  auto num = [&](const char* k, double d) {
    return args.count(k) ? std::atof(args[k].c_str()) : d;
  };
  try {
    trainer::ModelOptions model;
    model.backbone = str("--backbone", "tiny");
    model.embedding_dim = static_cast<int>(num("--embedding-dim", 512));
    model.width = static_cast<int>(num("--width", 32));
    const int batch = static_cast<int>(num("--batch", 32));
    const int side = static_cast<int>(num("--size", 112));
    const int warmup = static_cast<int>(num("--warmup", 3));
    const int steps = static_cast<int>(num("--steps", 10));
    const std::string corpus = str("--corpus", "");
    int threads = static_cast<int>(num("--threads", 0));
    if (threads > 0) torch::set_num_threads(threads);
    threads = torch::get_num_threads();
    torch::manual_seed(1);

    const torch::Device device = trainer::resolveDevice(str("--device", "cpu"));
    if (device.is_cpu()) trainer::retainFreedHostMemory();  // as trainer::train does
    const std::string precision = trainer::resolvePrecision(str("--precision", "auto"), device);
    trainer::StepConfig config;
    config.device = device;
    config.bf16 = precision == "bf16";
    config.channels_last = num("--channels-last", device.is_cuda() ? 1 : 0) != 0;

    std::shared_ptr<data::Dataset> dataset;
    if (!corpus.empty()) dataset = data::openDataset(corpus);
    const int64_t classes =
        dataset ? dataset->numClasses() : static_cast<int64_t>(num("--classes", 1000));

    // The model and optimizer as trainer::train builds them (replicated l2_softmax head, SGD
    // with momentum 0.9 and weight decay 5e-4 on every trainable parameter).
    trainer::TrainModel m;
    m.backbone = trainer::makeBackbone(model, side);
    trainer::HeadOptions head;
    m.head = trainer::Head(head, model.embedding_dim, classes, /*seed=*/1,
                           /*with_classifier=*/true);
    m.backbone->to(device);
    m.head->to(device);
    if (config.channels_last) trainer::toChannelsLast(*m.backbone);
    m.backbone->train();
    m.head->train();
    trainer::OptimOptions optim;
    auto optimizer = trainer::makeOptimizer(
        optim, trainer::parameterGroups({m.backbone.get(), m.head.get()}, optim));
    comm::CommOptions co;
    co.backend = comm::Backend::kLocal;
    auto comm = comm::makeCommunicator(co, comm::RunContext{});
    trainer::TrainStep step(m, *optimizer, *comm, /*dp=*/nullptr, config);
    trainer::StepCounters counters(device);

    std::unique_ptr<data::Loader> loader;
    std::vector<std::shared_ptr<data::Batch>> batches;
    if (dataset) {
      data::DataOptions d;
      d.batch_size = batch;
      d.image_size = side;
      d.workers = static_cast<int>(num("--workers", 2));
      d.prefetch = static_cast<int>(num("--prefetch", 4));
      d.flip_p = num("--flip", 0.5);
      data::Sampler sampler(dataset->size(), batch, /*seed=*/1, /*rank=*/0, /*world=*/1);
      loader = std::make_unique<data::Loader>(dataset, sampler, d, /*seed=*/1, data::Cursor{},
                                              /*train=*/true, trainer::batchAllocator(device));
    } else {
      const int n = std::max(1, static_cast<int>(num("--batches", 4)));
      const data::BatchAllocator pinned = trainer::batchAllocator(device);
      for (int b = 0; b < n; ++b) {
        batches.push_back(syntheticBatch(b, batch, side, classes, pinned));
      }
    }

    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    // The same bytes and labels as the reference's batches: run.sh compares these sums.
    uint64_t pixel_sum = 0, label_sum = 0;
    for (const auto& b : batches) {
      for (size_t i = 0; i < b->pixels.size(); ++i) pixel_sum += b->pixels[i];
      for (int64_t l : b->labels) label_sum += static_cast<uint64_t>(l);
    }
    std::vector<double> step_seconds;
    double wait_seconds = 0;
    Clock::time_point t0;
    double cpu0 = 0;
    // The loss of the first step (batch 0, the initial weights), which bench/gpu/run.sh compares
    // with the reference's; reading it is one host sync in a warm-up step.
    trainer::StepCounters::Window first{};
    for (int s = 0; s < warmup + steps; ++s) {
      if (s == warmup) {
        sync();
        t0 = Clock::now();
        cpu0 = cpuSeconds();
      }
      const auto ts = Clock::now();
      std::shared_ptr<data::Batch> b;
      if (loader) {
        b = loader->next();
        if (s >= warmup) wait_seconds += std::chrono::duration<double>(Clock::now() - ts).count();
      } else {
        b = batches[s % batches.size()];
      }
      step.begin(s);
      step.microBatch(*b, 0, /*poisoned=*/false);
      step.finish(0.1, /*poisoned=*/false, counters);
      if (s == 0) first = counters.snapshot({}, {});
      if (device.is_cuda() && s >= warmup) sync();  // per-step times on the GPU
      if (s >= warmup) {
        step_seconds.push_back(std::chrono::duration<double>(Clock::now() - ts).count());
      }
    }
    sync();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpuSeconds() - cpu0;
    const trainer::StepCounters::Window w = counters.snapshot({}, {});
    const double finite = first.finite_steps + w.finite_steps;
    nlohmann::json j = {
        {"impl", "l2face"},
        {"mode", dataset ? "e2e" : "compute"},
        {"backbone", model.backbone},
        {"batch", batch},
        {"size", side},
        {"threads", threads},
        {"workers", dataset ? loader->workers() : 0},
        {"classes", classes},
        {"device", device.str()},
        {"precision", precision},
        {"channels_last", config.channels_last},
        {"warmup", warmup},
        {"steps", steps},
        {"seconds", seconds},
        {"images_per_second", steps * batch / seconds},
        {"step_seconds_median", median(step_seconds)},
        {"cpu_seconds", cpu},
        {"images_per_cpu_second", steps * batch / cpu},
        {"data_wait_fraction", wait_seconds / seconds},
        {"pixel_sum", pixel_sum},
        {"label_sum", label_sum},
        {"peak_cuda_bytes",
         device.is_cuda() ? bench::cudaAllocated(device.has_index() ? device.index() : 0).peak : 0},
        {"first_loss", first.finite_steps > 0 ? first.loss_sum : -1.0},
        {"mean_loss", finite > 0 ? (first.loss_sum + w.loss_sum) / finite : -1.0}};
    std::cout << j.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "step_bench: " << e.what() << "\n";
    return 1;
  }
}
