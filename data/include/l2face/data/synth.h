// The synthetic face-corpus generator: options, report and synthesizeCorpus.
#pragma once

#include <cstdint>
#include <string>

namespace l2face::data {

// Generator version written to meta.json; bump when the rendering or sampling changes so old
// corpora are recognisably different.
constexpr int kSynthGeneratorVersion = 1;

struct SynthOptions {
  std::string out;                   // output directory (see synthesizeCorpus)
  int identities = 100;              // training identities
  int images_per_identity = 20;
  int eval_identities = 50;          // evaluation identities, disjoint from training
  int eval_images_per_identity = 10;
  int size = 112;                    // image side in pixels
  uint64_t seed = 1;
  int threads = 0;                   // 0 = hardware concurrency
  int folds = 10;                    // verification folds (pairs.txt)
  int pairs_per_fold = 300;          // matched pairs per fold, and as many mismatched; reduced
                                     // (with a note) when the fold's identities allow fewer
  double difficulty = 1.0;           // scales pose / lighting / expression / occlusion /
                                     // degradation magnitudes; 0 = clean frontal photos
};

struct SynthReport {
  int64_t train_images = 0;
  int64_t eval_images = 0;
  int64_t pairs = 0;  // lines in pairs.txt after the header (matched + mismatched, all folds)
  double seconds = 0.0;
};

// Writes a synthetic face corpus:
//   out/train/id_NNNNNN/id_NNNNNN_NNNN.jpg   training identities (ImageFolder layout)
//   out/eval/ev_NNNNNN/ev_NNNNNN_NNNN.jpg    evaluation identities (LFW layout, disjoint people:
//                                            drawn from a different seed stream)
//   out/eval/pairs.txt                       LFW pairs.txt: "<folds>\t<n>", then per fold n
//                                            matched "name\ti\tj" and n mismatched
//                                            "name1\ti\tname2\tj" lines (1-based image numbers);
//                                            a fold only uses its own identities
//   out/quality.csv                          split,path,label,quality,yaw,roll,scale,
//                                            illumination,occlusion,blur,jpeg_quality
//   out/meta.json                            options, counts, notes, generator version
// Names and image numbers are zero-padded so sorted order is id order (names and image numbers
// are 1-based, like LFW); labels in quality.csv are 0-based identity indices within a split.
// quality.csv units: yaw and roll in degrees, scale relative to the canonical framing,
// illumination = directional light strength in [0, 1], blur = effective blur in pixels of a
// 112-px image (Gaussian sigma combined with down-sampling, see effectiveBlur).
//
// Determinism: every image is a function of (seed, split, identity, image) only, so the files
// (images, pairs.txt, quality.csv) are byte-identical for any `threads` (on one platform: the
// renderer uses libm, whose last bits may differ between C libraries). meta.json also records
// run facts (threads, seconds).
//
// Safety: `out` must be absent, empty, or hold a previous synthesizeCorpus output (a meta.json
// with "generator": "l2face-synth" and nothing but train/, eval/, quality.csv, meta.json). A
// previous output is deleted first, so corpora are never mixed; anything else -> DataError.
// meta.json is written first with "complete": false and rewritten with true at the end, so an
// interrupted run is recognisable and can be overwritten by the next run.
//
// Multi-threaded over identities (one task per identity). Throws std::invalid_argument for bad
// options (identities < 2, size < 16, folds < 1, fewer than 2 eval identities per fold, fewer
// than 2 images per eval identity, ...) and DataError for filesystem failures.
SynthReport synthesizeCorpus(const SynthOptions& options);

}  // namespace l2face::data
