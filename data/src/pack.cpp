// packDataset: inputs (ImageFolder or list file), the per-photo decode / align / encode step, the
// in-order shard writer in a staging directory, and the move into place.
#include "l2face/data/pack.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "file_util.h"
#include "l2face/data/dataset.h"
#include "l2face/data/errors.h"
#include "l2face/data/image_ops.h"
#include "l2face/data/jpeg.h"
#include "l2face/data/recordio.h"
#include "ordered_pool.h"
#include "pack_internal.h"

namespace l2face::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kToolName = "l2face-pack";
constexpr const char* kStaging = ".pack-staging";

void validate(const PackOptions& o) {
  auto fail = [](const std::string& m) { throw std::invalid_argument("pack: " + m); };
  if (o.input.empty()) fail("--input is empty");
  if (o.out.empty()) fail("--out is empty");
  if (o.size < 16 || o.size > 1024) fail("--size must be in [16, 1024]");
  if (o.quality < 1 || o.quality > 100) fail("--quality must be in [1, 100]");
  if (o.shard_images < 0 || o.shard_bytes < 0) fail("shard limits must be >= 0");
  if (o.threads < 0) fail("--threads must be >= 0 (0 = all cores)");
  if (o.min_size < 1) fail("--min-size must be >= 1");
  std::error_code ec;
  if (!fs::exists(o.input, ec)) fail("input '" + o.input + "' does not exist");
}

std::vector<PackEntry> folderEntries(const std::string& root, int& classes) {
  const ImageFolderDataset folder(root);
  classes = folder.numClasses();
  std::vector<PackEntry> entries(folder.size());
  for (size_t i = 0; i < folder.size(); ++i) {
    entries[i].path = folder.path(i);
    // path(i) is root, '/' unless root ends with one, then "<class>/<file>".
    const size_t cut = folder.root().size() + (folder.root().back() == '/' ? 0 : 1);
    entries[i].file = entries[i].path.substr(cut);
    entries[i].label = folder.label(i);
  }
  return entries;
}

// The true landmarks of every entry, from a list with the same files in the same order.
std::vector<FivePoints> truthPoints(const std::string& truth, const std::vector<PackEntry>& e,
                                    const std::string& root) {
  const std::vector<PackEntry> t = parsePackList(truth, root);
  if (t.size() != e.size()) {
    throw std::invalid_argument("pack: --truth '" + truth + "' has " + std::to_string(t.size()) +
                                " lines, the input " + std::to_string(e.size()));
  }
  std::vector<FivePoints> points(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].file != e[i].file || !t[i].has_points) {
      throw std::invalid_argument(truth + ":" + std::to_string(t[i].line) +
                                  ": expected the landmarks of '" + e[i].file + "'");
    }
    points[i] = t[i].points;
  }
  return points;
}

// Makes `out` an empty directory: absent, empty, or a previous pack output (whose files only are
// removed). Returns whether it was created.
bool prepareOutput(const fs::path& out) {
  std::error_code ec;
  if (!fs::exists(out, ec)) {
    fs::create_directories(out, ec);
    if (ec) throw DataError("pack: cannot create '" + out.string() + "': " + ec.message());
    return true;
  }
  if (!fs::is_directory(out, ec)) {
    throw DataError("pack: '" + out.string() + "' exists and is not a directory");
  }
  static const std::regex kOwned(
      R"(train(_[0-9]+)?\.(rec|idx)(\.tmp)?|property(\.tmp)?|pack_report\.json(\.tmp)?|\.pack-staging)");
  bool ours = false;
  try {
    std::vector<uint8_t> bytes;
    readFile((out / "pack_report.json").string(), bytes);
    ours = nlohmann::json::parse(bytes.begin(), bytes.end()).value("generator", "") == kToolName;
  } catch (const std::exception&) {
    ours = false;
  }
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(out, ec)) entries.push_back(e.path());
  for (const auto& e : entries) {
    if (!ours || !std::regex_match(e.filename().string(), kOwned)) {
      throw DataError("pack: refusing to write into '" + out.string() + "': it is not empty and " +
                      "not a previous pack output (found '" + e.filename().string() +
                      "'); choose a new or empty directory");
    }
  }
  for (const auto& e : entries) fs::remove_all(e, ec);
  return false;
}

