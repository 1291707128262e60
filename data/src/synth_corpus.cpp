// synthesizeCorpus: option checks, output-directory safety, the per-identity thread pool, and
// the pairs / quality.csv / meta.json writers.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "file_util.h"
#include "l2face/data/errors.h"
#include "l2face/data/jpeg.h"
#include "l2face/data/random.h"
#include "l2face/data/synth.h"
#include "l2face/data/synth_params.h"
#include "l2face/data/synth_render.h"
#include "synth_pairs.h"

namespace l2face::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kGeneratorName = "l2face-synth";
// Seed streams: training and evaluation people come from different streams, so they are
// different people even for equal indices.
constexpr uint64_t kIdentityStream[2] = {0x1D7A1, 0x1D7E1};
constexpr uint64_t kImageStream[2] = {0x13A7A1, 0x13A7E1};
constexpr const char* kSplitName[2] = {"train", "eval"};
constexpr const char* kNamePrefix[2] = {"id_", "ev_"};

std::string identityName(int split, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%06d", kNamePrefix[split], index + 1);
  return buf;
}

std::string imageName(const std::string& identity, int image) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "_%04d.jpg", image + 1);
  return identity + buf;
}

void validate(const SynthOptions& o) {
  auto fail = [](const std::string& msg) { throw std::invalid_argument("synth: " + msg); };
  if (o.out.empty()) fail("the output directory (out) is empty");
  if (o.identities < 2) fail("identities must be >= 2, got " + std::to_string(o.identities));
  if (o.images_per_identity < 1) fail("images_per_identity must be >= 1");
  if (o.size < 16) fail("size must be >= 16 pixels, got " + std::to_string(o.size));
  if (o.size > 1024) fail("size must be <= 1024 pixels, got " + std::to_string(o.size));
  if (o.folds < 1) fail("folds must be >= 1");
  if (o.eval_identities < 2 * o.folds) {
    fail("eval_identities (" + std::to_string(o.eval_identities) +
         ") must be >= 2 * folds (" + std::to_string(2 * o.folds) +
         ") so every fold has mismatched pairs; lower folds or add identities");
  }
  if (o.eval_images_per_identity < 2) fail("eval_images_per_identity must be >= 2 (matched pairs)");
  if (o.pairs_per_fold < 1) fail("pairs_per_fold must be >= 1");
  if (o.threads < 0) fail("threads must be >= 0 (0 = all cores)");
  if (!(o.difficulty >= 0.0 && o.difficulty <= 4.0)) fail("difficulty must be in [0, 4]");
  if (o.identities > 999999 || o.eval_identities > 999999 || o.images_per_identity > 9999 ||
      o.eval_images_per_identity > 9999) {
    fail("at most 999999 identities and 9999 images per identity (name padding)");
  }
}

// Makes `out` an empty directory, deleting a previous synth output (and only that).
void prepareOutput(const fs::path& out) {
  std::error_code ec;
  if (!fs::exists(out, ec)) {
    fs::create_directories(out, ec);
    if (ec) throw DataError("synth: cannot create '" + out.string() + "': " + ec.message());
    return;
  }
  if (!fs::is_directory(out, ec)) {
    throw DataError("synth: '" + out.string() + "' exists and is not a directory");
  }
  static const std::set<std::string> kOwned = {"train", "eval", "quality.csv", "meta.json",
                                               "quality.csv.tmp", "meta.json.tmp"};
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(out, ec)) entries.push_back(e.path());
  if (ec) throw DataError("synth: cannot list '" + out.string() + "': " + ec.message());
  if (entries.empty()) return;
  bool ours = false;
  try {
    std::vector<uint8_t> bytes;
    readFile((out / "meta.json").string(), bytes);
    const auto meta = nlohmann::json::parse(bytes.begin(), bytes.end());
    ours = meta.value("generator", "") == kGeneratorName;
  } catch (const std::exception&) {
    ours = false;
  }
  for (const auto& e : entries) {
    if (!ours || !kOwned.count(e.filename().string())) {
      throw DataError("synth: refusing to write into '" + out.string() +
                      "': it is not empty and not a previous synth output (found '" +
                      e.filename().string() +
                      "'); choose a new or empty directory so corpora are never mixed");
    }
  }
  for (const auto& e : entries) {
    fs::remove_all(e, ec);
    if (ec) throw DataError("synth: cannot remove '" + e.string() + "': " + ec.message());
  }
}

