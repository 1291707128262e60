// eval: verification of a checkpoint on pairs, .bin, template, all-vs-all and official IJB sets
// (one process, or sharded over the ranks of mpirun); of a scores CSV from any system; or a
// comparison of saved reports. Tables, JSON, ROC CSV and an ROC plot.
#include <cctype>
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "eval_job.h"
#include "face_embedder.h"
#include "l2face/data/jpeg.h"
#include "l2face/eval/compare.h"
#include "l2face/eval/errors.h"
#include "l2face/eval/ijb.h"
#include "l2face/eval/metrics.h"
#include "l2face/eval/plot.h"
#include "l2face/eval/suite.h"
#include "l2face/eval/verification.h"
#include "l2face/launch/internal/config.h"
#include "l2face/trainer/device_info.h"
#include "l2face/trainer/embedding_model.h"
#include "l2face/trainer/file_embedder.h"

namespace fs = std::filesystem;

namespace l2face::launch {
namespace {

struct EvalArgs {
  std::string checkpoint;
  std::string config;
  std::string pairs;
  std::string images;
  std::vector<std::string> bins;
  std::string templates;
  std::string template_pairs;
  std::string all_vs_all;
  std::string ijb;
  std::string target = "IJBC";
  std::vector<double> fpir = {0.01, 0.1};
  std::string save_features;
  bool media_pool = false;
  std::string scores;
  std::vector<std::string> compare;
  std::string out;
  std::string roc_csv;
  std::string save_scores;
  std::string plot;
  std::string device = "auto";
  std::vector<double> far;
  int folds = 10;
  int batch_size = 128;
  int threads = 0;
  bool no_flip = false;
  // Which options were given (so a flag overrides the config file only when present).
  CLI::Option* far_opt = nullptr;
  CLI::Option* folds_opt = nullptr;
  CLI::Option* batch_opt = nullptr;
  CLI::Option* media_opt = nullptr;
};

// `path` with "_<set name>" before its extension: one file per set when a run has several.
std::string perSet(const std::string& path, const std::string& set, size_t sets) {
  if (sets == 1) return path;
  std::string safe;
  for (char c : set)
    safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  const fs::path p(path);
  return (p.parent_path() / (p.stem().string() + "_" + safe + p.extension().string())).string();
}

// Writes the SVG and, where a converter is installed, a PNG beside it.
void writePlot(const std::string& svg_path, const std::vector<eval::RocSeries>& series,
               const std::string& title) {
  eval::writeTextFile(svg_path, eval::rocSvg(series, title));
  std::cout << "plot: " << svg_path;
  const std::string png = (fs::path(svg_path).replace_extension(".png")).string();
  const std::string tool = eval::svgToPng(svg_path, png);
  if (tool.empty()) {
    std::cout << " (no PNG: neither rsvg-convert nor ImageMagick is installed)\n";
  } else {
    std::cout << " and " << png << " (" << tool << ")\n";
  }
}

// Everything a finished run writes besides the console table.
void writeOutputs(const EvalArgs& a, const std::vector<eval::VerificationReport>& reports,
                  const std::string& out, const std::string& title) {
  if (!out.empty()) {
    eval::writeTextFile(
        out, reports.size() == 1 ? eval::reportJson(reports[0]) : eval::reportsJson(reports));
    std::cout << "report: " << out << "\n";
  }
  for (const auto& r : reports) {
    if (!a.roc_csv.empty()) {
      const std::string path = perSet(a.roc_csv, r.name, reports.size());
      eval::writeRocCsv(path, r.scores, r.labels);
      std::cout << "roc: " << path << "\n";
    }
    if (!a.save_scores.empty()) {
      const std::string path = perSet(a.save_scores, r.name, reports.size());
      eval::writeScoresCsv(path, r.scores, r.labels);
      std::cout << "scores: " << path << "\n";
    }
  }
  if (!a.plot.empty()) {
    std::vector<eval::RocSeries> series;
    for (const auto& r : reports) series.push_back(eval::seriesOf(r, r.name));
    writePlot(a.plot, series, title);
  }
}

int evalCompare(const EvalArgs& a) {
  std::vector<eval::SavedReport> saved;
  for (const std::string& path : a.compare) {
    for (auto& s : eval::readReportJson(path)) saved.push_back(std::move(s));
  }
  std::cout << eval::compareTable(saved);
  if (!a.plot.empty()) {
    std::vector<eval::RocSeries> series;
    for (const auto& s : saved) series.push_back(eval::seriesOf(s));
    writePlot(a.plot, series, "ROC comparison");
  }
  return kExitOk;
}

int evalScores(const EvalArgs& a) {
  const auto rows = eval::readScoresCsv(a.scores);
  std::vector<double> scores;
  std::vector<int> labels;
  for (const auto& [label, score] : rows) {
    labels.push_back(label);
    scores.push_back(score);
  }
  const std::vector<double> far = a.far_opt->count() ? a.far : eval::EvalOptions{}.far;
  const auto r = eval::reportFromScores(std::move(scores), std::move(labels), a.folds, far,
                                        fs::path(a.scores).filename().string());
  std::cout << eval::reportTable(r);
  writeOutputs(a, {r}, a.out, "ROC: " + r.name);
  return kExitOk;
}

// The eval options of the run: the config file's (or the defaults), then the flags given.
eval::EvalOptions evalOptions(const EvalArgs& a) {
  eval::EvalOptions o = a.config.empty() ? eval::EvalOptions{} : loadConfig(a.config, {}).eval;
  const bool sets_on_command_line =
      !a.pairs.empty() || !a.bins.empty() || !a.templates.empty() || !a.all_vs_all.empty();
  if (sets_on_command_line) {  // the command line names the sets: the file's are not added
    o.pairs = a.pairs;
    o.bins.clear();
    for (const auto& b : a.bins) o.bins += (o.bins.empty() ? "" : ",") + b;
    o.templates = a.templates;
    o.template_pairs = a.template_pairs;
    o.all_vs_all = a.all_vs_all;
  }
  if (!a.images.empty()) o.images = a.images;
  if (a.media_opt->count()) o.media_pool = true;
  if (a.no_flip) o.flip = false;
  if (a.far_opt->count()) o.far = a.far;
  if (a.folds_opt->count()) o.folds = a.folds;
  if (a.batch_opt->count()) o.batch_size = a.batch_size;
  return o;
}

// Decodes encoded images (a .bin's JPEGs) to the model's input size and embeds them.
eval::BytesEmbedder modelBytesEmbedder(trainer::EmbeddingModel& model, bool flip) {
  return trainer::bytesEmbedder(
      [&model, flip](const uint8_t* nhwc, int n, float* out) { model.embed(nhwc, n, flip, out); },
      model.inputSize(), model.dim());
}

void checkModelArguments(const EvalArgs& a, const eval::EvalOptions& o) {
  if (a.checkpoint.empty()) {
    throw std::invalid_argument(
        "eval needs --checkpoint with --pairs, --bin, --templates, --all-vs-all or --ijb (or a "
        "--config naming them); or --scores FILE; or --compare A.json B.json");
  }
  if (o.pairs.empty() && o.bins.empty() && o.templates.empty() && o.all_vs_all.empty() &&
      a.ijb.empty()) {
    throw std::invalid_argument(
        "eval --checkpoint needs a set: --pairs, --bin, --templates, --all-vs-all or --ijb");
  }
  if (!a.template_pairs.empty() && o.templates.empty()) {
    throw std::invalid_argument("--template-pairs needs --templates");
  }
  if (!a.save_features.empty() && a.ijb.empty()) {
    throw std::invalid_argument("--save-features writes the faces of --ijb: give --ijb");
  }
}

// An IJB set's input errors (meta files, crops, landmarks) are usage errors: exit 2.
template <typename F>
auto ijbInput(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const eval::EvalError& e) {
    throw std::invalid_argument(std::string("IJB input: ") + e.what());
  }
}

// Embeds the IJB faces (this rank's share) and, on the leader, scores them.
eval::VerificationReport runIjb(const EvalArgs& a, const eval::EvalOptions& o,
                                const eval::IjbSet& set, trainer::EmbeddingModel& model,
                                const EvalJob& job) {
  const eval::FaceEmbedder faces = alignedFaceEmbedder(
      [&](const uint8_t* nhwc, int n, float* out) { model.embed(nhwc, n, o.flip, out); },
      model.inputSize(), model.dim());
  const std::vector<float> features = ijbInput(
      [&] { return eval::embedIjbFaces(set, faces, model.dim(), o.batch_size, job.shards); });
  if (!job.leader()) return {};
  if (!a.save_features.empty()) {
    eval::writeNpy(a.save_features, features, set.faces.size(), model.dim());
    std::cout << "features: " << a.save_features << "\n";
  }
  return eval::scoreIjb(set, features, model.dim(), o.far, a.fpir, set.target);
}

int evalModel(const EvalArgs& a) {
  const eval::EvalOptions o = evalOptions(a);
  checkModelArguments(a, o);
  const EvalJob job = makeEvalJob();
  // The same count in every rank, whatever the launcher: CPU features depend on it.
  const int threads = trainer::setComputeThreads(a.threads);
  auto model = trainer::EmbeddingModel::load(a.checkpoint, a.device);
  // Every set is read before any is embedded: a malformed file fails before the slow part.
  const eval::EvalSuite suite(o);
  std::unique_ptr<eval::IjbSet> ijb;
  if (!a.ijb.empty()) {
    ijb = ijbInput(
        [&] { return std::make_unique<eval::IjbSet>(eval::readIjb(a.ijb, a.target, o.folds)); });
  }
  if (job.leader()) {
    std::cout << "checkpoint " << model->checkpointDir() << " (step " << model->step() << ")";
    if (job.ctx.world_size > 1) std::cout << ", " << job.ctx.world_size << " ranks";
    std::cout << "\n";
  }
  std::vector<eval::VerificationReport> reports;
  if (!suite.empty()) {
    const eval::Embedder files = trainer::fileEmbedder(
        [&](const uint8_t* nhwc, int n, float* out) { model->embed(nhwc, n, o.flip, out); },
        model->inputSize(), model->dim());
    reports = suite.run(files, suite.needsBytes() ? modelBytesEmbedder(*model, o.flip) : nullptr,
                        model->dim(), job.shards, threads);
  }
  if (ijb) reports.push_back(runIjb(a, o, *ijb, *model, job));
  if (!job.leader()) return kExitOk;  // rank 0 reports
  for (const auto& r : reports) std::cout << eval::reportTable(r);
  const std::string out =
      a.out.empty() ? (fs::path(model->checkpointDir()) / "eval.json").string() : a.out;
  writeOutputs(
      a, reports, out,
      "ROC: step " + std::to_string(model->step()) + " of " +
          fs::path(model->checkpointDir()).parent_path().parent_path().filename().string());
  return kExitOk;
}

int runEval(const EvalArgs& a) {
  const bool model_mode = !a.checkpoint.empty() || !a.config.empty() || !a.pairs.empty() ||
                          !a.bins.empty() || !a.templates.empty() || !a.all_vs_all.empty() ||
                          !a.ijb.empty();
  if (!a.compare.empty()) {
    if (model_mode || !a.scores.empty() || !a.out.empty() || !a.roc_csv.empty() ||
        !a.save_scores.empty()) {
      throw std::invalid_argument("--compare takes saved reports and --plot only");
    }
    return evalCompare(a);
  }
  if (!a.scores.empty()) {
    if (model_mode) throw std::invalid_argument("--scores evaluates a CSV: no model or sets");
    return evalScores(a);
  }
  return evalModel(a);
}

}  // namespace