// Removes the staging directory, and `out` when this run created it and it is still empty,
// unless commit() was called.
class OutputGuard {
 public:
  OutputGuard(fs::path out, bool created) : out_(std::move(out)), created_(created) {}
  ~OutputGuard() {
    std::error_code ec;
    fs::remove_all(out_ / kStaging, ec);
    if (!committed_ && created_ && fs::is_empty(out_, ec)) fs::remove(out_, ec);
  }
  void commit() { committed_ = true; }

 private:
  fs::path out_;
  bool created_;
  bool committed_ = false;
};

// Consumes processed photos in input order: shards in the staging directory, counts, skips.
class ShardSink {
 public:
  ShardSink(const PackOptions& o, fs::path staging, int classes, PackReport& report)
      : options_(o), staging_(std::move(staging)), classes_(classes), report_(report) {}

  void consume(const PackEntry& e, const PackItem& item, const FivePoints* truth) {
    if (!item.skip.empty()) {
      report_.skipped.push_back({e.file, e.line, item.skip});
      return;
    }
    if (!writer_ || shardFull(item.jpeg.size())) startShard();
    writer_->add(e.label, item.jpeg.data(), item.jpeg.size());
    ++shard_images_;
    ++report_.packed;
    (item.aligned ? report_.aligned : report_.centre_cropped) += 1;
    if (truth && item.aligned) {
      const double r =
          alignmentRms(item.transform, truth->data(), arcFaceTemplate(options_.size).data(), 5);
      truth_sq_ += r * r;
    }
  }

  void finish() {
    if (writer_) writer_->finish(classes_);
    writer_.reset();
    if (report_.aligned > 0 && !options_.truth.empty()) {
      report_.landmark_rms = std::sqrt(truth_sq_ / static_cast<double>(report_.aligned));
    }
  }

 private:
  bool shardFull(size_t jpeg_bytes) const {
    if (shard_images_ == 0) return false;
    if (options_.shard_images > 0 && shard_images_ >= options_.shard_images) return true;
    const uint64_t framed = (8 + kIRHeaderBytes + jpeg_bytes + 3) & ~size_t{3};
    return options_.shard_bytes > 0 &&
           writer_->bytesWritten() + framed > static_cast<uint64_t>(options_.shard_bytes);
  }

  void startShard() {
    if (writer_) writer_->finish(classes_);
    const bool sharded = options_.shard_images > 0 || options_.shard_bytes > 0;
    char name[32];
    std::snprintf(name, sizeof name, "train_%03zu.rec", report_.shards.size());
    report_.shards.push_back(sharded ? name : "train.rec");
    writer_ = std::make_unique<FaceRecordWriter>((staging_ / report_.shards.back()).string(),
                                                 options_.size, options_.size);
    shard_images_ = 0;
  }

  const PackOptions& options_;
  fs::path staging_;
  int classes_;
  PackReport& report_;
  std::unique_ptr<FaceRecordWriter> writer_;
  int64_t shard_images_ = 0;
  double truth_sq_ = 0.0;
};

void moveIntoPlace(const fs::path& staging, const fs::path& out,
                   const std::vector<std::string>& shards) {
  std::vector<std::string> names{"property"};
  for (const auto& s : shards) {
    names.push_back(s);
    names.push_back(fs::path(idxPathFor(s)).filename().string());
  }
  for (const auto& n : names) {
    std::error_code ec;
    fs::rename(staging / n, out / n, ec);
    if (ec) throw DataError("pack: cannot move '" + (staging / n).string() + "': " + ec.message());
  }
}

struct Inputs {
  std::vector<PackEntry> entries;
  std::vector<FivePoints> truth;  // empty, or one per entry
  std::vector<size_t> order;      // entries stably sorted by label
  int classes = 0;
};

