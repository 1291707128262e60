// ImageFolderDataset (directory scan, file reads, class map), the Dataset defaults and dataset
// statistics.
#include "l2face/data/dataset.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

#include "file_util.h"
#include "l2face/data/errors.h"

namespace l2face::data {
namespace fs = std::filesystem;
namespace {

bool isJpegName(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == "jpg" || ext == "jpeg";
}

bool isHidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

}  // namespace

ImageFolderDataset::ImageFolderDataset(const std::string& root) : root_(root) {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) {
    throw DataError("ImageFolder '" + root_ +
                    "': not a directory; expected root/<class>/<image>.jpg (check the `train` "
                    "path in the config)");
  }
  std::vector<std::string> classes;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!isHidden(name) && it->is_directory(ec)) classes.push_back(name);
  }
  if (ec) throw DataError("ImageFolder '" + root_ + "': cannot list: " + ec.message());
  if (classes.empty()) {
    throw DataError("ImageFolder '" + root_ +
                    "': no class sub-directories; expected root/<class>/<image>.jpg");
  }
  std::sort(classes.begin(), classes.end());

  std::vector<std::string> files;
  for (const auto& cls : classes) {
    files.clear();
    const fs::path dir = fs::path(root_) / cls;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!isHidden(name) && isJpegName(name) && it->is_regular_file(ec)) files.push_back(name);
    }
    if (ec) throw DataError("ImageFolder: cannot list '" + dir.string() + "': " + ec.message());
    if (files.empty()) {
      ++empty_classes_skipped_;
      continue;
    }
    std::sort(files.begin(), files.end());
    const int label = static_cast<int>(class_names_.size());
    class_names_.push_back(cls);
    for (const auto& f : files) {
      relative_paths_.push_back(cls + "/" + f);
      labels_.push_back(label);
    }
  }
  if (labels_.empty()) {
    throw DataError("ImageFolder '" + root_ + "': " + std::to_string(classes.size()) +
                    " class directories but no .jpg/.jpeg images (only JPEG is supported)");
  }
  if (empty_classes_skipped_ > 0) {
    std::cerr << "warning: ImageFolder '" << root_ << "': skipped " << empty_classes_skipped_
              << " class directories without .jpg/.jpeg images\n";
  }
}

void ImageFolderDataset::checkIndex(size_t i) const {
  if (i >= labels_.size()) {
    throw std::out_of_range("ImageFolder '" + root_ + "': sample index " + std::to_string(i) +
                            " out of range (size " + std::to_string(labels_.size()) + ")");
  }
}

int ImageFolderDataset::label(size_t i) const {
  checkIndex(i);
  return labels_[i];
}

std::string ImageFolderDataset::path(size_t i) const {
  checkIndex(i);
  // Plain concatenation (what fs::path's operator/ yields here, without its parsing cost: this
  // runs for every sample the loader reads).
  if (!root_.empty() && root_.back() == '/') return root_ + relative_paths_[i];
  return root_ + "/" + relative_paths_[i];
}

void ImageFolderDataset::read(size_t i, std::vector<uint8_t>& bytes) const {
  const std::string p = path(i);
  try {
    readFile(p, bytes);
  } catch (const DataError& e) {
    throw DataError("ImageFolder sample " + std::to_string(i) + ": " + e.what());
  }
}

void ImageFolderDataset::writeClassMap(const std::string& path) const {
  data::writeClassMap(*this, path);
}

int Dataset::readSample(size_t i, std::vector<uint8_t>& bytes) const {
  read(i, bytes);
  const int l = label(i);
  if (l < 0 || l >= numClasses()) {
    throw DataError("dataset sample " + std::to_string(i) + " (" + describe(i) + "): label " +
                    std::to_string(l) + " outside [0, " + std::to_string(numClasses()) + ")");
  }
  return l;
}

void writeClassMap(const Dataset& dataset, const std::string& path) {
  const auto& names = dataset.classNames();
  std::string text;
  for (size_t c = 0; c < names.size(); ++c) text += std::to_string(c) + "\t" + names[c] + "\n";
  writeFileAtomic(path, text);
}

DatasetStats computeStats(const Dataset& dataset) {
  DatasetStats stats;
  stats.images = static_cast<int64_t>(dataset.size());
  stats.classes = dataset.numClasses();
  if (stats.classes <= 0) return stats;
  std::vector<int64_t> counts(stats.classes, 0);
  for (size_t i = 0; i < dataset.size(); ++i) {
    const int l = dataset.label(i);
    if (l < 0 || l >= stats.classes) {
      throw DataError("dataset sample " + std::to_string(i) + " (" + dataset.describe(i) +
                      "): label " + std::to_string(l) + " outside [0, " +
                      std::to_string(stats.classes) + ")");
    }
    ++counts[l];
  }
  const auto [mn, mx] = std::minmax_element(counts.begin(), counts.end());
  stats.min_per_class = *mn;
  stats.max_per_class = *mx;
  stats.mean_per_class = static_cast<double>(stats.images) / stats.classes;
  return stats;
}

std::string statsJson(const DatasetStats& stats) {
  nlohmann::ordered_json j;
  j["images"] = stats.images;
  j["classes"] = stats.classes;
  j["images_per_class"] = {
      {"min", stats.min_per_class}, {"mean", stats.mean_per_class}, {"max", stats.max_per_class}};
  return j.dump(2);
}

}  // namespace l2face::data
