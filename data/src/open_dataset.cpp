// openDataset: a dataset spec (directory, .rec files, comma list, glob) -> the matching Dataset.
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "l2face/data/dataset.h"
#include "l2face/data/errors.h"
#include "l2face/data/recordio.h"

namespace l2face::data {
namespace fs = std::filesystem;
namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

bool hasGlobChars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::vector<std::string> expandGlob(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0) {
    for (size_t k = 0; k < g.gl_pathc; ++k) out.emplace_back(g.gl_pathv[k]);
  }
  globfree(&g);
  if (rc == GLOB_NOMATCH || (rc == 0 && out.empty())) {
    throw DataError("dataset: no file matches '" + pattern + "'");
  }
  if (rc != 0) throw DataError("dataset: cannot expand '" + pattern + "' (read error)");
  return out;
}

}  // namespace

std::shared_ptr<Dataset> openDataset(const std::string& spec_in) {
  const std::string spec = trim(spec_in);
  if (spec.empty()) {
    throw DataError("dataset: empty spec; set data.train to an ImageFolder root, a .rec file, a "
                    "comma-separated list of .rec files, or a glob such as /data/train_*.rec");
  }
  std::error_code ec;
  if (spec.find(',') == std::string::npos && !hasGlobChars(spec) && fs::is_directory(spec, ec)) {
    const fs::path rec = fs::path(spec) / "train.rec";
    if (fs::is_regular_file(rec, ec) && fs::is_regular_file(fs::path(spec) / "train.idx", ec)) {
      return std::make_shared<RecordIODataset>(std::vector<std::string>{rec.string()});
    }
    return std::make_shared<ImageFolderDataset>(spec);
  }
  std::vector<std::string> files;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = trim(spec.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    std::vector<std::string> matched =
        hasGlobChars(item) ? expandGlob(item) : std::vector<std::string>{item};
    for (const auto& f : matched) {
      if (fs::is_directory(f, ec)) {
        throw DataError("dataset '" + spec + "': '" + f + "' is a directory; a list or glob "
                        "names .rec files (an ImageFolder root is given on its own)");
      }
      if (!fs::exists(f, ec)) {
        throw DataError("dataset '" + spec + "': '" + f + "' does not exist");
      }
      if (fs::path(f).extension() != ".rec") {
        throw DataError("dataset '" + spec + "': '" + f + "' is not a .rec file (each shard is "
                        "a .rec with its .idx beside it)");
      }
      files.push_back(f);
    }
  }
  if (files.empty()) throw DataError("dataset '" + spec + "': names no files");
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return std::make_shared<RecordIODataset>(files);
}

}  // namespace l2face::data
