// The official IJB layout: reading meta/ (faces, templates, pairs, 1:N lists), embedding the
// faces, N1D1F1 template pooling, 1:1 verification and 1:N identification.
#include "l2face/eval/ijb.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <system_error>

#include "embedding.h"
#include "ijb_reader.h"
#include "image_checker.h"
#include "l2face/eval/errors.h"

namespace l2face::eval {
namespace {

namespace fs = std::filesystem;
using detail::FieldReader;

constexpr const char* kPointNames[10] = {"x1", "y1", "x2", "y2", "x3",
                                         "y3", "x4", "y4", "x5", "y5"};

// A landmark or score: a number, not negative, and finite as a float (the type it is kept in).
float faceValue(const FieldReader& in, size_t field, const char* name, const char* negative) {
  const double v = in.number(field, name);
  if (v < 0.0) throw EvalError(in.at(name) + " " + in.text(field) + " " + negative);
  if (v > std::numeric_limits<float>::max()) {
    throw EvalError(in.at(name) + " " + in.text(field) + " is too large for a float");
  }
  return static_cast<float>(v);
}

std::vector<IjbFace> readFaces(const std::string& file, const fs::path& crops) {
  FieldReader in(file, ' ', "face list");
  detail::ImageChecker checker(file);
  std::vector<IjbFace> faces;
  while (in.next()) {
    in.expectFields(12, "image x1 y1 ... x5 y5 score");
    IjbFace face;
    face.image = detail::joinPath(crops, in.text(0));
    checker.check(face.image, in.line());
    for (size_t k = 0; k < 10; ++k) {
      face.points[k] = faceValue(in, k + 1, kPointNames[k], "is outside the crop (negative)");
    }
    face.score = faceValue(in, 11, "score", "is negative");
    face.where = detail::where(file, in.line());
    faces.push_back(std::move(face));
  }
  if (faces.empty()) throw EvalError(file + ": no faces");
  return faces;
}

// Templates of the face list: line i of `file` names face i's image, template and media.
TemplateSet readFaceTemplates(const std::string& file, const std::vector<IjbFace>& faces,
                              const fs::path& crops) {
  FieldReader in(file, ' ', "template list");
  TemplateSet set;
  set.file = file;
  std::map<int64_t, Template> by_id;
  size_t i = 0;
  while (in.next()) {
    in.expectFields(3, "image template_id media_id");
    if (i >= faces.size()) {
      in.fail("more lines than the " + std::to_string(faces.size()) + " faces of the face list");
    }
    const std::string image = detail::joinPath(crops, in.text(0));
    if (image != faces[i].image) {
      throw EvalError(in.at("image") + " '" + in.text(0) + "' but " + faces[i].where + " names '" +
                      faces[i].image + "' (both files list the faces in one order)");
    }
    const int64_t id = in.integer(1, "template_id");
    const int64_t media = in.integer(2, "media_id");
    auto [it, fresh] = by_id.try_emplace(id);
    if (fresh) it->second.id = id, it->second.line = in.line();
    it->second.images.push_back(static_cast<int>(i));
    it->second.media.push_back(media);
    set.images.push_back(image);
    ++i;
  }
  if (i != faces.size()) {
    throw EvalError(file + ": " + std::to_string(i) + " lines but the face list has " +
                    std::to_string(faces.size()) + " faces");
  }
  for (auto& [id, t] : by_id) set.templates.push_back(std::move(t));
  return set;
}

size_t templateIndex(const TemplateSet& set, const FieldReader& in, size_t field,
                     const char* name) {
  const int64_t id = in.integer(field, name);
  const int64_t index = set.find(id);
  if (index < 0) {
    throw EvalError(in.at(name) + ": template " + std::to_string(id) +
                    " has no media (no face in " + set.file + ")");
  }
  return static_cast<size_t>(index);
}

std::vector<TemplatePair> readIjbPairs(const std::string& file, const TemplateSet& set, int folds) {
  FieldReader in(file, ' ', "template pair list");
  std::vector<TemplatePair> pairs;
  while (in.next()) {
    in.expectFields(3, "template_a template_b label");
    TemplatePair pair;
    pair.a = templateIndex(set, in, 0, "template_a");
    pair.b = templateIndex(set, in, 1, "template_b");
    const std::string_view label = in.fields()[2];
    if (label != "0" && label != "1") {
      throw EvalError(in.at("label") + " '" + in.text(2) + "' is not 0 or 1");
    }
    pair.same = label == "1";
    pairs.push_back(pair);
  }
  if (pairs.empty()) throw EvalError(file + ": no template pairs");
  const std::vector<int> fold_ids = contiguousFolds(static_cast<int64_t>(pairs.size()), folds);
  for (size_t k = 0; k < pairs.size(); ++k) pairs[k].fold = fold_ids[k];
  return pairs;
}

// A 1:N CSV: the templates it lists (in order of first appearance) and their subjects.
IjbSearchSet readSearchSet(const std::string& file, const std::string& name,
                           const TemplateSet& set) {
  FieldReader in(file, ',', "1:N list");
  if (!in.next() || in.fields().size() < 2 || in.fields()[0] != "TEMPLATE_ID" ||
      in.fields()[1] != "SUBJECT_ID") {
    throw EvalError(detail::where(file, in.line()) +
                    ": expected a header starting TEMPLATE_ID,SUBJECT_ID");
  }
  const size_t columns = in.fields().size();
  IjbSearchSet out;
  out.name = name;
  out.file = file;
  std::map<size_t, std::pair<int64_t, int64_t>> seen;  // template index -> (subject, line)
  while (in.next()) {
    if (in.fields().size() != columns) {
      in.fail("expected the header's " + std::to_string(columns) + " columns but found " +
              std::to_string(in.fields().size()));
    }
    const size_t t = templateIndex(set, in, 0, "TEMPLATE_ID");
    const int64_t subject = in.integer(1, "SUBJECT_ID");
    const auto [it, fresh] = seen.try_emplace(t, subject, in.line());
    if (fresh) {
      out.templates.push_back(t);
      out.subjects.push_back(subject);
    } else if (it->second.first != subject) {
      throw EvalError(in.at("SUBJECT_ID") + ": template " + std::to_string(set.templates[t].id) +
                      " is subject " + std::to_string(subject) + " but line " +
                      std::to_string(it->second.second) + " gave it subject " +
                      std::to_string(it->second.first));
    }
  }
  if (out.templates.empty()) throw EvalError(file + ": no templates");
  return out;
}

}  // namespace

IjbFiles ijbFiles(const std::string& target) {
  std::string t;
  for (char c : target) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  IjbFiles f;
  f.faces = t + "_name_5pts_score.txt";
  f.templates = t + "_face_tid_mid.txt";
  f.pairs = t + "_template_pair_label.txt";
  f.probes = t + "_1N_probe_mixed.csv";
  f.gallery_names =
      t == "ijbb" ? std::array<std::string, 2>{"S1", "S2"} : std::array<std::string, 2>{"G1", "G2"};
  for (int g = 0; g < 2; ++g) f.galleries[g] = t + "_1N_gal_" + f.gallery_names[g] + ".csv";
  return f;
}

IjbSet readIjb(const std::string& dir, const std::string& target, int folds) {
  if (target.empty()) throw EvalError("IJB: no target name (e.g. IJBC or IJBB)");
  const IjbFiles names = ijbFiles(target);
  const fs::path meta = fs::path(dir) / "meta";
  const fs::path crops = fs::path(dir) / "loose_crop";
  IjbSet set;
  set.root = dir;
  set.target = target;
  set.faces = readFaces((meta / names.faces).string(), crops);
  set.templates = readFaceTemplates((meta / names.templates).string(), set.faces, crops);
  set.pairs = readIjbPairs((meta / names.pairs).string(), set.templates, folds);
  const std::string probes = (meta / names.probes).string();
  int present = 0;
  std::error_code ec;
  for (const auto& f : {names.galleries[0], names.galleries[1], names.probes}) {
    present += fs::exists(meta / f, ec) ? 1 : 0;
  }
  if (present == 0) return set;
  if (present != 3) {
    throw EvalError((meta).string() + ": the 1:N files come as a group: " + names.galleries[0] +
                    ", " + names.galleries[1] + " and " + names.probes + " (found " +
                    std::to_string(present) + " of 3)");
  }
  for (int g = 0; g < 2; ++g) {
    set.galleries.push_back(
        readSearchSet((meta / names.galleries[g]).string(), names.gallery_names[g], set.templates));
  }
  set.probes = readSearchSet(probes, "probe_mixed", set.templates);
  return set;
}

std::vector<float> embedIjbFaces(const IjbSet& set, const FaceEmbedder& embed, int dim,
                                 int batch_size, const EmbedShards& shards) {
  const std::string context = "IJB " + set.target;
  detail::checkRunArguments(context, set.pairs.size(), dim, batch_size, static_cast<bool>(embed));
  std::vector<const IjbFace*> batch;
  return detail::embedRows(
      set.faces.size(), dim, batch_size,
      [&](size_t begin, size_t end, std::vector<float>& out) {
        batch.clear();
        for (size_t i = begin; i < end; ++i) batch.push_back(&set.faces[i]);
        embed(batch, out);
      },
      [&](size_t i) { return set.faces[i].image + " (" + set.faces[i].where + ")"; }, context,
      shards, /*normalise=*/false);
}

std::vector<float> ijbTemplateFeatures(const IjbSet& set, const std::vector<float>& faces,
                                       int dim) {
  const size_t d = static_cast<size_t>(dim);
  if (dim < 1 || faces.size() != set.faces.size() * d) {
    throw EvalError("ijbTemplateFeatures: " + std::to_string(faces.size()) + " floats for " +
                    std::to_string(set.faces.size()) + " faces of dim " + std::to_string(dim));
  }
  std::vector<float> weighted(faces.size());
  for (size_t i = 0; i < set.faces.size(); ++i) {
    const float s = set.faces[i].score;
    for (size_t k = 0; k < d; ++k) weighted[i * d + k] = faces[i * d + k] * s;
  }
  // The mean per media, then the sum over media (poolTemplates' media pooling up to a positive
  // factor, which the normalisation removes).
  return poolTemplates(set.templates, weighted, dim, /*media_pool=*/true);
}

namespace {

// The rows `index` of `features` (dim each) and their subjects.
std::vector<float> rowsOf(const std::vector<float>& features, const std::vector<size_t>& index,
                          int dim) {
  const size_t d = static_cast<size_t>(dim);
  std::vector<float> out(index.size() * d);
  for (size_t r = 0; r < index.size(); ++r) {
    std::copy_n(features.data() + index[r] * d, d, out.data() + r * d);
  }
  return out;
}

}  // namespace

VerificationReport scoreIjb(const IjbSet& set, const std::vector<float>& faces, int dim,
                            const std::vector<double>& fars, const std::vector<double>& fpirs,
                            const std::string& name) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<float> features = ijbTemplateFeatures(set, faces, dim);
  VerificationReport report;
  report.name = name;
  report.protocol = "ijb";
  report.pairs = static_cast<int64_t>(set.pairs.size());
  report.embedding_dim = dim;
  report.scores = templatePairScores(set.templates, set.pairs, features, dim);
  std::vector<int> folds(set.pairs.size());
  report.labels.resize(set.pairs.size());
  for (size_t i = 0; i < set.pairs.size(); ++i) {
    report.labels[i] = set.pairs[i].same ? 1 : 0;
    folds[i] = set.pairs[i].fold;
  }
  report.metrics = computeMetrics(report.scores, report.labels, folds, fars);
  if (!set.galleries.empty()) {
    const std::vector<float> probes = rowsOf(features, set.probes.templates, dim);
    for (const IjbSearchSet& g : set.galleries) {
      report.identification.push_back(identify(rowsOf(features, g.templates, dim), g.subjects,
                                               probes, set.probes.subjects, dim, {1, 5, 10}, fpirs,
                                               g.name));
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace l2face::eval
