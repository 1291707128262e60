// synth_bench: times synthesizeCorpus and then the Loader reading the corpus back.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "l2face/data/dataset.h"
#include "l2face/data/loader.h"
#include "l2face/data/sampler.h"
#include "l2face/data/synth.h"

namespace {

const char* kUsage =
    "usage: synth_bench --out DIR [--identities 200] [--images 20] [--size 64] [--threads 2]\n"
    "                   [--eval-identities 20] [--difficulty 1] [--workers 2] [--batch 64]\n"
    "                   [--batches 50] [--image-size SIZE] [--format folder|rec]\n"
    "Writes a corpus into DIR (which must be new, empty or an earlier synth output), prints the\n"
    "synthesis time, then reads --batches batches through the Loader and prints images/s.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace l2face::data;
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if (argc % 2 == 0 || !args.count("--out")) {
    std::cerr << kUsage;
    return 2;
  }
  auto num = [&](const char* key, double fallback) {
    return args.count(key) ? std::atof(args[key].c_str()) : fallback;
  };
  try {
    SynthOptions o;
    o.out = args["--out"];
    o.identities = static_cast<int>(num("--identities", 200));
    o.images_per_identity = static_cast<int>(num("--images", 20));
    o.eval_identities = static_cast<int>(num("--eval-identities", 20));
    o.eval_images_per_identity = 10;
    o.folds = std::min(10, o.eval_identities / 2);
    o.size = static_cast<int>(num("--size", 64));
    o.threads = static_cast<int>(num("--threads", 2));
    o.difficulty = num("--difficulty", 1.0);
    o.format = args.count("--format") ? args["--format"] : "folder";
    const SynthReport r = synthesizeCorpus(o);
    const int64_t images = r.train_images + r.eval_images;
    std::cout << "synth: " << r.train_images << " train (" << o.format << ") + " << r.eval_images
              << " eval images at " << o.size << " px, " << o.threads << " threads: " << r.seconds
              << " s (" << images / r.seconds << " images/s)\n";

    DataOptions d;
    d.workers = static_cast<int>(num("--workers", 2));
    d.image_size = static_cast<int>(num("--image-size", o.size));
    d.prefetch = 4;
    const auto ds = openDataset(o.format == "rec" ? o.out
                                                  : (std::filesystem::path(o.out) / "train").string());
    const int64_t batch = static_cast<int64_t>(num("--batch", 64));
    const Sampler sampler(ds->size(), batch, 1, 0, 1);
    Loader loader(ds, sampler, d, 1, {}, true);
    const int batches = static_cast<int>(num("--batches", 50));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < batches; ++i) loader.next();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "loader: " << batches << " batches of " << batch << " at " << d.image_size
              << " px, " << d.workers << " workers: " << s << " s ("
              << batches * batch / s << " images/s, consumer waited "
              << loader.stats().wait_seconds << " s)\n";
  } catch (const std::exception& e) {
    std::cerr << "synth_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
