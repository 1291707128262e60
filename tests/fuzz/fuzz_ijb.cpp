// libFuzzer target: the official IJB meta files (eval::readIjb): faces with landmarks, the face
// templates, the template pairs and the optional 1:N gallery and probe lists.
//
// Input layout: the meta files of target IJBC separated by lines "----", in the order
// name_5pts_score, face_tid_mid, template_pair_label, 1N_gal_G1, 1N_gal_G2, 1N_probe_mixed;
// files after the last part given are absent. loose_crop/ holds 1.jpg ... 8.jpg.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "fuzz_files.h"
#include "l2face/eval/errors.h"
#include "l2face/eval/ijb.h"

namespace {

namespace fs = std::filesystem;
using l2face::eval::IjbSearchSet;
using l2face::eval::IjbSet;

constexpr int kFolds = 10;
constexpr int kCrops = 8;

// The IJB directory: meta/ (rewritten per input) and loose_crop/ with kCrops small files.
const std::string& ijbDir() {
  static const std::string dir = [] {
    const std::string d = l2face::fuzz::workDir("l2face_fuzz_ijb");
    fs::create_directories(d + "/meta");
    fs::create_directories(d + "/loose_crop");
    const uint8_t bytes[] = {0xff, 0xd8, 0xff, 0xd9};
    for (int i = 1; i <= kCrops; ++i) {
      l2face::fuzz::writeBytes(d + "/loose_crop/" + std::to_string(i) + ".jpg", bytes,
                               sizeof bytes);
    }
    return d;
  }();
  return dir;
}

// The input cut at separator lines.
std::vector<std::string> splitParts(const std::string& text) {
  std::vector<std::string> parts(1);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string::npos ? text.size() : nl + 1;
    std::string line = text.substr(pos, end - pos);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line == "----") {
      parts.emplace_back();
    } else {
      parts.back() += text.substr(pos, end - pos);
    }
    pos = end;
  }
  return parts;
}

void writeMeta(const std::vector<std::string>& parts) {
  const l2face::eval::IjbFiles names = l2face::eval::ijbFiles("IJBC");
  const std::string files[6] = {names.faces,        names.templates,    names.pairs,
                                names.galleries[0], names.galleries[1], names.probes};
  for (size_t k = 0; k < 6; ++k) {
    const std::string path = ijbDir() + "/meta/" + files[k];
    std::error_code ec;
    fs::remove(path, ec);
    if (k < parts.size()) {
      l2face::fuzz::writeBytes(path, reinterpret_cast<const uint8_t*>(parts[k].data()),
                               parts[k].size());
    }
  }
}

bool finiteNonNegative(double v) { return std::isfinite(v) && v >= 0.0; }

// Faces: landmarks and scores finite and not negative; the template rows name the faces in order.
void checkFaces(const IjbSet& set) {
  if (set.faces.empty() || set.templates.images.size() != set.faces.size()) std::abort();
  for (size_t i = 0; i < set.faces.size(); ++i) {
    const auto& face = set.faces[i];
    if (face.image.empty() || face.where.empty() || set.templates.images[i] != face.image)
      std::abort();
    for (float p : face.points) {
      if (!finiteNonNegative(p)) std::abort();
    }
    if (!finiteNonNegative(face.score)) std::abort();
  }
}

// Templates: sorted by id, found by id, each with media, every face in exactly one template.
void checkTemplates(const IjbSet& set) {
  const auto& templates = set.templates.templates;
  if (templates.empty()) std::abort();
  std::vector<int> uses(set.faces.size(), 0);
  for (size_t k = 0; k < templates.size(); ++k) {
    const auto& t = templates[k];
    if (k > 0 && templates[k - 1].id >= t.id) std::abort();
    if (set.templates.find(t.id) != static_cast<int64_t>(k)) std::abort();
    if (t.images.empty() || t.media.size() != t.images.size()) std::abort();
    for (int image : t.images) {
      if (image < 0 || static_cast<size_t>(image) >= uses.size()) std::abort();
      ++uses[static_cast<size_t>(image)];
    }
  }
  for (int n : uses) {
    if (n != 1) std::abort();
  }
}

void checkPairs(const IjbSet& set) {
  if (set.pairs.empty()) std::abort();
  int fold = 0;
  for (const auto& pair : set.pairs) {
    if (pair.a >= set.templates.templates.size() || pair.b >= set.templates.templates.size())
      std::abort();
    if (pair.fold < fold || pair.fold >= kFolds) std::abort();
    fold = pair.fold;
  }
}

// A 1:N list: templates in range, each once, with a subject.
void checkSearchSet(const IjbSearchSet& s, const IjbSet& set, const std::string& name) {
  if (s.name != name || s.templates.empty() || s.subjects.size() != s.templates.size())
    std::abort();
  std::set<size_t> seen;
  for (size_t t : s.templates) {
    if (t >= set.templates.templates.size() || !seen.insert(t).second) std::abort();
  }
}

void checkSet(const IjbSet& set) {
  if (set.root != ijbDir() || set.target != "IJBC") std::abort();
  checkFaces(set);
  checkTemplates(set);
  checkPairs(set);
  if (set.galleries.empty()) {
    if (!set.probes.templates.empty()) std::abort();
    return;
  }
  if (set.galleries.size() != 2) std::abort();
  checkSearchSet(set.galleries[0], set, "G1");
  checkSearchSet(set.galleries[1], set, "G2");
  checkSearchSet(set.probes, set, "probe_mixed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  writeMeta(splitParts(std::string(reinterpret_cast<const char*>(data), size)));
  try {
    checkSet(l2face::eval::readIjb(ijbDir(), "IJBC", kFolds));
  } catch (const l2face::eval::EvalError&) {
    // A malformed meta file, reported with file:line.
  }
  return 0;
}
