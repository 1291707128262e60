// IJB-B / IJB-C in their official layout (as insightface evaluates them): reading meta/ and the
// loose crops' landmarks, 1:1 template verification and 1:N identification.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "l2face/eval/identification.h"
#include "l2face/eval/shards.h"
#include "l2face/eval/templates.h"
#include "l2face/eval/verification.h"

namespace l2face::eval {

// One face of meta/<t>_name_5pts_score.txt: a loose crop, its five landmarks (left eye, right
// eye, nose tip, left and right mouth corner; crop pixels) and the detector's faceness score.
struct IjbFace {
  std::string image;             // resolved path under loose_crop/
  std::array<float, 10> points;  // x1 y1 ... x5 y5
  float score = 0.0f;
  std::string where;  // "file:line" of its landmark line, for messages
};

// Embeds faces: aligns each crop by its landmarks, embeds, and leaves faces.size() × dim floats
// (f(crop) + f(mirrored crop) when flipping; not normalised) in `out`. Landmarks outside the
// decoded crop are the embedder's to refuse (EvalError naming face.where).
using FaceEmbedder =
    std::function<void(const std::vector<const IjbFace*>& faces, std::vector<float>& out)>;

// The templates one 1:N file lists (indices into IjbSet::templates.templates) with their subjects.
struct IjbSearchSet {
  std::string name;  // "G1", "G2", "S1", "S2" or "probe_mixed"
  std::string file;
  std::vector<size_t> templates;
  std::vector<int64_t> subjects;
};

struct IjbSet {
  std::string root;            // the IJB directory (holding meta/ and loose_crop/)
  std::string target;          // "IJBC", "IJBB", ... as given
  std::vector<IjbFace> faces;  // in file order
  // images: the faces' paths, in face order (one row per face); each template's rows and media.
  TemplateSet templates;
  std::vector<TemplatePair> pairs;
  std::vector<IjbSearchSet> galleries;  // empty when meta/ holds no 1:N files
  IjbSearchSet probes;
};

// The file names under meta/ for `target` (lower-cased as insightface spells them): faces
// ("ijbc_name_5pts_score.txt"), templates ("ijbc_face_tid_mid.txt"), pairs
// ("ijbc_template_pair_label.txt"), the two galleries ("ijbc_1N_gal_G1.csv", "..._G2.csv";
// IJBB: S1, S2) and the probes ("ijbc_1N_probe_mixed.csv").
struct IjbFiles {
  std::string faces, templates, pairs, probes;
  std::array<std::string, 2> galleries;
  std::array<std::string, 2> gallery_names;
};
IjbFiles ijbFiles(const std::string& target);

// Reads DIR/meta for `target`. faces: lines `image x1 y1 ... x5 y5 score`; templates: lines
// `image template_id media_id`, the same images in the same order (insightface pairs the two
// files by line); pairs: `template_a template_b label` (label 0 or 1); the 1:N CSVs: a header
// starting TEMPLATE_ID,SUBJECT_ID then one row per image (further columns unread, but every row
// has the header's column count). The 1:N files are optional as a group. Fold of pair i:
// contiguousFolds(pairs, folds). Every crop must exist under DIR/loose_crop. A missing file or
// crop, a wrong field count, a non-numeric or non-finite field, a negative landmark or score, a
// landmark or score beyond the float range, an unknown template in a pair or 1:N file (a template
// without media), a template given two subjects, or an empty file throws EvalError naming
// file:line and field.
IjbSet readIjb(const std::string& dir, const std::string& target, int folds);

// Embeds every face once (batches of batch_size, face order; shards as runPairs). Returns
// faces × dim floats as the embedder gave them (not normalised, not weighted).
std::vector<float> embedIjbFaces(const IjbSet& set, const FaceEmbedder& embed, int dim,
                                 int batch_size, const EmbedShards& shards = {});

// Template features in insightface's default (N1D1F1): each face's feature times its faceness
// score, averaged per media inside a template, the media averages summed, L2-normalised.
std::vector<float> ijbTemplateFeatures(const IjbSet& set, const std::vector<float>& faces, int dim);

// 1:1 metrics over the template pairs (score = cosine of template features; protocol "ijb"),
// and, when the set has 1:N files, identification against each gallery (ranks 1, 5, 10; TPIR
// at `fpirs`) in report.identification.
VerificationReport scoreIjb(const IjbSet& set, const std::vector<float>& faces, int dim,
                            const std::vector<double>& fars, const std::vector<double>& fpirs,
                            const std::string& name);

}  // namespace l2face::eval
