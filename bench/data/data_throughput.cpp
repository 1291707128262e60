// data_throughput: the loader's decode + flip + batch rate per thread against a raw
// tjDecompress2 loop over the same images in the same run, worker scaling, RecordIO vs
// ImageFolder, the cost of the other augmentations, and the trainer's data-wait fraction when the
// pipeline is faster than the consumer.
#include <time.h>
#include <turbojpeg.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "l2face/data/dataset.h"
#include "l2face/data/loader.h"
#include "l2face/data/sampler.h"
#include "l2face/data/synth.h"

namespace {

using namespace l2face::data;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: data_throughput --work DIR [--identities 400] [--images 25] [--size 112]\n"
    "                       [--batch 64] [--repeats 3] [--max-workers 2]\n"
    "Writes the same synthetic corpus as an ImageFolder (DIR/folder) and as RecordIO (DIR/rec)\n"
    "unless they exist, then measures (images/s, best of --repeats runs, interleaved):\n"
    "  raw      tjDecompress2 of every image from memory, one thread (the baseline)\n"
    "  loader   Loader, 1 worker, flip p = 0.5, image_size = stored size (no resize)\n"
    "  scaling  Loader with 1 .. --max-workers workers\n"
    "  wait     consumer sleeping 2x the pipeline's batch time per batch: data-wait fraction\n";

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU seconds of the whole process: on a shared machine, images per CPU-second is the robust
// per-thread rate (wall time also counts the time other processes held the core).
double cpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

struct Rate {
  double wall = 0;  // images per second
  double cpu = 0;   // images per CPU-second
  void keepBest(const Rate& r) {
    wall = std::max(wall, r.wall);
    cpu = std::max(cpu, r.cpu);
  }
};

// One thread decoding every image (header + tjDecompress2 into one buffer).
Rate rawDecodeRate(const std::vector<std::vector<uint8_t>>& jpegs, int size) {
  tjhandle h = tjInitDecompress();
  std::vector<uint8_t> out(static_cast<size_t>(size) * size * 3);
  const auto t0 = Clock::now();
  const double c0 = cpuSeconds();
  for (const auto& j : jpegs) {
    int w = 0, hh = 0, sub = 0, cs = 0;
    if (tjDecompressHeader3(h, j.data(), j.size(), &w, &hh, &sub, &cs) != 0 ||
        tjDecompress2(h, j.data(), j.size(), out.data(), w, 0, hh, TJPF_RGB, 0) != 0) {
      std::cerr << "raw decode failed\n";
      std::exit(1);
    }
  }
  const Rate r{jpegs.size() / seconds(t0), jpegs.size() / (cpuSeconds() - c0)};
  tjDestroy(h);
  return r;
}

// Consumes `batches` batches as fast as possible (the first batch, which includes the start of
// the threads, is excluded). The CPU time includes the consumer's (it mostly sleeps in next()).
Rate loaderRate(const std::shared_ptr<Dataset>& ds, DataOptions o, int workers, int batches) {
  o.workers = workers;
  o.prefetch = std::max(4, 2 * workers);
  const Sampler sampler(ds->size(), o.batch_size, 1, 0, 1);
  Loader loader(ds, sampler, o, 1, {}, true);
  loader.next();
  const auto t0 = Clock::now();
  const double c0 = cpuSeconds();
  for (int i = 0; i < batches; ++i) loader.next();
  const double images = static_cast<double>(batches) * o.batch_size;
  return {images / seconds(t0), images / (cpuSeconds() - c0)};
}

// The consumer "trains" for step_s per batch (sleeping: the device computes, the host waits);
// returns the fraction of the run spent waiting for data after the first batch.
double waitFraction(const std::shared_ptr<Dataset>& ds, DataOptions o, int workers, int batches,
                    double step_s) {
  o.workers = workers;
  o.prefetch = 4;
  const Sampler sampler(ds->size(), o.batch_size, 1, 0, 1);
  Loader loader(ds, sampler, o, 1, {}, true);
  loader.next();
  const double waited0 = loader.stats().wait_seconds;
  const auto t0 = Clock::now();
  for (int i = 0; i < batches; ++i) {
    loader.next();
    std::this_thread::sleep_for(std::chrono::duration<double>(step_s));
  }
  return (loader.stats().wait_seconds - waited0) / seconds(t0);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if (argc % 2 == 0 || !args.count("--work")) {
    std::cerr << kUsage;
    return 2;
  }
  auto num = [&](const char* key, double fallback) {
    return args.count(key) ? std::atof(args[key].c_str()) : fallback;
  };
  try {
    const fs::path work = args["--work"];
    SynthOptions so;
    so.identities = static_cast<int>(num("--identities", 400));
    so.images_per_identity = static_cast<int>(num("--images", 25));
    so.eval_identities = 20;
    so.eval_images_per_identity = 2;
    so.folds = 10;
    so.pairs_per_fold = 1;
    so.size = static_cast<int>(num("--size", 112));
    so.threads = 2;
    for (const char* format : {"folder", "rec"}) {
      so.out = (work / format).string();
      so.format = format;
      if (!fs::exists(work / format / "meta.json")) synthesizeCorpus(so);
    }
    const auto folder = openDataset((work / "folder" / "train").string());
    const auto rec = openDataset((work / "rec").string());
    std::vector<std::vector<uint8_t>> jpegs(folder->size());
    for (size_t i = 0; i < folder->size(); ++i) folder->read(i, jpegs[i]);
    std::vector<uint8_t> scratch;  // warm the page cache of the .rec too
    for (size_t i = 0; i < rec->size(); ++i) rec->read(i, scratch);

    DataOptions o;
    o.batch_size = static_cast<int>(num("--batch", 64));
    o.image_size = so.size;
    o.flip_p = 0.5;
    const int batches = static_cast<int>(folder->size() / o.batch_size) - 2;
    const int repeats = static_cast<int>(num("--repeats", 3));
    const int max_workers = static_cast<int>(num("--max-workers", 2));
    // Augmentations: each one always on, then a typical mix.
    std::vector<std::pair<std::string, DataOptions>> augs;
    auto with = [&](const std::string& name, auto set) {
      DataOptions a = o;
      set(a);
      augs.emplace_back(name, a);
    };
    with("random resized crop, p = 1", [](DataOptions& a) { a.random_resized_crop = 1; });
    with("brightness + contrast + saturation 0.2", [](DataOptions& a) {
      a.brightness = a.contrast = a.saturation = 0.2;
    });
    with("grayscale, p = 1", [](DataOptions& a) { a.grayscale_p = 1; });
    with("blur, p = 1", [](DataOptions& a) { a.blur_p = 1; });
    with("erase, p = 1", [](DataOptions& a) { a.erase_p = 1; });
    with("mix: crop 0.5, jitter 0.2, grey/blur/erase 0.2", [](DataOptions& a) {
      a.random_resized_crop = 0.5;
      a.brightness = a.contrast = a.saturation = 0.2;
      a.grayscale_p = a.blur_p = a.erase_p = 0.2;
    });
    std::vector<Rate> aug_rate(augs.size());

    Rate raw, folder1, rec1;
    std::vector<Rate> scaling(max_workers + 1);
    for (int r = 0; r < repeats; ++r) {  // interleaved, best of: the machine is shared
      raw.keepBest(rawDecodeRate(jpegs, so.size));
      folder1.keepBest(loaderRate(folder, o, 1, batches));
      rec1.keepBest(loaderRate(rec, o, 1, batches));
      for (size_t a = 0; a < augs.size(); ++a) {
        aug_rate[a].keepBest(loaderRate(rec, augs[a].second, 1, batches));
      }
      for (int w = 2; w <= max_workers; ++w) scaling[w].keepBest(loaderRate(rec, o, w, batches));
    }
    scaling[1] = rec1;
    const double batch_s = o.batch_size / scaling[max_workers].wall;
    const double wait = waitFraction(rec, o, max_workers, std::min(batches, 60), 2.0 * batch_s);

    std::printf("corpus: %zu images of %dx%d px (%d identities), batch %d, %u hardware threads\n",
                folder->size(), so.size, so.size, so.identities, o.batch_size,
                std::thread::hardware_concurrency());
    std::printf("| measurement | images/s (wall) | ratio | images per CPU-second | ratio |\n"
                "|---|---|---|---|---|\n");
    auto row = [&](const std::string& what, const Rate& r, const Rate& base) {
      std::printf("| %s | %.0f | %.2f | %.0f | %.2f |\n", what.c_str(), r.wall,
                  r.wall / base.wall, r.cpu, r.cpu / base.cpu);
    };
    row("raw tjDecompress2 loop, 1 thread, from memory (baseline)", raw, raw);
    row("loader, 1 worker, ImageFolder: read + decode + flip + batch", folder1, raw);
    row("loader, 1 worker, RecordIO: pread + decode + flip + batch", rec1, raw);
    for (size_t a = 0; a < augs.size(); ++a) {
      row("loader, 1 worker, RecordIO, flip + " + augs[a].first, aug_rate[a], raw);
    }
    for (int w = 2; w <= max_workers; ++w) {
      row("loader, " + std::to_string(w) + " workers, RecordIO (ratio: vs 1 worker)", scaling[w],
          rec1);
    }
    std::printf("data-wait fraction, %d workers, consumer step %.1f ms (2x batch time): %.4f\n",
                max_workers, 2000.0 * batch_s, wait);
  } catch (const std::exception& e) {
    std::cerr << "data_throughput: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
