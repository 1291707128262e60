// synthesizeCorpus: option checks, output-directory safety, the per-identity thread pool with an
// ordered, bounded write-out (ImageFolder or RecordIO), and the pairs / templates / quality.csv /
// meta.json writers.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "file_util.h"
#include "ordered_pool.h"
#include "l2face/data/errors.h"
#include "l2face/data/jpeg.h"
#include "l2face/data/random.h"
#include "l2face/data/recordio.h"
#include "l2face/data/synth.h"
#include "l2face/data/synth_params.h"
#include "l2face/data/synth_render.h"
#include "synth_ijb.h"
#include "synth_pairs.h"
#include "synth_probe.h"
#include "synth_templates.h"
#include "synth_wild_corpus.h"

namespace l2face::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kGeneratorName = "l2face-synth";
// Seed streams: training and evaluation people come from different streams, so they are
// different people even for equal indices.
constexpr uint64_t kIdentityStream[2] = {0x1D7A1, 0x1D7E1};
constexpr uint64_t kImageStream[2] = {0x13A7A1, 0x13A7E1};
constexpr uint64_t kMediaStream = 0x3ED1A;  // session conditions of an evaluation media
constexpr uint64_t kProbeStream = 0x9B0BE;  // the clean photos of the probe set
constexpr const char* kSplitName[2] = {"train", "eval"};
constexpr const char* kNamePrefix[2] = {"id_", "ev_"};

std::string identityName(int split, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%06d", kNamePrefix[split], index + 1);
  return buf;
}

std::string imageName(const std::string& identity, int image) {
  char buf[24];
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
  if (o.format != "folder" && o.format != "rec") {
    fail("format must be folder or rec, got '" + o.format + "'");
  }
  if (o.templates_per_subject < 1) fail("templates_per_subject must be >= 1");
  if (!(o.difficulty >= 0.0 && o.difficulty <= 4.0)) fail("difficulty must be in [0, 4]");
  if (!std::all_of(o.ijb.begin(), o.ijb.end(), [](char c) { return std::isalnum(c) != 0; })) {
    fail("ijb must be a target name of letters and digits (e.g. IJBC), got '" + o.ijb + "'");
  }
  synth::validateWild(o);
  if (o.probe_identities < 0 || o.probe_identities > o.eval_identities) {
    fail("probe_identities must be in [0, eval_identities = " + std::to_string(o.eval_identities) +
         "], got " + std::to_string(o.probe_identities));
  }
  if (o.probe_photos < 1 || o.probe_photos > 99) {
    fail("probe_photos must be in [1, 99], got " + std::to_string(o.probe_photos));
  }
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
  static const std::set<std::string> kOwned = {
      "train",         "eval",          "quality.csv",   "meta.json",     "quality.csv.tmp",
      "meta.json.tmp", "train.rec",     "train.idx",     "property",      "train.rec.tmp",
      "train.idx.tmp", "property.tmp",  "ijb",
      "probe",         "probe.csv",     "probe.csv.tmp"};
  const auto& wild_files = synth::wildOwnedFiles();
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
    const std::string name = e.filename().string();
    const bool wild = std::find(wild_files.begin(), wild_files.end(), name) != wild_files.end();
    if (!ours || !(kOwned.count(name) || wild)) {
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
                  {"difficulty", o.difficulty},
                  {"format", o.format},
                  {"templates_per_subject", o.templates_per_subject},
                  {"ijb", o.ijb},
                  {"wild", o.wild},
                  {"landmark_noise", o.landmark_noise},
                  {"wild_render_scale", o.wild_render_scale},
                  {"probe_identities", o.probe_identities},
                  {"probe_photos", o.probe_photos}};
  j["counts"] = {{"train_identities", o.identities},
                 {"train_images", r.train_images},
                 {"eval_identities", o.eval_identities},
                 {"eval_images", r.eval_images},
                 {"folds", o.folds},
                 {"pairs_per_fold", pairs_per_fold},
                 {"pairs", r.pairs},
                 {"templates", r.templates},
                 {"template_pairs", r.template_pairs},
                 {"ijb_faces", r.ijb_faces},
                 {"probe_images", r.probe_images}};
  j["layout"] = {{"train", o.format == "rec" ? "train.rec + train.idx + property (insightface)"
                                             : "train/<id>/<id>_NNNN.jpg"},
                 {"eval", "eval/<id>/<id>_NNNN.jpg"},
                 {"pairs", "eval/pairs.txt (LFW layout)"},
                 {"templates", "eval/templates.csv, eval/template_pairs.csv (IJB-style)"},
                 {"quality", "quality.csv (yaw, roll in degrees)"}};
  if (!o.ijb.empty())
    j["layout"]["ijb"] = "ijb/loose_crop/<n>.jpg, ijb/meta/ (official IJB layout)";
  if (o.wild) {
    j["layout"]["train_list"] = "train_list.txt, train_list_true.txt (path label x1 y1 ... y5)";
  }
  if (o.probe_identities > 0) {
    j["layout"]["probe"] =
        "probe/<degradation>/<id>/<id>_pPP_lL.jpg, probe.csv (one degradation at six levels)";
  }
  j["notes"] = notes;
  j["threads"] = threads;
  j["seconds"] = r.seconds;
  return j.dump(2) + "\n";
}

