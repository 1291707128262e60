// IJB-style templates and template pairs for the synthetic evaluation split.
#include "synth_templates.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <utility>

#include "l2face/data/random.h"

namespace l2face::data::synth {
namespace {

constexpr uint64_t kTemplateStream = 0x54454D504CULL;  // "TEMPL"
constexpr uint64_t kImpostorStream = 0x494D504FULL;    // "IMPO"
constexpr int kMaxMediaImages = 3;

}  // namespace

TemplatePlan makeTemplates(int subjects, int images_per_subject, int templates_per_subject,
                           uint64_t seed,
                           const std::function<std::string(int, int)>& image_path) {
  TemplatePlan plan;
  const int m = images_per_subject;
  const int t_count = std::max(1, std::min(templates_per_subject, m));
  if (t_count < templates_per_subject) {
    plan.notes.push_back("templates per subject reduced from " +
                         std::to_string(templates_per_subject) + " to " + std::to_string(t_count) +
                         ": a subject has only " + std::to_string(m) + " images");
  }
  plan.template_of.assign(subjects, std::vector<int>(m, 0));
  plan.media_of.assign(subjects, std::vector<int>(m, 0));
  plan.templates_csv = "template_id,subject_id,image,media_id\n";
  int next_template = 1, next_media = 1;
  for (int s = 0; s < subjects; ++s) {
    Rng rng(mixSeed(seed, kTemplateStream, static_cast<uint64_t>(s)));
    std::vector<int> order(m);
    std::iota(order.begin(), order.end(), 0);
    for (int i = m; i > 1; --i) std::swap(order[i - 1], order[rng.below(static_cast<uint64_t>(i))]);
    for (int t = 0; t < t_count; ++t) {
      const int begin = t * m / t_count, end = (t + 1) * m / t_count;
      const int tid = next_template++;
      std::vector<int> members(order.begin() + begin, order.begin() + end);
      std::sort(members.begin(), members.end());  // rows in image order within a template
      // Media: consecutive runs of the (shuffled) chunk, so a session mixes image numbers.
      std::vector<int> media_of_member(m, 0);
      for (int k = begin; k < end;) {
        const int len = std::min(end - k, 1 + static_cast<int>(rng.below(kMaxMediaImages)));
        const int mid = next_media++;
        for (int q = k; q < k + len; ++q) media_of_member[order[q]] = mid;
        k += len;
      }
      for (int image : members) {
        plan.template_of[s][image] = tid;
        plan.media_of[s][image] = media_of_member[image];
        plan.templates_csv += std::to_string(tid) + "," + std::to_string(s + 1) + "," +
                              image_path(s, image) + "," +
                              std::to_string(media_of_member[image]) + "\n";
      }
    }
  }
  plan.templates = next_template - 1;
  plan.media = next_media - 1;

  // Genuine pairs: every two templates of a subject (ids of subject s: s*t_count + 1 ...).
  plan.pairs_csv = "template_a,template_b,label\n";
  for (int s = 0; s < subjects; ++s) {
    for (int a = 0; a < t_count; ++a) {
      for (int b = a + 1; b < t_count; ++b) {
        plan.pairs_csv += std::to_string(s * t_count + a + 1) + "," +
                          std::to_string(s * t_count + b + 1) + ",1\n";
        ++plan.genuine;
      }
    }
  }
  // Impostor pairs: as many, distinct, across two subjects.
  const int64_t possible = int64_t{subjects} * (subjects - 1) / 2 * t_count * t_count;
  int64_t want = plan.genuine;
  if (want == 0) plan.notes.push_back("no template pairs: every subject has a single template");
  if (want > possible) {
    plan.notes.push_back("impostor template pairs reduced from " + std::to_string(want) + " to " +
                         std::to_string(possible) + " (too few subjects)");
    want = possible;
  }
  Rng rng(mixSeed(seed, kImpostorStream));
  std::set<std::pair<int, int>> impostors;
  while (static_cast<int64_t>(impostors.size()) < want) {
    const int sa = static_cast<int>(rng.below(static_cast<uint64_t>(subjects)));
    const int sb = static_cast<int>(rng.below(static_cast<uint64_t>(subjects)));
    if (sa == sb) continue;
    int ta = sa * t_count + static_cast<int>(rng.below(static_cast<uint64_t>(t_count))) + 1;
    int tb = sb * t_count + static_cast<int>(rng.below(static_cast<uint64_t>(t_count))) + 1;
    if (ta > tb) std::swap(ta, tb);
    impostors.insert({ta, tb});
  }
  for (const auto& [a, b] : impostors) {
    plan.pairs_csv += std::to_string(a) + "," + std::to_string(b) + ",0\n";
  }
  plan.impostor = static_cast<int64_t>(impostors.size());
  return plan;
}

}  // namespace l2face::data::synth
