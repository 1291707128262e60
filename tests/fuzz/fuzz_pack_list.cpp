// libFuzzer target: the list file of `l2face data pack` (data::parsePackList), from a file made of
// the input; a successful parse is checked line by line against the input's own columns.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_files.h"
#include "l2face/data/align.h"
#include "l2face/data/errors.h"
#include "l2face/data/pack.h"

namespace {

using l2face::data::PackEntry;

// The entry lines of the input as the list format defines them: lines split at '\n' (one
// trailing '\r' dropped), whitespace-separated columns, blank and '#' lines left out.
std::vector<std::pair<size_t, std::vector<std::string>>> entryLines(const std::string& text) {
  std::vector<std::pair<size_t, std::vector<std::string>>> lines;
  std::istringstream in(text);
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream cols_in(line);
    std::vector<std::string> cols;
    for (std::string c; cols_in >> c;) cols.push_back(c);
    if (!cols.empty() && cols[0][0] != '#') lines.emplace_back(n, std::move(cols));
  }
  return lines;
}

// A number column read whole: the value of all its characters.
double wholeNumber(const std::string& column) {
  char* end = nullptr;
  const double v = std::strtod(column.c_str(), &end);
  if (end != column.c_str() + column.size()) std::abort();
  return v;
}

// The landmark and score columns are numbers; the five landmarks are theirs, finite, and a
// similarity onto the template can be estimated from them.
void checkPoints(const PackEntry& e, const std::vector<std::string>& cols) {
  for (size_t k = 0; k < 5; ++k) {
    const auto& p = e.points[k];
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) std::abort();
    if (wholeNumber(cols[2 + 2 * k]) != p.x || wholeNumber(cols[3 + 2 * k]) != p.y) std::abort();
  }
  if (cols.size() == 13 && !std::isfinite(wholeNumber(cols[12]))) std::abort();
  try {
    const auto t = l2face::data::estimateSimilarity(e.points, l2face::data::kArcFaceTemplate112);
    if (!std::isfinite(t.a + t.b + t.tx + t.ty)) std::abort();
  } catch (const std::invalid_argument&) {
    std::abort();  // the parser refuses landmarks the aligner cannot use
  }
}

// What the packer relies on: one entry per entry line, in order, with its path and label, and
// landmarks exactly when the line has them.
void checkEntry(const PackEntry& e, size_t line, const std::vector<std::string>& cols,
                const std::string& dir) {
  if (e.line != line || e.file != cols[0] || e.file.empty()) std::abort();
  if (e.path != (e.file[0] == '/' ? e.file : dir + "/" + e.file)) std::abort();
  if (e.label < 0 || e.label >= (1 << 24)) std::abort();
  if (std::strtoll(cols[1].c_str(), nullptr, 10) != e.label) std::abort();
  const bool points_columns = cols.size() == 12 || cols.size() == 13;
  if (e.has_points != points_columns || (!points_columns && cols.size() != 2)) std::abort();
  if (e.has_points) checkPoints(e, cols);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = l2face::fuzz::workDir("l2face_fuzz_pack_list");
  const std::string list = dir + "/list.txt";
  l2face::fuzz::writeBytes(list, data, size);
  std::vector<PackEntry> entries;
  try {
    entries = l2face::data::parsePackList(list, "");
  } catch (const std::invalid_argument&) {
    return 0;  // a malformed list, reported to the user
  } catch (const l2face::data::DataError&) {
    return 0;
  }
  const auto lines = entryLines(std::string(reinterpret_cast<const char*>(data), size));
  if (entries.empty() || entries.size() != lines.size()) std::abort();
  for (size_t i = 0; i < entries.size(); ++i) {
    checkEntry(entries[i], lines[i].first, lines[i].second, dir);
  }
  return 0;
}