struct Job {
  int split;
  int identity;
};

// What one identity's task hands to the ordered writer.
struct JobResult {
  std::string rows;                        // quality.csv lines
  std::string ijb_rows;                    // IJB faces-list lines (options.ijb)
  std::string list_rows, truth_rows;       // wild training photos: train_list(_true).txt lines
  std::vector<std::vector<uint8_t>> jpegs;  // only for RecordIO training images
};

// Renders one identity's images: writes them as files (ImageFolder) or keeps the encoded bytes
// for the ordered RecordIO writer; returns its quality.csv rows.
JobResult runJob(const SynthOptions& o, const fs::path& out, const Job& job,
                 const synth::TemplatePlan& templates, JpegEncoder& encoder) {
  const int split = job.split;
  const bool to_record = split == 0 && o.format == "rec";
  const std::string name = identityName(split, job.identity);
  const fs::path dir = out / kSplitName[split] / name;
  std::error_code ec;
  if (!to_record) {
    fs::create_directories(dir, ec);
    if (ec) throw DataError("synth: cannot create '" + dir.string() + "': " + ec.message());
  }
  const IdentityParams id =
      sampleIdentity(mixSeed(o.seed, kIdentityStream[split], static_cast<uint64_t>(job.identity)));
  const int images = split == 0 ? o.images_per_identity : o.eval_images_per_identity;
  JobResult result;
  for (int i = 0; i < images; ++i) {
    ImageParams im =
        sampleImageParams(mixSeed(o.seed, kImageStream[split], static_cast<uint64_t>(job.identity),
                                  static_cast<uint64_t>(i)),
                          id, o.difficulty);
    if (split == 1) {
      // Photos of one media share the session: lighting, exposure, white balance and scene.
      const int media = templates.media_of[job.identity][i];
      const ImageParams session =
          sampleImageParams(mixSeed(o.seed, kMediaStream, static_cast<uint64_t>(media)), id,
                            o.difficulty);
      im.light_x = session.light_x, im.light_y = session.light_y;
      im.light_strength = session.light_strength, im.gain = session.gain;
      im.tint = session.tint, im.background = session.background, im.clothes = session.clothes;
      im.background_gradient = session.background_gradient;
      im.background_angle = session.background_angle;
    }
    const std::string file = imageName(name, i);
    std::string path;
    std::vector<uint8_t> jpeg;
    if (split == 0 && o.wild) {
      path = std::string(kSplitName[split]) + "/" + name + "/" + file;
      synth::WildPhoto w = synth::renderWildPhoto(o, id, im, job.identity, i, path, encoder);
      jpeg = std::move(w.jpeg);
      result.list_rows += w.list_line;
      result.truth_rows += w.truth_line;
    } else {
      const std::vector<uint8_t> rgb = renderFace(id, im, o.size);
      jpeg = encoder.encode(rgb.data(), o.size, o.size, im.jpeg_quality);
      if (split == 1 && !o.ijb.empty()) {
        result.ijb_rows +=
            synth::writeIjbFace(rgb, o.size, qualityScore(im), o.difficulty, o.seed, job.identity,
                                i, images, im.jpeg_quality, out / "ijb", encoder);
      }
    }
    if (to_record) {
      path = "train.rec#" + std::to_string(int64_t{job.identity} * o.images_per_identity + i + 1);
      result.jpegs.push_back(std::move(jpeg));
    } else {
      writeFile((dir / file).string(), jpeg.data(), jpeg.size());
      path = std::string(kSplitName[split]) + "/" + name + "/" + file;
    }
    char line[512];
    std::snprintf(line, sizeof line, "%s,%s,%d,%.4f,%.2f,%.2f,%.4f,%.4f,%s,%.3f,%d\n",
                  kSplitName[split], path.c_str(), job.identity, qualityScore(im),
                  im.yaw * 57.29578, im.roll * 57.29578, im.scale, im.light_strength,
                  occlusionName(im.occlusion), effectiveBlur(im), im.jpeg_quality);
    result.rows += line;
  }
  return result;
}

