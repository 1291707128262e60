// Private: IJB-style templates (several images per template, media = photo sessions) and
// template pairs for the synthetic evaluation split.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace l2face::data::synth {

struct TemplatePlan {
  // [subject][image] -> 1-based global ids; every image belongs to exactly one template.
  std::vector<std::vector<int>> template_of;
  std::vector<std::vector<int>> media_of;
  int64_t templates = 0;
  int64_t media = 0;
  int64_t genuine = 0;
  int64_t impostor = 0;
  std::string templates_csv;  // template_id,subject_id,image,media_id
  std::string pairs_csv;      // template_a,template_b,label
  std::vector<std::string> notes;
};

// Per subject: its images, shuffled, are cut into min(templates_per_subject, images) templates of
// near-equal size (disjoint image subsets); each template's images are grouped in order into
// media of 1 to 3 images. Template, subject and media ids are 1-based integers, numbered in
// subject order. Pairs: every two templates of one subject (label 1), then as many distinct pairs
// of templates of two different subjects (label 0), each block sorted, template_a < template_b.
// `image_path(subject, image)` gives the image column (relative to the eval directory).
// Deterministic for `seed`.
TemplatePlan makeTemplates(int subjects, int images_per_subject, int templates_per_subject,
                           uint64_t seed,
                           const std::function<std::string(int, int)>& image_path);

}  // namespace l2face::data::synth
