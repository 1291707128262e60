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

namespace {

// Gallery templates grouped by subject: the column of each template's subject.
struct GalleryIndex {
  std::map<int64_t, size_t> subject;
  std::vector<size_t> column;
};

GalleryIndex indexGallery(const std::vector<int64_t>& gallery_subjects) {
  GalleryIndex g;
  for (int64_t s : gallery_subjects) g.subject.emplace(s, g.subject.size());
  for (int64_t s : gallery_subjects) g.column.push_back(g.subject.at(s));
  return g;
}

// TPIR at each FPIR from the searches' scores (see identify), by the TAR@FAR rule.
std::vector<TpirAtFpir> tpirAtFpir(const std::vector<double>& scores,
                                   const std::vector<int>& labels, int64_t mated, int64_t nonmated,
                                   const std::vector<double>& fpirs) {
  const bool both = mated > 0 && nonmated > 0;
  const std::vector<TarAtFar> tar =
      both ? tarAtFar(scores, labels, fpirs) : std::vector<TarAtFar>();
  std::vector<TpirAtFpir> out;
  for (size_t i = 0; i < fpirs.size(); ++i) {
    TpirAtFpir t;
    t.fpir = fpirs[i];
    if (both && tar[i].measurable) {
      t.measurable = true;
      t.tpir = tar[i].tar;
      t.threshold = tar[i].threshold;
    }
    out.push_back(t);
  }
  return out;
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
  const GalleryIndex index = indexGallery(gallery_subjects);
  std::vector<int64_t> mated_ranks;
  std::vector<double> scores;  // per search: mated -> own score at rank 1 (else kMissed),
  std::vector<int> labels;     // non-mated -> best score
  std::vector<double> best(index.subject.size());
  for (size_t p = 0; p < probe_subjects.size(); ++p) {
    std::fill(best.begin(), best.end(), -std::numeric_limits<double>::infinity());
    for (size_t g = 0; g < gallery_subjects.size(); ++g) {
      const double s = detail::dotWide(probes.data() + p * d, gallery.data() + g * d, dim);
      best[index.column[g]] = std::max(best[index.column[g]], s);
    }
    const auto own = index.subject.find(probe_subjects[p]);
    if (own == index.subject.end()) {
      scores.push_back(*std::max_element(best.begin(), best.end()));
      labels.push_back(0);
      continue;
    }
    const double mine = best[own->second];
    const int64_t rank =
        std::count_if(best.begin(), best.end(), [&](double b) { return b >= mine; });
    mated_ranks.push_back(rank);  // counts its own subject once: 1 + the others at least as high
    scores.push_back(rank == 1 ? mine : kMissed);
    labels.push_back(1);
  }
  IdentificationResult r;
  r.gallery = name;
  r.gallery_templates = static_cast<int64_t>(gallery_subjects.size());
  r.gallery_subjects = static_cast<int64_t>(index.subject.size());
  r.mated = static_cast<int64_t>(mated_ranks.size());
  r.nonmated = static_cast<int64_t>(probe_subjects.size()) - r.mated;
  for (int k : ranks_wanted) {
    const auto hits = std::count_if(mated_ranks.begin(), mated_ranks.end(),
                                    [k](int64_t rank) { return rank <= k; });
    r.ranks.push_back({k, r.mated ? static_cast<double>(hits) / r.mated : 0.0});
  }
  r.tpir_at_fpir = tpirAtFpir(scores, labels, r.mated, r.nonmated, fpirs);
  return r;
}

}  // namespace l2face::eval