// Receives job results in job order: quality.csv rows and RecordIO images. Called under the
// pool's lock, one job at a time.
class OrderedSink {
 public:
  OrderedSink(const SynthOptions& o, const fs::path& out) : options_(o), out_(out) {
    quality_tmp_ = (out / "quality.csv.tmp").string();
    quality_ = std::fopen(quality_tmp_.c_str(), "wb");
    if (!quality_) throw DataError("synth: cannot create '" + quality_tmp_ + "'");
    write("split,path,label,quality,yaw,roll,scale,illumination,occlusion,blur,jpeg_quality\n");
    if (o.format == "rec") {
      records_ = std::make_unique<FaceRecordWriter>((out / "train.rec").string(), o.size, o.size);
    }
    if (o.wild) wild_lists_ = std::make_unique<synth::WildListWriter>(out);
  }
  ~OrderedSink() {
    if (quality_) std::fclose(quality_);
  }

  void consume(const Job& job, const JobResult& r) {
    write(r.rows);
    ijb_rows_ += r.ijb_rows;
    for (const auto& jpeg : r.jpegs) records_->add(job.identity, jpeg.data(), jpeg.size());
    if (wild_lists_) wild_lists_->write(r.list_rows, r.truth_rows);
  }

  const std::string& ijbRows() const { return ijb_rows_; }

  void finish() {
    if (records_) records_->finish(options_.identities);
    if (wild_lists_) wild_lists_->finish();
    const bool ok = std::fflush(quality_) == 0 && ::fsync(::fileno(quality_)) == 0;
    const bool closed = std::fclose(quality_) == 0;
    quality_ = nullptr;
    if (!ok || !closed) throw DataError("synth: write failed on '" + quality_tmp_ + "' (disk full?)");
    std::error_code ec;
    fs::rename(quality_tmp_, out_ / "quality.csv", ec);
    if (ec) throw DataError("synth: cannot rename '" + quality_tmp_ + "': " + ec.message());
  }

 private:
  void write(const std::string& text) {
    if (std::fwrite(text.data(), 1, text.size(), quality_) != text.size()) {
      throw DataError("synth: write failed on '" + quality_tmp_ + "' (disk full?)");
    }
  }

  const SynthOptions& options_;
  fs::path out_;
  std::string quality_tmp_;
  FILE* quality_ = nullptr;
  std::unique_ptr<FaceRecordWriter> records_;
  std::string ijb_rows_;
  std::unique_ptr<synth::WildListWriter> wild_lists_;
};

// With options.ijb: the folders of the official IJB layout, before the images are written.
void startIjb(const SynthOptions& o, const fs::path& out) {
  if (o.ijb.empty()) return;
  std::error_code ec;
  fs::create_directories(out / "ijb" / "loose_crop", ec);
  if (ec) throw DataError("synth: cannot create '" + (out / "ijb").string() + "': " + ec.message());
}

// With options.ijb: its meta/ lists, once every image's landmark line is known.
void finishIjb(const SynthOptions& o, const fs::path& out, const synth::TemplatePlan& templates,
               const std::string& face_rows, SynthReport& report, std::vector<std::string>& notes) {
  if (o.ijb.empty()) return;
  const synth::IjbMetaCounts ijb = synth::writeIjbMeta(
      out / "ijb", o.ijb, templates, o.eval_identities, o.eval_images_per_identity, face_rows);
  report.ijb_faces = report.eval_images;
  for (const auto& note : ijb.notes) std::cerr << "note: synth: " << note << "\n";
  notes.insert(notes.end(), ijb.notes.begin(), ijb.notes.end());
}

