// Private parts of packDataset: one photo's decode / align / encode (PhotoWorker) and the
// comparison of packed crops with a reference corpus.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "l2face/data/align.h"
#include "l2face/data/jpeg.h"
#include "l2face/data/pack.h"

namespace l2face::data {

// What one photo becomes: the encoded crop, or the reason it was skipped.
struct PackItem {
  std::vector<uint8_t> jpeg;
  std::string skip;      // non-empty: skipped, with this reason
  bool aligned = false;  // by landmarks (else centre-cropped)
  Similarity transform;  // photo -> crop, when aligned
};

// Per-thread codec state. Not thread-safe: one per pool thread.
class PhotoWorker {
 public:
  // Reads, checks, decodes and crops `e`'s photo. A file that is missing, unreadable, not a
  // JPEG, undecodable or smaller than min_size is a skip; a landmark outside the photo throws
  // std::invalid_argument naming the list line and the point.
  PackItem process(const PackEntry& e, const PackOptions& options);

 private:
  std::string decodeChecked(const PackEntry& e, const PackOptions& options, ImageSize& size);

  JpegDecoder decoder_;
  JpegEncoder encoder_;
  std::vector<uint8_t> bytes_, rgb_;
};

// Fills report.compared / mean_abs_error / max_image_abs_error: the shards report.shards in
// `dir` against the dataset options.reference, image by image (same count and labels, else
// DataError).
void compareWithReference(const PackOptions& options, const std::string& dir, PackReport& report);

}  // namespace l2face::data
