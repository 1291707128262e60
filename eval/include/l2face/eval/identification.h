// Open-set 1:N identification metrics: CMC over mated searches, TPIR at FPIR.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace l2face::eval {

// Fraction of mated searches whose subject is among the `rank` best-scoring gallery subjects.
struct RankAccuracy {
  int rank = 1;
  double accuracy = 0.0;
};

// TPIR at one FPIR, with the same counting rule as TarAtFar: N non-mated searches allow
// k = floor(fpir·N) false positive identifications; the threshold is the (k+1)-th highest
// non-mated top score; not measurable when k = 0 (tpir and threshold NaN in reports).
struct TpirAtFpir {
  double fpir = 0.0;
  bool measurable = false;
  double tpir = 0.0;
  double threshold = 0.0;
};

// One gallery searched by every probe.
struct IdentificationResult {
  std::string gallery;  // e.g. "G1"
  int64_t gallery_templates = 0;
  int64_t gallery_subjects = 0;
  int64_t mated = 0;     // probes whose subject is in the gallery
  int64_t nonmated = 0;  // the others
  std::vector<RankAccuracy> ranks;
  std::vector<TpirAtFpir> tpir_at_fpir;
};

// Search of `probes` (P × dim floats, rows L2-normalised) against `gallery` (G × dim), scores by
// cosine. A gallery subject scores the best of its templates. A mated probe's rank is 1 + the
// number of other gallery subjects scoring at least as high as its own subject (ties count
// against it); ranks[i] is the fraction of mated probes with rank <= ranks_wanted[i]. A probe is
// identified at threshold t when its rank is 1 and its subject's score is > t; a non-mated probe
// is a false positive when its best score is > t. TPIR at each FPIR in (0, 1): see TpirAtFpir;
// with no mated or no non-mated probe nothing is measurable. Throws EvalError for sizes that
// disagree, an empty gallery or probe list, or an FPIR outside (0, 1).
IdentificationResult identify(const std::vector<float>& gallery,
                              const std::vector<int64_t>& gallery_subjects,
                              const std::vector<float>& probes,
                              const std::vector<int64_t>& probe_subjects, int dim,
                              const std::vector<int>& ranks_wanted,
                              const std::vector<double>& fpirs, const std::string& name);

}  // namespace l2face::eval
