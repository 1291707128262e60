// Datasets of labelled encoded images: the Dataset interface, ImageFolderDataset, openDataset
// (any supported format from a spec string) and statistics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace l2face::data {

// A fixed, indexed collection of (encoded image, label) samples. Implementations are immutable
// after construction: all const methods are thread-safe (loader workers call them concurrently).
class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual size_t size() const = 0;
  virtual int numClasses() const = 0;
  // Label in [0, numClasses()) of sample i (i < size()).
  virtual int label(size_t i) const = 0;
  // Replaces `bytes` with the encoded image of sample i. Throws DataError naming describe(i) when
  // the sample cannot be read.
  virtual void read(size_t i, std::vector<uint8_t>& bytes) const = 0;
  // Where sample i lives, for messages: a path, or file+offset for record files.
  virtual std::string describe(size_t i) const = 0;
  // Class names indexed by label.
  virtual const std::vector<std::string>& classNames() const = 0;
  // read(i, bytes) and label(i) in one call, for formats that store the label with the image
  // (one read instead of two). The label is checked against [0, numClasses()): DataError naming
  // describe(i) otherwise.
  virtual int readSample(size_t i, std::vector<uint8_t>& bytes) const;
};

// The "ImageFolder" layout: root/<class>/<image>.jpg. Classes are the sub-directories of root in
// sorted (byte-wise) order; label = position among the non-empty classes. Images are the regular
// files ending in .jpg / .jpeg (any letter case) sorted by name. Only JPEG is supported (the
// decoder is TurboJPEG); other files are ignored, as are hidden entries (names starting with '.').
// Sub-directories without images are skipped and counted (emptyClassesSkipped(), one warning line
// on stderr). Throws DataError for a missing or unreadable root, a root without class
// directories, or no images at all. Immutable after construction; all const methods thread-safe.
class ImageFolderDataset : public Dataset {
 public:
  explicit ImageFolderDataset(const std::string& root);

  size_t size() const override { return labels_.size(); }
  int numClasses() const override { return static_cast<int>(class_names_.size()); }
  int label(size_t i) const override;
  void read(size_t i, std::vector<uint8_t>& bytes) const override;
  std::string describe(size_t i) const override { return path(i); }
  const std::vector<std::string>& classNames() const override { return class_names_; }

  const std::string& root() const { return root_; }
  std::string path(size_t i) const;
  int emptyClassesSkipped() const { return empty_classes_skipped_; }

  // Writes one line per class, "label\tname", in label order (temp file + rename, so a reader
  // never sees half a file). Throws DataError when the file cannot be written.
  void writeClassMap(const std::string& path) const;

 private:
  void checkIndex(size_t i) const;

  std::string root_;
  std::vector<std::string> class_names_;
  std::vector<std::string> relative_paths_;  // "<class>/<file>", joined with root_ on demand
  std::vector<int> labels_;
  int empty_classes_skipped_ = 0;
};

// Opens a training set described by `spec`:
//   - a directory holding train.rec and train.idx (the insightface layout)  -> RecordIODataset
//   - any other directory                                                   -> ImageFolderDataset
//   - a .rec file, a comma-separated list of them, or a glob such as
//     /data/wf42m/train_*.rec (items may be mixed)                          -> RecordIODataset
// Record shards are concatenated in sorted path order (duplicates removed), each with its .idx
// beside it. Throws DataError naming the path or pattern that matched nothing / cannot be read.
std::shared_ptr<Dataset> openDataset(const std::string& spec);

// Writes one line per class, "label\tname", in label order (temp file + rename). Throws DataError
// when the file cannot be written.
void writeClassMap(const Dataset& dataset, const std::string& path);

struct DatasetStats {
  int64_t images = 0;
  int classes = 0;
  int64_t min_per_class = 0;
  int64_t max_per_class = 0;
  double mean_per_class = 0.0;
};

// Counts images per class (classes with zero samples count towards min). Thread-safe if the
// dataset is.
DatasetStats computeStats(const Dataset& dataset);

// Pretty JSON: {"images", "classes", "images_per_class": {"min", "mean", "max"}}.
std::string statsJson(const DatasetStats& stats);

}  // namespace l2face::data
