// The "in the wild" training split: canonical faces rendered at a higher resolution, placed on
// larger canvases at random similarities, and their landmark list files.
#include "synth_wild_corpus.h"

#include <unistd.h>

#include <stdexcept>

#include "l2face/data/errors.h"
#include "l2face/data/random.h"
#include "l2face/data/synth_render.h"
#include "l2face/data/synth_wild.h"

namespace l2face::data::synth {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kWildStream = 0x3D11D;  // placement and landmark noise of a wild photo
constexpr const char* kListNames[2] = {"train_list.txt", "train_list_true.txt"};

std::string listLine(const std::string& path, int label, const FivePoints& points) {
  std::string line = path + " " + std::to_string(label);
  char buf[48];
  for (const Point2& p : points) {
    std::snprintf(buf, sizeof buf, " %.4f %.4f", p.x, p.y);
    line += buf;
  }
  return line + "\n";
}

}  // namespace

void validateWild(const SynthOptions& o) {
  auto fail = [](const std::string& msg) { throw std::invalid_argument("synth: " + msg); };
  if (o.wild && o.format != "folder") fail("wild photos are written as format folder only");
  if (!(o.landmark_noise >= 0.0 && o.landmark_noise <= 50.0)) {
    fail("landmark_noise must be in [0, 50] pixels");
  }
  if (o.wild_render_scale < 1 || o.wild_render_scale > 4)
    fail("wild_render_scale must be in [1, 4]");
}

WildPhoto renderWildPhoto(const SynthOptions& o, const IdentityParams& id, const ImageParams& im,
                          int identity, int image, const std::string& path, JpegEncoder& encoder) {
  const int crop_size = o.size * o.wild_render_scale;
  const std::vector<uint8_t> crop = renderFace(id, im, crop_size);
  Rng rng(
      mixSeed(o.seed, kWildStream, static_cast<uint64_t>(identity), static_cast<uint64_t>(image)));
  const WildPlacement placement = drawWildPlacement(rng, o.size, o.difficulty);
  const WildImage wild =
      placeInTheWild(crop.data(), crop_size, o.size, placement, o.landmark_noise, rng);
  WildPhoto photo;
  photo.jpeg = encoder.encode(wild.rgb.data(), wild.width, wild.height, im.jpeg_quality);
  photo.list_line = listLine(path, identity, wild.points);
  photo.truth_line = listLine(path, identity, wild.true_points);
  return photo;
}

WildListWriter::WildListWriter(const fs::path& out) : out_(out) {
  for (int k = 0; k < 2; ++k) {
    const std::string tmp = (out / kListNames[k]).string() + ".tmp";
    files_[k] = std::fopen(tmp.c_str(), "wb");
    if (!files_[k]) throw DataError("synth: cannot create '" + tmp + "'");
  }
}

WildListWriter::~WildListWriter() {
  for (std::FILE* f : files_) {
    if (f) std::fclose(f);
  }
}

void WildListWriter::write(const std::string& list_rows, const std::string& truth_rows) {
  const std::string* rows[2] = {&list_rows, &truth_rows};
  for (int k = 0; k < 2; ++k) {
    if (std::fwrite(rows[k]->data(), 1, rows[k]->size(), files_[k]) != rows[k]->size()) {
      throw DataError("synth: write failed on '" + (out_ / kListNames[k]).string() +
                      ".tmp' (disk full?)");
    }
  }
}

void WildListWriter::finish() {
  for (int k = 0; k < 2; ++k) {
    const std::string path = (out_ / kListNames[k]).string();
    const bool ok = std::fflush(files_[k]) == 0 && ::fsync(::fileno(files_[k])) == 0;
    const bool closed = std::fclose(files_[k]) == 0;
    files_[k] = nullptr;
    std::error_code ec;
    if (ok && closed) fs::rename(path + ".tmp", path, ec);
    if (!ok || !closed || ec) throw DataError("synth: cannot write '" + path + "' (disk full?)");
  }
}

const std::vector<std::string>& wildOwnedFiles() {
  static const std::vector<std::string> kFiles = {"train_list.txt", "train_list_true.txt",
                                                  "train_list.txt.tmp", "train_list_true.txt.tmp"};
  return kFiles;
}

}  // namespace l2face::data::synth
