// One photo of packDataset: read, check, decode, align by its landmarks (or centre-crop) and
// encode; and the comparison of packed crops with a reference corpus.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "file_util.h"
#include "l2face/data/dataset.h"
#include "l2face/data/errors.h"
#include "l2face/data/image_ops.h"
#include "l2face/data/recordio.h"
#include "pack_internal.h"

namespace l2face::data {
namespace fs = std::filesystem;
namespace {

// The reason a file is not a JPEG we can read, or "" when its first bytes are a JPEG's.
std::string formatProblem(const std::vector<uint8_t>& b) {
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "";
  if (b.size() >= 4 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
    return "PNG: only JPEG photos are supported (convert it first)";
  }
  if (b.empty()) return "empty file";
  return "not a JPEG file";
}

std::string pointText(const Point2& p) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "(%.2f, %.2f)", p.x, p.y);
  return buf;
}

// Landmarks must lie on the photo: within [-0.5, w - 0.5] × [-0.5, h - 0.5] (pixel centres are
// at integer coordinates).
void checkPoints(const PackEntry& e, const ImageSize& s) {
  for (int k = 0; k < 5; ++k) {
    const Point2& p = e.points[k];
    if (p.x >= -0.5 && p.y >= -0.5 && p.x <= s.width - 0.5 && p.y <= s.height - 0.5) continue;
    throw std::invalid_argument(std::to_string(e.line) + ": point " + std::to_string(k + 1) +
                                " (columns x" + std::to_string(k + 1) + " y" +
                                std::to_string(k + 1) + ") " + pointText(p) + " lies outside the " +
                                std::to_string(s.width) + "x" + std::to_string(s.height) +
                                " photo '" + e.file + "'");
  }
}

// The largest centred square of rgb (w × h), resized to size × size.
std::vector<uint8_t> centreCrop(const std::vector<uint8_t>& rgb, int w, int h, int size) {
  const int side = std::min(w, h), x0 = (w - side) / 2, y0 = (h - side) / 2;
  std::vector<uint8_t> square(static_cast<size_t>(side) * side * 3);
  for (int y = 0; y < side; ++y) {
    const uint8_t* row = rgb.data() + ((static_cast<size_t>(y0 + y) * w) + x0) * 3;
    std::copy(row, row + static_cast<size_t>(side) * 3, square.data() + size_t{3} * side * y);
  }
  std::vector<uint8_t> out(static_cast<size_t>(size) * size * 3);
  resizeImage(square.data(), side, side, out.data(), size, size);
  return out;
}

}  // namespace

// Reads and decodes e's photo at its stored size into rgb_; returns a skip reason or "".
std::string PhotoWorker::decodeChecked(const PackEntry& e, const PackOptions& o, ImageSize& s) {
  std::error_code ec;
  if (!fs::exists(e.path, ec)) return "missing file";
  try {
    readFile(e.path, bytes_);
  } catch (const DataError& err) {
    return std::string("unreadable: ") + err.what();
  }
  const std::string problem = formatProblem(bytes_);
  if (!problem.empty()) return problem;
  try {
    s = decoder_.peek(bytes_.data(), bytes_.size(), e.file);
  } catch (const DataError& err) {
    return std::string("undecodable: ") + err.what();
  }
  if (s.width < o.min_size || s.height < o.min_size) {
    return "too small: " + std::to_string(s.width) + "x" + std::to_string(s.height) + " (minimum " +
           std::to_string(o.min_size) + " pixels a side)";
  }
  if (e.has_points) checkPoints(e, s);
  rgb_.resize(static_cast<size_t>(s.width) * s.height * 3);
  try {
    decoder_.decode(bytes_.data(), bytes_.size(), s.width, s.height, rgb_.data(), e.file);
  } catch (const DataError& err) {
    return std::string("undecodable: ") + err.what();
  }
  return "";
}

PackItem PhotoWorker::process(const PackEntry& e, const PackOptions& o) {
  PackItem item;
  ImageSize s;
  try {
    item.skip = decodeChecked(e, o, s);
  } catch (const std::invalid_argument& err) {
    throw std::invalid_argument(o.input + ":" + err.what());
  }
  if (!item.skip.empty()) return item;
  std::vector<uint8_t> crop;
  if (e.has_points) {
    crop = alignFace(rgb_.data(), s.width, s.height, e.points, o.size, &item.transform);
    item.aligned = true;
  } else {
    crop = centreCrop(rgb_, s.width, s.height, o.size);
  }
  item.jpeg = encoder_.encode(crop.data(), o.size, o.size, o.quality);
  return item;
}

void compareWithReference(const PackOptions& o, const std::string& dir, PackReport& r) {
  std::vector<std::string> shards;
  for (const auto& s : r.shards) shards.push_back((fs::path(dir) / s).string());
  const RecordIODataset packed(shards);
  const std::shared_ptr<Dataset> reference = openDataset(o.reference);
  if (reference->size() != packed.size()) {
    throw DataError("pack: --reference '" + o.reference + "' has " +
                    std::to_string(reference->size()) + " images, the packed corpus " +
                    std::to_string(packed.size()) + "; compare corpora of the same images");
  }
  const int n = o.size, border = 2;
  std::vector<uint8_t> bytes, a(static_cast<size_t>(n) * n * 3), b(a.size());
  JpegDecoder decoder;
  double sum = 0.0;
  for (size_t i = 0; i < packed.size(); ++i) {
    const int la = packed.readSample(i, bytes);
    decoder.decode(bytes.data(), bytes.size(), n, n, a.data(), packed.describe(i));
    const int lb = reference->readSample(i, bytes);
    decoder.decode(bytes.data(), bytes.size(), n, n, b.data(), reference->describe(i));
    if (la != lb) {
      throw DataError("pack: image " + std::to_string(i) + " has label " + std::to_string(la) +
                      " but its reference '" + reference->describe(i) + "' label " +
                      std::to_string(lb));
    }
    double err = 0.0;
    for (int y = border; y < n - border; ++y) {
      for (size_t k = (static_cast<size_t>(y) * n + border) * 3;
           k < (static_cast<size_t>(y) * n + n - border) * 3; ++k) {
        err += std::abs(static_cast<int>(a[k]) - static_cast<int>(b[k]));
      }
    }
    err /= 3.0 * (n - 2 * border) * (n - 2 * border);
    sum += err;
    r.max_image_abs_error = std::max(r.max_image_abs_error, err);
  }
  r.mean_abs_error = sum / static_cast<double>(packed.size());
  r.compared = true;
}

}  // namespace l2face::data