std::string metaJson(const SynthOptions& o, int threads, bool complete, const SynthReport& r,
                     int pairs_per_fold, const std::vector<std::string>& notes) {
  nlohmann::ordered_json j;
  j["generator"] = kGeneratorName;
  j["generator_version"] = kSynthGeneratorVersion;
  j["complete"] = complete;
  j["options"] = {{"identities", o.identities},
                  {"images_per_identity", o.images_per_identity},
                  {"eval_identities", o.eval_identities},
                  {"eval_images_per_identity", o.eval_images_per_identity},
                  {"size", o.size},
                  {"seed", o.seed},
                  {"folds", o.folds},
                  {"pairs_per_fold", o.pairs_per_fold},
                  {"difficulty", o.difficulty}};
  j["counts"] = {{"train_identities", o.identities},
                 {"train_images", r.train_images},
                 {"eval_identities", o.eval_identities},
                 {"eval_images", r.eval_images},
                 {"folds", o.folds},
                 {"pairs_per_fold", pairs_per_fold},
                 {"pairs", r.pairs}};
  j["layout"] = {{"train", "train/<id>/<id>_NNNN.jpg"},
                 {"eval", "eval/<id>/<id>_NNNN.jpg"},
                 {"pairs", "eval/pairs.txt (LFW layout)"},
                 {"quality", "quality.csv (yaw, roll in degrees)"}};
  j["notes"] = notes;
  j["threads"] = threads;
  j["seconds"] = r.seconds;
  return j.dump(2) + "\n";
}

struct Job {
  int split;
  int identity;
};

// Renders and writes every image of one identity; returns its quality.csv rows.
std::string runJob(const SynthOptions& o, const fs::path& out, const Job& job,
                   JpegEncoder& encoder) {
  const int split = job.split;
  const std::string name = identityName(split, job.identity);
  const fs::path dir = out / kSplitName[split] / name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw DataError("synth: cannot create '" + dir.string() + "': " + ec.message());
  const IdentityParams id =
      sampleIdentity(mixSeed(o.seed, kIdentityStream[split], static_cast<uint64_t>(job.identity)));
  const int images = split == 0 ? o.images_per_identity : o.eval_images_per_identity;
  std::string rows;
  for (int i = 0; i < images; ++i) {
    const ImageParams im =
        sampleImageParams(mixSeed(o.seed, kImageStream[split], static_cast<uint64_t>(job.identity),
                                  static_cast<uint64_t>(i)),
                          id, o.difficulty);
    const std::vector<uint8_t> rgb = renderFace(id, im, o.size);
    const std::vector<uint8_t> jpeg = encoder.encode(rgb.data(), o.size, o.size, im.jpeg_quality);
    const std::string file = imageName(name, i);
    writeFile((dir / file).string(), jpeg.data(), jpeg.size());
    char line[512];
    std::snprintf(line, sizeof line, "%s,%s/%s/%s,%d,%.4f,%.2f,%.2f,%.4f,%.4f,%s,%.3f,%d\n",
                  kSplitName[split], kSplitName[split], name.c_str(), file.c_str(), job.identity,
                  qualityScore(im), im.yaw * 57.29578, im.roll * 57.29578, im.scale,
                  im.light_strength, occlusionName(im.occlusion), effectiveBlur(im),
                  im.jpeg_quality);
    rows += line;
  }
  return rows;
}

}  // namespace

SynthReport synthesizeCorpus(const SynthOptions& options) {
  validate(options);
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path out(options.out);
  prepareOutput(out);

  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::thread::hardware_concurrency());
  std::vector<Job> jobs;
  for (int i = 0; i < options.identities; ++i) jobs.push_back({0, i});
  for (int i = 0; i < options.eval_identities; ++i) jobs.push_back({1, i});
  threads = std::clamp(threads, 1, static_cast<int>(jobs.size()));

  SynthReport report;
  report.train_images = int64_t{options.identities} * options.images_per_identity;
  report.eval_images = int64_t{options.eval_identities} * options.eval_images_per_identity;
  const synth::PairList pairs = synth::makePairs(
      options.eval_identities, options.eval_images_per_identity, options.folds,
      options.pairs_per_fold, options.seed, [](int i) { return identityName(1, i); });
  report.pairs = int64_t{pairs.folds} * pairs.per_fold * 2;
  for (const auto& note : pairs.notes) std::cerr << "note: synth: " << note << "\n";
  writeFileAtomic((out / "meta.json").string(),
                  metaJson(options, threads, false, report, pairs.per_fold, pairs.notes));

  // One task per identity, handed out through an atomic counter; rows are stored per task so
  // quality.csv comes out in the same order whatever the scheduling.
  std::vector<std::string> rows(jobs.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    try {
      JpegEncoder encoder;
      for (size_t j; !failed && (j = next++) < jobs.size();) {
        rows[j] = runJob(options, out, jobs[j], encoder);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads - 1; ++t) pool.emplace_back(worker);
  worker();  // the calling thread works too
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);

  std::error_code ec;
  fs::create_directories(out / "eval", ec);
  writeFileAtomic((out / "eval" / "pairs.txt").string(), pairs.text);
  std::string csv = "split,path,label,quality,yaw,roll,scale,illumination,occlusion,blur,"
                    "jpeg_quality\n";
  for (const auto& r : rows) csv += r;
  writeFileAtomic((out / "quality.csv").string(), csv);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writeFileAtomic((out / "meta.json").string(),
                  metaJson(options, threads, true, report, pairs.per_fold, pairs.notes));
  return report;
}

}  // namespace l2face::data
