// identify: open-set 1:N search of probe templates against a gallery (CMC ranks, TPIR at FPIR).
#include "l2face/eval/identification.h"

#include <algorithm>
#include <limits>
#include <map>

#include "embedding.h"
#include "l2face/eval/errors.h"
#include "l2face/eval/metrics.h"

namespace l2face::eval {
namespace {

// Below every cosine: a mated search that misses rank 1 is never a true identification.
constexpr double kMissed = -2.0;

void checkInputs(const std::vector<float>& gallery, const std::vector<int64_t>& gallery_subjects,
                 const std::vector<float>& probes, const std::vector<int64_t>& probe_subjects,
                 int dim, const std::vector<double>& fpirs, const std::string& name) {
  const std::string context = "identify(" + name + ")";
  const size_t d = static_cast<size_t>(std::max(dim, 1));
  if (dim < 1) throw EvalError(context + ": dim must be >= 1");
  if (gallery_subjects.empty() || probe_subjects.empty()) {
    throw EvalError(context + ": empty gallery or probe list");
  }
  if (gallery.size() != gallery_subjects.size() * d || probes.size() != probe_subjects.size() * d) {
    throw EvalError(context + ": feature sizes disagree with the template counts");
  }
  for (double f : fpirs) {
    if (!(f > 0.0 && f < 1.0)) throw EvalError(context + ": FPIR must be in (0, 1)");
  }
}

}  // namespace

IdentificationResult identify(const std::vector<float>& gallery,
                              const std::vector<int64_t>& gallery_subjects,
                              const std::vector<float>& probes,
                              const std::vector<int64_t>& probe_subjects, int dim,
                              const std::vector<int>& ranks_wanted,
                              const std::vector<double>& fpirs, const std::string& name) {
  checkInputs(gallery, gallery_subjects, probes, probe_subjects, dim, fpirs, name);
  const size_t d = static_cast<size_t>(dim);
  std::map<int64_t, size_t> subject_index;
  for (int64_t s : gallery_subjects) subject_index.emplace(s, subject_index.size());
  std::vector<size_t> column(gallery_subjects.size());
  for (size_t g = 0; g < gallery_subjects.size(); ++g) {
    column[g] = subject_index.at(gallery_subjects[g]);
  }
  IdentificationResult r;
  r.gallery = name;
  r.gallery_templates = static_cast<int64_t>(gallery_subjects.size());
  r.gallery_subjects = static_cast<int64_t>(subject_index.size());
  std::vector<int64_t> mated_ranks;
  std::vector<double> scores;  // per search: mated -> own score at rank 1 (else kMissed),
  std::vector<int> labels;     // non-mated -> best score
  std::vector<double> best(subject_index.size());
  for (size_t p = 0; p < probe_subjects.size(); ++p) {
    std::fill(best.begin(), best.end(), -std::numeric_limits<double>::infinity());
    for (size_t g = 0; g < gallery_subjects.size(); ++g) {
      const double s = detail::dotWide(probes.data() + p * d, gallery.data() + g * d, dim);
      best[column[g]] = std::max(best[column[g]], s);
    }
    const auto own = subject_index.find(probe_subjects[p]);
    if (own == subject_index.end()) {
      scores.push_back(*std::max_element(best.begin(), best.end()));
      labels.push_back(0);
      continue;
    }
    const double mine = best[own->second];
    int64_t rank = 1;
    for (size_t c = 0; c < best.size(); ++c) rank += (c != own->second && best[c] >= mine) ? 1 : 0;
    mated_ranks.push_back(rank);
    scores.push_back(rank == 1 ? mine : kMissed);
    labels.push_back(1);
  }
  r.mated = static_cast<int64_t>(mated_ranks.size());
  r.nonmated = static_cast<int64_t>(probe_subjects.size()) - r.mated;
  for (int k : ranks_wanted) {
    const auto hits = std::count_if(mated_ranks.begin(), mated_ranks.end(),
                                    [k](int64_t rank) { return rank <= k; });
    r.ranks.push_back({k, r.mated ? static_cast<double>(hits) / r.mated : 0.0});
  }
  const bool both = r.mated > 0 && r.nonmated > 0;
  const std::vector<TarAtFar> tar = both ? tarAtFar(scores, labels, fpirs) : std::vector<TarAtFar>();
  for (size_t i = 0; i < fpirs.size(); ++i) {
    TpirAtFpir t;
    t.fpir = fpirs[i];
    if (both && tar[i].measurable) {
      t.measurable = true;
      t.tpir = tar[i].tar;
      t.threshold = tar[i].threshold;
    }
    r.tpir_at_fpir.push_back(t);
  }
  return r;
}

}  // namespace l2face::eval