Inputs readInputs(const PackOptions& o) {
  Inputs in;
  std::error_code ec;
  if (fs::is_directory(o.input, ec)) {
    in.entries = folderEntries(o.input, in.classes);
  } else {
    in.entries = parsePackList(o.input, o.root);
    for (const auto& e : in.entries) in.classes = std::max(in.classes, e.label + 1);
  }
  if (!o.truth.empty()) in.truth = truthPoints(o.truth, in.entries, o.root);
  in.order.resize(in.entries.size());
  std::iota(in.order.begin(), in.order.end(), size_t{0});
  std::stable_sort(in.order.begin(), in.order.end(),
                   [&](size_t a, size_t b) { return in.entries[a].label < in.entries[b].label; });
  return in;
}

}  // namespace

PackReport packDataset(const PackOptions& options,
                       const std::function<void(const PackProgress&)>& progress) {
  validate(options);
  const auto t0 = std::chrono::steady_clock::now();
  const Inputs in = readInputs(options);
  const fs::path out(options.out), staging = out / kStaging;
  OutputGuard guard(out, prepareOutput(out));
  std::error_code ec;
  fs::create_directories(staging, ec);
  if (ec) throw DataError("pack: cannot create '" + staging.string() + "': " + ec.message());

  PackReport report;
  report.inputs = static_cast<int64_t>(in.entries.size());
  report.classes = in.classes;
  const int threads = std::clamp(
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency()),
      1, 256);
  std::vector<PhotoWorker> workers(static_cast<size_t>(threads));
  ShardSink sink(options, staging, in.classes, report);
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  runOrdered<PackItem>(
      in.order.size(), threads, static_cast<size_t>(threads) * 8,
      [&](size_t j, int w) { return workers[w].process(in.entries[in.order[j]], options); },
      [&](size_t j, const PackItem& item) {
        const size_t i = in.order[j];
        sink.consume(in.entries[i], item, in.truth.empty() ? nullptr : &in.truth[i]);
        if (progress) progress({static_cast<int64_t>(j) + 1, report.inputs, seconds()});
      });
  sink.finish();
  std::stable_sort(report.skipped.begin(), report.skipped.end(),
                   [](const PackSkip& a, const PackSkip& b) { return a.line < b.line; });
  if (report.packed == 0) {
    throw DataError("pack: no image could be packed (" + std::to_string(report.skipped.size()) +
                    " skipped; the first: '" + report.skipped.front().file +
                    "': " + report.skipped.front().reason + ")");
  }
  if (!options.reference.empty()) compareWithReference(options, staging.string(), report);
  moveIntoPlace(staging, out, report.shards);
  report.seconds = seconds();
  writeFileAtomic((out / "pack_report.json").string(), packReportJson(options, report));
  guard.commit();
  return report;
}

std::string packReportJson(const PackOptions& o, const PackReport& r) {
  nlohmann::ordered_json j;
  j["generator"] = kToolName;
  j["input"] = o.input;
  j["options"] = {{"size", o.size},
                  {"quality", o.quality},
                  {"shard_images", o.shard_images},
                  {"shard_bytes", o.shard_bytes},
                  {"min_size", o.min_size},
                  {"root", o.root}};
  j["counts"] = {{"inputs", r.inputs},          {"packed", r.packed},
                 {"aligned", r.aligned},        {"centre_cropped", r.centre_cropped},
                 {"skipped", r.skipped.size()}, {"classes", r.classes}};
  j["shards"] = r.shards;
  j["skipped"] = nlohmann::ordered_json::array();
  for (const auto& s : r.skipped) {
    j["skipped"].push_back({{"file", s.file}, {"line", s.line}, {"reason", s.reason}});
  }
  if (r.compared) {
    j["reference"] = {{"spec", o.reference},
                      {"mean_abs_error", r.mean_abs_error},
                      {"max_image_abs_error", r.max_image_abs_error}};
  }
  if (r.landmark_rms >= 0) j["landmark_rms"] = r.landmark_rms;
  j["seconds"] = r.seconds;
  return j.dump(2) + "\n";
}

}  // namespace l2face::data
