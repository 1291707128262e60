// packDataset: photos (an ImageFolder tree or a list file with five landmarks per face) aligned
// to the ArcFace template and written as insightface RecordIO shards, with a report of every
// skipped file; the list-file parser and the shard-size parser it uses.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "l2face/data/align.h"

namespace l2face::data {

struct PackOptions {
  std::string input;         // ImageFolder root (a directory) or list file
  std::string out;           // output directory
  std::string root;          // base of relative list paths (empty: the list file's directory)
  int size = 112;            // output side in pixels
  int quality = 95;          // JPEG quality of the packed crops
  int64_t shard_images = 0;  // images per shard (0: no limit)
  int64_t shard_bytes = 0;   // bytes of image records per .rec (0: no limit)
  int threads = 0;           // 0 = hardware concurrency
  int min_size = 16;         // smaller photos (either side) are skipped and listed
  std::string reference;     // optional dataset spec: crops to compare the packed ones with
  std::string truth;         // optional list file: the true landmarks of the same lines
};

// One line of a list file: `path label [x1 y1 ... x5 y5 [score]]`.
struct PackEntry {
  std::string file;  // as written (messages, pack_report.json)
  std::string path;  // resolved against the root
  int label = 0;
  bool has_points = false;
  FivePoints points;
  size_t line = 0;  // 1-based line in the list file; 0 for ImageFolder inputs
};

// Parses a list file: whitespace-separated columns, blank lines and lines starting with '#'
// ignored; 2 columns (no landmarks), 12 (five x y pairs in detector order) or 13 (a trailing
// detector score, checked numeric and ignored). Labels are integers in [0, 2^24). Throws
// std::invalid_argument "FILE:LINE: ..." naming the column for a wrong column count, a
// non-numeric or non-finite field, a negative or fractional label, or landmarks that coincide.
std::vector<PackEntry> parsePackList(const std::string& list_path, const std::string& root);

// "50000" = images per shard; "64K", "512M", "2G" (binary multiples) or "1000000B" = bytes.
// Sets exactly one of images / bytes. std::invalid_argument for anything else or a value < 1.
void parseShardSize(const std::string& text, int64_t& images, int64_t& bytes);

struct PackProgress {
  int64_t done = 0;  // inputs processed (packed or skipped)
  int64_t total = 0;
  double seconds = 0.0;
};

struct PackSkip {
  std::string file;
  size_t line = 0;  // list line (0: ImageFolder)
  std::string reason;
};

struct PackReport {
  int64_t inputs = 0;
  int64_t packed = 0;
  int64_t aligned = 0;         // with landmarks: aligned to the template
  int64_t centre_cropped = 0;  // without: largest centred square, resized
  int classes = 0;
  std::vector<std::string> shards;  // .rec file names in the output directory, in order
  std::vector<PackSkip> skipped;    // in input order
  double seconds = 0.0;
  // With PackOptions::reference: mean absolute difference (grey levels, all channels) between
  // packed and reference crops, a 2-pixel border excluded; mean over images and the worst image.
  bool compared = false;
  double mean_abs_error = 0.0;
  double max_image_abs_error = 0.0;
  // With PackOptions::truth: RMS distance (output pixels) between the true landmarks mapped by
  // the transform used and the template; -1 when not measured.
  double landmark_rms = -1.0;
};

// Packs `options.input` into `options.out`:
//   train.rec, train.idx        one shard when no shard limit is set, else
//   train_000.rec, .idx, ...    shards of at most shard_images images / shard_bytes bytes
//   property                    "num_classes,size,size"
//   pack_report.json            options, counts, shards, every skipped file with its reason
// Each shard is a complete insightface file (FaceRecordWriter: meta record 0, image records,
// identity records for all classes); labels are global, so the shards read as one dataset.
// Labels: ImageFolder -> dense 0..C-1 in sorted class order; list -> as given (C = max + 1),
// images stably sorted by label. Output bytes are identical for any thread count.
// Errors: bad options or list lines, and a landmark outside its photo -> std::invalid_argument
// (nothing left in `out`); filesystem failures -> DataError. Missing, unreadable, non-JPEG,
// undecodable and too small photos are skipped and listed. Shards are written in a staging
// directory and moved into place only when all are complete.
PackReport packDataset(const PackOptions& options,
                       const std::function<void(const PackProgress&)>& progress = {});

// pack_report.json's text for a report.
std::string packReportJson(const PackOptions& options, const PackReport& report);

}  // namespace l2face::data
