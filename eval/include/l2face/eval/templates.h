// IJB-style 1:1 template verification: templates.csv, template_pairs.csv, feature pooling.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "l2face/eval/verification.h"

namespace l2face::eval {

// Default file names inside a templates folder.
inline constexpr const char* kTemplatesFile = "templates.csv";
inline constexpr const char* kTemplatePairsFile = "template_pairs.csv";

// A template: the images (rows) of one subject that together stand for it.
struct Template {
  int64_t id = 0;
  int64_t subject = 0;
  std::vector<int> images;     // per row, in file order: index into TemplateSet::images
  std::vector<int64_t> media;  // per row: its media id (a photo, or one video's frames)
  int64_t line = 0;            // the template's first line in the file, for messages
};

struct TemplateSet {
  std::string file;                 // the templates file read
  std::vector<std::string> images;  // unique resolved image paths, sorted (each embedded once)
  std::vector<Template> templates;  // sorted by id

  // Position of template `id` in `templates`, or -1.
  int64_t find(int64_t id) const;
};

// One template pair; a and b index TemplateSet::templates.
struct TemplatePair {
  size_t a = 0;
  size_t b = 0;
  bool same = false;
  int fold = 0;
};

// Reads `path` (a file, or a folder holding templates.csv). Layout: the header line
// `template_id,subject_id,image,media_id`, then one row per image of a template; ids are
// integers; rows of one template may be scattered; image paths are relative to the file's
// folder unless absolute. A wrong header or field count, a non-integer id, an empty image field,
// a missing image, a template whose rows name different subjects, or a file without rows throws
// EvalError naming file:line.
TemplateSet readTemplates(const std::string& path);

// Reads `pairs_file` (header `template_a,template_b,label`, label 1 = same subject, 0 = not)
// against `set`; "" = template_pairs.csv beside set.file. Fold of pair i: `folds` contiguous
// blocks in file order (contiguousFolds). An unknown template id, a label other than 0/1, a
// label that contradicts the two templates' subject ids, a malformed line or an empty file
// throws EvalError naming file:line.
std::vector<TemplatePair> readTemplatePairs(const std::string& pairs_file, const TemplateSet& set,
                                            int folds);

// Template features from image features (set.images.size() × dim floats, rows L2-normalised, in
// set.images order): per template the mean of its rows' features, or with media_pool (the IJB
// convention) first the mean within each media id and then the mean over its media; then
// L2-normalised. Returns set.templates.size() × dim floats. Throws EvalError when the sizes
// disagree or a pooled feature is zero (features that cancel out), naming the template.
std::vector<float> poolTemplates(const TemplateSet& set, const std::vector<float>& image_features,
                                 int dim, bool media_pool);

// Cosine of each pair's template features (features: set.templates.size() × dim floats, rows
// L2-normalised, as poolTemplates returns), in pair order. Throws EvalError for a pair naming a
// template index out of range.
std::vector<double> templatePairScores(const TemplateSet& set,
                                       const std::vector<TemplatePair>& pairs,
                                       const std::vector<float>& features, int dim);

// Embeds every image of `set` once (batches of at most batch_size, sorted path order),
// L2-normalises, pools the templates (poolTemplates), scores each pair by the cosine of its
// template features and computes the metrics with TemplatePair::fold. Errors and `shards` as
// runPairs.
VerificationReport runTemplates(const TemplateSet& set, const std::vector<TemplatePair>& pairs,
                                const Embedder& embed, int dim, int batch_size,
                                const std::vector<double>& fars, bool media_pool,
                                const std::string& name, const EmbedShards& shards = {});

}  // namespace l2face::eval
