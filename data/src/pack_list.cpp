// The pack list file (`path label [x1 y1 ... x5 y5 [score]]`) and the --shard-size syntax.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "l2face/data/pack.h"

namespace l2face::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kColumnNames[13] = {"path", "label", "x1", "y1", "x2", "y2",   "x3",
                                          "y3",   "x4",    "y4", "x5", "y5", "score"};

bool parseDouble(const std::string& s, double& out) {
  errno = 0;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  // Every character read: a NUL byte inside the column does not end it.
  return !s.empty() && errno == 0 && end == s.c_str() + s.size() && std::isfinite(out);
}

std::vector<std::string> splitColumns(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> cols;
  for (std::string c; in >> c;) cols.push_back(c);
  return cols;
}

int parseLabel(const std::string& text, const std::string& where) {
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  double v = 0.0;
  if (!digits || text.size() > 9 || !parseDouble(text, v) || v >= (1 << 24)) {
    throw std::invalid_argument(where + ": column 2 (label): '" + text +
                                "' is not an integer in [0, 2^24)");
  }
  return static_cast<int>(v);
}

PackEntry parseLine(const std::vector<std::string>& cols, const std::string& where,
                    const fs::path& root) {
  if (cols.size() != 2 && cols.size() != 12 && cols.size() != 13) {
    throw std::invalid_argument(where + ": " + std::to_string(cols.size()) +
                                " columns; expected 2 (path label), 12 (path label x1 y1 ... "
                                "x5 y5) or 13 (... score)");
  }
  PackEntry e;
  e.file = cols[0];
  const fs::path p(cols[0]);
  e.path = p.is_absolute() ? p.string() : (root / p).string();
  e.label = parseLabel(cols[1], where);
  for (size_t c = 2; c < cols.size(); ++c) {
    double v = 0.0;
    if (!parseDouble(cols[c], v)) {
      throw std::invalid_argument(where + ": column " + std::to_string(c + 1) + " (" +
                                  kColumnNames[c] + "): '" + cols[c] + "' is not a finite number");
    }
    if (c < 12) (c % 2 == 0 ? e.points[(c - 2) / 2].x : e.points[(c - 2) / 2].y) = v;
  }
  e.has_points = cols.size() >= 12;
  if (e.has_points) {
    try {
      estimateSimilarity(e.points, kArcFaceTemplate112);
    } catch (const std::invalid_argument& err) {
      throw std::invalid_argument(where + ": landmarks x1..y5: " + err.what());
    }
  }
  return e;
}

}  // namespace

std::vector<PackEntry> parsePackList(const std::string& list_path, const std::string& root) {
  std::ifstream in(list_path);
  if (!in) throw std::invalid_argument("pack: cannot open the list file '" + list_path + "'");
  const fs::path base = root.empty() ? fs::path(list_path).parent_path() : fs::path(root);
  std::vector<PackEntry> entries;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string> cols = splitColumns(line);
    if (cols.empty() || cols[0][0] == '#') continue;
    PackEntry e = parseLine(cols, list_path + ":" + std::to_string(n), base);
    e.line = n;
    entries.push_back(std::move(e));
  }
  if (in.bad()) throw std::invalid_argument("pack: cannot read the list file '" + list_path + "'");
  if (entries.empty())
    throw std::invalid_argument("pack: the list file '" + list_path + "' names no images");
  return entries;
}

void parseShardSize(const std::string& text, int64_t& images, int64_t& bytes) {
  images = bytes = 0;
  const size_t digits = text.find_first_not_of("0123456789");
  const std::string number = text.substr(0, digits);
  const std::string unit = digits == std::string::npos ? "" : text.substr(digits);
  // unit -> bit shift of the byte count; "" = a number of images.
  static const std::map<std::string, int> kShift = {{"", -1},  {"B", 0},  {"b", 0},
                                                    {"K", 10}, {"k", 10}, {"M", 20},
                                                    {"m", 20}, {"G", 30}, {"g", 30}};
  const auto shift = kShift.find(unit);
  const int64_t value = number.empty() || number.size() > 12 ? 0 : std::stoll(number);
  const int bits = shift == kShift.end() ? 0 : std::max(shift->second, 0);
  if (value < 1 || shift == kShift.end() || value > (int64_t{1} << (40 - bits))) {
    throw std::invalid_argument("pack: --shard-size '" + text +
                                "': expected a number of images (e.g. 50000) or of bytes with a "
                                "unit (e.g. 512M, 2G, 1000000B)");
  }
  (shift->second < 0 ? images : bytes) = value << bits;
}

}  // namespace l2face::data
