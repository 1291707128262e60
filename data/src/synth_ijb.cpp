// The synthetic evaluation split in the official IJB layout: wild loose crops and the meta lists.
#include "synth_ijb.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "file_util.h"
#include "l2face/data/errors.h"
#include "l2face/data/random.h"
#include "l2face/data/synth_wild.h"

namespace l2face::data::synth {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kWildStream = 0x1B1D;  // placement and landmark noise of an IJB crop

std::string lower(const std::string& s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string faceName(int64_t number) { return std::to_string(number) + ".jpg"; }

// "TEMPLATE_ID,SUBJECT_ID,FILENAME" rows of the given templates, one per image.
std::string searchCsv(const std::vector<int>& templates, const TemplatePlan& plan, int subjects,
                      int images_per_subject) {
  std::map<int, std::vector<std::string>> rows;  // template -> rows, in image order
  for (int t : templates) rows[t];
  for (int s = 0; s < subjects; ++s) {
    for (int i = 0; i < images_per_subject; ++i) {
      const auto it = rows.find(plan.template_of[s][i]);
      if (it == rows.end()) continue;
      it->second.push_back(std::to_string(it->first) + "," + std::to_string(s + 1) + "," +
                           faceName(ijbFaceNumber(s, i, images_per_subject)));
    }
  }
  std::string out = "TEMPLATE_ID,SUBJECT_ID,FILENAME\n";
  for (const auto& [t, lines] : rows) {
    for (const auto& line : lines) out += line + "\n";
  }
  return out;
}

}  // namespace

int64_t ijbFaceNumber(int subject, int image, int images_per_subject) {
  return int64_t{subject} * images_per_subject + image + 1;
}

std::string writeIjbFace(const std::vector<uint8_t>& crop, int size, double quality,
                         double difficulty, uint64_t seed, int subject, int image,
                         int images_per_subject, int jpeg_quality, const fs::path& ijb_dir,
                         JpegEncoder& encoder) {
  Rng rng(mixSeed(seed, kWildStream, static_cast<uint64_t>(subject), static_cast<uint64_t>(image)));
  const WildPlacement placement = drawWildPlacement(rng, size, difficulty);
  const WildImage wild =
      placeInTheWild(crop.data(), size, size, placement, 0.015 * size * difficulty, rng);
  const int64_t number = ijbFaceNumber(subject, image, images_per_subject);
  const std::vector<uint8_t> jpeg =
      encoder.encode(wild.rgb.data(), wild.width, wild.height, jpeg_quality);
  writeFile((ijb_dir / "loose_crop" / faceName(number)).string(), jpeg.data(), jpeg.size());
  std::string line = faceName(number);
  char buf[64];
  for (const Point2& p : wild.points) {
    // Landmarks stay on the canvas (a detector reports points inside its image).
    std::snprintf(buf, sizeof buf, " %.3f %.3f", std::clamp(p.x, 0.0, wild.width - 1.0),
                  std::clamp(p.y, 0.0, wild.height - 1.0));
    line += buf;
  }
  std::snprintf(buf, sizeof buf, " %.4f\n", 0.5 + 0.5 * std::clamp(quality, 0.0, 1.0));
  return line + buf;
}

IjbMetaCounts writeIjbMeta(const fs::path& ijb_dir, const std::string& target,
                           const TemplatePlan& plan, int subjects, int images_per_subject,
                           const std::string& faces_rows) {
  const std::string t = lower(target);
  const fs::path meta = ijb_dir / "meta";
  std::error_code ec;
  fs::create_directories(meta, ec);
  if (ec) throw DataError("synth: cannot create '" + meta.string() + "': " + ec.message());
  writeFileAtomic((meta / (t + "_name_5pts_score.txt")).string(), faces_rows);
  std::string tid_mid;
  std::vector<std::vector<int>> templates_of(subjects);  // per subject, ascending
  for (int s = 0; s < subjects; ++s) {
    for (int i = 0; i < images_per_subject; ++i) {
      tid_mid += faceName(ijbFaceNumber(s, i, images_per_subject)) + " " +
                 std::to_string(plan.template_of[s][i]) + " " +
                 std::to_string(plan.media_of[s][i]) + "\n";
      templates_of[s].push_back(plan.template_of[s][i]);
    }
    std::sort(templates_of[s].begin(), templates_of[s].end());
    templates_of[s].erase(std::unique(templates_of[s].begin(), templates_of[s].end()),
                          templates_of[s].end());
  }
  writeFileAtomic((meta / (t + "_face_tid_mid.txt")).string(), tid_mid);
  std::string pairs = plan.pairs_csv.substr(plan.pairs_csv.find('\n') + 1);  // no header
  std::replace(pairs.begin(), pairs.end(), ',', ' ');
  writeFileAtomic((meta / (t + "_template_pair_label.txt")).string(), pairs);

  IjbMetaCounts counts;
  std::vector<int> galleries[2], probes;
  for (int s = 0; s < subjects; ++s) {
    galleries[s % 2].push_back(templates_of[s].front());
    probes.insert(probes.end(), templates_of[s].begin() + 1, templates_of[s].end());
  }
  if (probes.empty()) {
    counts.notes.push_back("no IJB 1:N lists: every subject has a single template");
    return counts;
  }
  const char* names[2] = {t == "ijbb" ? "S1" : "G1", t == "ijbb" ? "S2" : "G2"};
  for (int g = 0; g < 2; ++g) {
    writeFileAtomic((meta / (t + "_1N_gal_" + names[g] + ".csv")).string(),
                    searchCsv(galleries[g], plan, subjects, images_per_subject));
    counts.gallery_templates[g] = static_cast<int64_t>(galleries[g].size());
  }
  writeFileAtomic((meta / (t + "_1N_probe_mixed.csv")).string(),
                  searchCsv(probes, plan, subjects, images_per_subject));
  counts.probe_templates = static_cast<int64_t>(probes.size());
  return counts;
}

}  // namespace l2face::data::synth
