// EvalSuite: reading the configured verification sets once and running them with embedders.
#include "l2face/eval/suite.h"

#include <filesystem>
#include <set>

#include "l2face/eval/errors.h"
#include "text_util.h"

namespace l2face::eval {

std::vector<std::string> splitBinList(const std::string& bins) {
  std::vector<std::string> out;
  if (detail::trim(bins).empty()) return out;
  for (const std::string& entry : detail::splitChar(bins, ',')) {
    if (entry.empty()) throw EvalError("eval .bin list '" + bins + "' has an empty entry");
    out.push_back(entry);
  }
  return out;
}

EvalSuite::EvalSuite(const EvalOptions& options) : options_(options) {
  if (!options.pairs.empty()) {
    pairs_ = readPairs(options.pairs, options.images, options.folds);
    pairs_name_ = std::filesystem::path(options.pairs).filename().string();
  }
  for (const std::string& path : splitBinList(options.bins)) bins_.push_back(readBin(path));
  if (!options.templates.empty()) {
    templates_ = std::make_unique<TemplateSet>(readTemplates(options.templates));
    template_pairs_ = readTemplatePairs(options.template_pairs, *templates_, options.folds);
    const auto folder = std::filesystem::absolute(templates_->file).parent_path().filename();
    templates_name_ = "templates:" + folder.string();
  } else if (!options.template_pairs.empty()) {
    throw EvalError("template pairs " + options.template_pairs + " given without templates");
  }
  if (!options.all_vs_all.empty()) {
    all_vs_all_ = std::make_unique<ImageFolderSet>(readImageFolder(options.all_vs_all));
    all_vs_all_name_ = allVsAllName(options.all_vs_all);
  }
  // Two sets of one name (a/lfw.bin, b/lfw.bin) would share report entries and output files.
  std::set<std::string> taken = {pairs_name_, templates_name_, all_vs_all_name_};
  for (BinSet& b : bins_) {
    std::string name = b.name;
    for (int n = 2; taken.count(name); ++n) name = b.name + "_" + std::to_string(n);
    b.name = name;
    taken.insert(name);
  }
}

size_t EvalSuite::size() const {
  return (pairs_.empty() ? 0 : 1) + bins_.size() + (templates_ ? 1 : 0) + (all_vs_all_ ? 1 : 0);
}

std::vector<std::string> EvalSuite::names() const {
  std::vector<std::string> out;
  if (!pairs_.empty()) out.push_back(pairs_name_);
  for (const BinSet& b : bins_) out.push_back(b.name);
  if (templates_) out.push_back(templates_name_);
  if (all_vs_all_) out.push_back(all_vs_all_name_);
  return out;
}

std::vector<VerificationReport> EvalSuite::run(const Embedder& files, const BytesEmbedder& bytes,
                                               int dim, const EmbedShards& shards,
                                               int score_threads) const {
  if ((!pairs_.empty() || templates_ || all_vs_all_) && !files) {
    throw EvalError("EvalSuite::run: image-file sets need a file embedder");
  }
  if (!bins_.empty() && !bytes) throw EvalError("EvalSuite::run: .bin sets need a bytes embedder");
  std::vector<VerificationReport> reports;
  const EvalOptions& o = options_;
  if (!pairs_.empty()) {
    reports.push_back(runPairs(pairs_, files, dim, o.batch_size, o.far, pairs_name_, shards));
  }
  for (const BinSet& set : bins_) {
    reports.push_back(runBin(set, bytes, dim, o.batch_size, o.far, o.folds, set.name, shards));
  }
  if (templates_) {
    reports.push_back(runTemplates(*templates_, template_pairs_, files, dim, o.batch_size, o.far,
                                   o.media_pool, templates_name_, shards));
  }
  if (all_vs_all_) {
    reports.push_back(runAllVsAll(*all_vs_all_, files, dim, o.batch_size, o.far, o.folds,
                                  all_vs_all_name_, shards, score_threads));
  }
  return reports;
}

}  // namespace l2face::eval
