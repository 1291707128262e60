// EvalSuite: the verification sets an EvalOptions names, read once and run on demand.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "l2face/eval/all_vs_all.h"
#include "l2face/eval/bin_set.h"
#include "l2face/eval/options.h"
#include "l2face/eval/pairs.h"
#include "l2face/eval/templates.h"
#include "l2face/eval/verification.h"

namespace l2face::eval {

// The sets of `EvalOptions`, in this order: the pairs file, each .bin set (in the order given),
// the template set, the all-vs-all folder. Reading happens in the constructor (all protocol errors
// surface there, before any embedding); run() embeds and scores. Not thread-safe; one owner.
// Reusable: run() may be called again with another model (as in-training evaluation does).
class EvalSuite {
 public:
  // Throws EvalError for unreadable or malformed set files.
  explicit EvalSuite(const EvalOptions& options);

  bool empty() const { return size() == 0; }
  size_t size() const;
  // Whether some set holds encoded images (a .bin): run() then needs a BytesEmbedder.
  bool needsBytes() const { return !bins_.empty(); }
  // Set names in run order: the pairs file's name, each .bin's stem ("_2", "_3", ... added when
  // stems repeat), "templates:<folder>", "all-vs-all:<folder>".
  std::vector<std::string> names() const;

  // One report per set, in order. `files` embeds image files (pairs, templates, all-vs-all),
  // `bytes` encoded images (.bin sets); either may be empty when no set needs it (else
  // EvalError). With shards.world > 1 a collective call on every rank: each embeds its share of
  // every set, rank 0 gets the reports, the others reports holding only the names.
  // score_threads: CPU threads of the all-vs-all score matrix (0 = the host's cores).
  std::vector<VerificationReport> run(const Embedder& files, const BytesEmbedder& bytes, int dim,
                                      const EmbedShards& shards = {}, int score_threads = 0) const;

 private:
  EvalOptions options_;
  std::string pairs_name_;
  std::vector<Pair> pairs_;
  std::vector<BinSet> bins_;
  std::string templates_name_;
  std::unique_ptr<TemplateSet> templates_;
  std::vector<TemplatePair> template_pairs_;
  std::string all_vs_all_name_;
  std::unique_ptr<ImageFolderSet> all_vs_all_;
};

// The comma-separated list of `bins` (spaces around names ignored, empty entries refused).
std::vector<std::string> splitBinList(const std::string& bins);

}  // namespace l2face::eval
