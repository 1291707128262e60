// eval: verification of a checkpoint on a pairs file, or of a scores CSV from any system.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "l2face/eval/metrics.h"
#include "l2face/eval/pairs.h"
#include "l2face/eval/verification.h"
#include "l2face/trainer/embedding_model.h"
#include "l2face/trainer/file_embedder.h"

namespace fs = std::filesystem;

namespace l2face::launch {
namespace {

struct EvalArgs {
  std::string checkpoint;
  std::string pairs;
  std::string images;
  std::string scores;
  std::string out;
  std::string device = "auto";
  std::vector<double> far = {1e-3, 1e-2};
  int batch_size = 128;
  bool no_flip = false;
};

void writeReport(const std::string& path, const std::string& json) {
  std::ofstream out(path, std::ios::trunc);
  out << json;
  if (!out) throw std::runtime_error("cannot write " + path);
}

int evalScores(const EvalArgs& a) {
  auto rows = eval::readScoresCsv(a.scores);
  std::vector<double> scores;
  std::vector<int> labels, folds;
  for (size_t i = 0; i < rows.size(); ++i) {
    labels.push_back(rows[i].first);
    scores.push_back(rows[i].second);
    folds.push_back(static_cast<int>(i * 10 / rows.size()));  // 10 contiguous folds
  }
  eval::VerificationReport r;
  r.name = fs::path(a.scores).filename().string();
  r.pairs = static_cast<int64_t>(rows.size());
  r.metrics = eval::computeMetrics(scores, labels, folds, a.far);
  std::cout << eval::reportTable(r);
  if (!a.out.empty()) writeReport(a.out, eval::reportJson(r));
  return kExitOk;
}

int runEval(const EvalArgs& a) {
  if (!a.scores.empty()) return evalScores(a);
  if (a.checkpoint.empty() || a.pairs.empty()) {
    throw std::invalid_argument("eval needs --checkpoint and --pairs (or --scores FILE)");
  }
  auto model = trainer::EmbeddingModel::load(a.checkpoint, a.device);
  std::string root = a.images.empty() ? fs::path(a.pairs).parent_path().string() : a.images;
  std::vector<eval::Pair> pairs = eval::readPairs(a.pairs, root);

  eval::Embedder embed = trainer::fileEmbedder(
      [&](const uint8_t* nhwc, int n, float* out) { model->embed(nhwc, n, !a.no_flip, out); },
      model->inputSize(), model->dim());
  eval::VerificationReport r =
      eval::runPairs(pairs, embed, model->dim(), a.batch_size, a.far, fs::path(a.pairs).filename().string());
  std::cout << "checkpoint " << model->checkpointDir() << " (step " << model->step() << ")\n"
            << eval::reportTable(r);
  std::string out = a.out.empty() ? (fs::path(model->checkpointDir()) / "eval.json").string() : a.out;
  writeReport(out, eval::reportJson(r));
  std::cout << "report: " << out << "\n";
  return kExitOk;
}

}  // namespace

void addEvalCommands(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<EvalArgs>();
  auto* e = app.add_subcommand("eval", "Face verification: k-fold accuracy and TAR@FAR");
  e->add_option("--checkpoint", a->checkpoint, "Checkpoint directory, or a run directory (newest)");
  e->add_option("--pairs", a->pairs, "Pairs file (LFW pairs.txt layout or 'path1 path2 label')");
  e->add_option("--images", a->images, "Image root of the pairs (default: the pairs file's folder)");
  e->add_option("--scores", a->scores, "Instead of a model: CSV of label,score to evaluate");
  e->add_option("--out", a->out, "Write the JSON report here (default: beside the checkpoint)");
  e->add_option("--far", a->far, "FARs at which to report TAR")->delimiter(',');
  e->add_option("--batch-size", a->batch_size, "Embedding batch size")->check(CLI::Range(1, 65536));
  e->add_option("--device", a->device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  e->add_flag("--no-flip", a->no_flip, "Do not add the mirrored image's embedding");
  out.push_back({e, [a] { return runEval(*a); }});
}

}  // namespace l2face::launch