void addEvalCommands(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<EvalArgs>();
  auto* e = app.add_subcommand(
      "eval",
      "Face verification (pairs, .bin sets, IJB-style templates, all-vs-all over an image "
      "folder, official IJB 1:1 and 1:N, scores; compare runs); under mpirun the ranks share the "
      "embedding");
  e->add_option("--checkpoint", a->checkpoint, "Checkpoint directory, or a run directory (newest)");
  e->add_option("--config", a->config, "Take the sets and settings of this config's eval section")
      ->check(CLI::ExistingFile);
  e->add_option("--pairs", a->pairs, "Pairs file (LFW pairs.txt layout or 'path1 path2 label')");
  e->add_option("--images", a->images,
                "Image root of the pairs (default: the pairs file's folder)");
  e->add_option("--bin", a->bins, "insightface .bin set(s): lfw.bin,cfp_fp.bin (repeatable)")
      ->delimiter(',');
  e->add_option("--templates", a->templates, "templates.csv, or the folder holding it");
  e->add_option("--template-pairs", a->template_pairs,
                "Template pairs CSV (default: template_pairs.csv beside the templates)");
  e->add_option("--all-vs-all", a->all_vs_all,
                "ImageFolder tree DIR/<identity>/*.jpg: every pair of its images, genuine within "
                "a folder (at most 100M comparisons: 14,142 images)");
  e->add_option("--ijb", a->ijb,
                "Official IJB layout: the folder holding meta/ and loose_crop/ (1:1 and 1:N)");
  e->add_option("--target", a->target, "IJB target naming the meta files: IJBC (default), IJBB")
      ->check(CLI::IsMember({"IJBC", "IJBB", "ijbc", "ijbb"}));
  e->add_option("--fpir", a->fpir, "IJB 1:N: FPIRs at which to report TPIR (default 0.01,0.1)")
      ->delimiter(',')
      ->check(CLI::Range(1e-12, 0.999999));
  e->add_option("--save-features", a->save_features,
                "IJB: write each face's feature (f(crop) + f(mirror), before weighting) as .npy");
  a->media_opt = e->add_flag("--media-pool", a->media_pool,
                             "Templates: average features within each media first (IJB)");
  e->add_option("--scores", a->scores, "Instead of a model: CSV of label,score to evaluate");
  e->add_option("--compare", a->compare, "Compare saved JSON reports (tables; --plot overlays)")
      ->expected(1, -1);
  e->add_option("--out", a->out, "Write the JSON report here (default: beside the checkpoint)");
  e->add_option("--roc-csv", a->roc_csv, "Write the ROC as CSV far,tar,threshold (per set)");
  e->add_option("--save-scores", a->save_scores,
                "Write each pair's label,score as CSV (per set; the input of --scores)");
  e->add_option("--plot", a->plot, "Write the ROC plot as SVG (and PNG where a converter exists)");
  a->far_opt = e->add_option("--far", a->far, "FARs at which to report TAR (default 1e-6..1e-1)")
                   ->delimiter(',')
                   ->check(CLI::Range(1e-12, 1.0));
  a->folds_opt = e->add_option("--folds", a->folds,
                               "Folds of .bin, plain-list, template and score "
                               "sets (contiguous); all-vs-all: folds of identities")
                     ->check(CLI::Range(2, 1000));
  a->batch_opt = e->add_option("--batch-size", a->batch_size, "Embedding batch size")
                     ->check(CLI::Range(1, 65536));
  e->add_option("--threads", a->threads,
                "CPU threads of each process (0 = the host's cores; the same under mpirun, so "
                "ranks compute what one process computes); also the all-vs-all scoring's")
      ->check(CLI::Range(0, 4096));
  e->add_option("--device", a->device, "auto | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  e->add_flag("--no-flip", a->no_flip, "Do not add the mirrored image's embedding");
  out.push_back({e, [a] { return runEval(*a); }});
}

}  // namespace l2face::launch