// The probe set (options.probe_identities): its images, then probe.csv in identity order.
void writeProbeSet(const SynthOptions& o, const fs::path& out, int threads, SynthReport& report) {
  if (o.probe_identities == 0) return;
  std::string csv = synth::kProbeCsvHeader;
  std::vector<JpegEncoder> encoders(static_cast<size_t>(threads));
  runOrdered<std::string>(
      static_cast<size_t>(o.probe_identities), threads, static_cast<size_t>(threads) * 4,
      [&](size_t j, int w) {
        const int i = static_cast<int>(j);
        const IdentityParams id =
            sampleIdentity(mixSeed(o.seed, kIdentityStream[1], static_cast<uint64_t>(i)));
        return synth::writeProbes(o, out, id, identityName(1, i), i, kProbeStream, encoders[w]);
      },
      [&](size_t, const std::string& rows) { csv += rows; });
  writeFileAtomic((out / "probe.csv").string(), csv);
  report.probe_images = int64_t{o.probe_identities} * o.probe_photos *
                        static_cast<int64_t>(synth::probeSeries().size()) * 6;
}

}  // namespace

SynthReport synthesizeCorpus(const SynthOptions& options) {
  validate(options);
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path out(options.out);
  prepareOutput(out);

  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::thread::hardware_concurrency());
  const size_t num_jobs = static_cast<size_t>(options.identities) + options.eval_identities;
  auto jobAt = [&](size_t j) {
    return j < static_cast<size_t>(options.identities)
               ? Job{0, static_cast<int>(j)}
               : Job{1, static_cast<int>(j - options.identities)};
  };
  threads = std::clamp(threads, 1, static_cast<int>(num_jobs));

  SynthReport report;
  report.train_images = int64_t{options.identities} * options.images_per_identity;
  report.eval_images = int64_t{options.eval_identities} * options.eval_images_per_identity;
  const synth::PairList pairs = synth::makePairs(
      options.eval_identities, options.eval_images_per_identity, options.folds,
      options.pairs_per_fold, options.seed, [](int i) { return identityName(1, i); });
  report.pairs = int64_t{pairs.folds} * pairs.per_fold * 2;
  const synth::TemplatePlan templates = synth::makeTemplates(
      options.eval_identities, options.eval_images_per_identity, options.templates_per_subject,
      options.seed, [](int s, int i) {
        const std::string name = identityName(1, s);
        return name + "/" + imageName(name, i);
      });
  report.templates = templates.templates;
  report.template_pairs = templates.genuine + templates.impostor;
  std::vector<std::string> notes = pairs.notes;
  notes.insert(notes.end(), templates.notes.begin(), templates.notes.end());
  for (const auto& note : notes) std::cerr << "note: synth: " << note << "\n";
  writeFileAtomic((out / "meta.json").string(),
                  metaJson(options, threads, false, report, pairs.per_fold, notes));

  // One task per identity, written in job order; no task starts more than 4 × threads ahead of
  // the writer, so memory stays bounded whatever the corpus size.
  startIjb(options, out);
  OrderedSink sink(options, out);
  std::vector<JpegEncoder> encoders(static_cast<size_t>(threads));
  runOrdered<JobResult>(
      num_jobs, threads, static_cast<size_t>(threads) * 4,
      [&](size_t j, int w) { return runJob(options, out, jobAt(j), templates, encoders[w]); },
      [&](size_t j, const JobResult& r) { sink.consume(jobAt(j), r); });
  sink.finish();

  std::error_code ec;
  fs::create_directories(out / "eval", ec);
  writeFileAtomic((out / "eval" / "pairs.txt").string(), pairs.text);
  writeFileAtomic((out / "eval" / "templates.csv").string(), templates.templates_csv);
  writeFileAtomic((out / "eval" / "template_pairs.csv").string(), templates.pairs_csv);
  finishIjb(options, out, templates, sink.ijbRows(), report, notes);
  writeProbeSet(options, out, threads, report);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writeFileAtomic((out / "meta.json").string(),
                  metaJson(options, threads, true, report, pairs.per_fold, notes));
  return report;
}

}  // namespace l2face::data
