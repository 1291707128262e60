// Verification pair lists: the LFW pairs.txt layout and a plain "path1 path2 label" list.
#pragma once

#include <string>
#include <vector>

namespace l2face::eval {

// Folds a plain pair list is cut into (LFW's protocol uses 10).
inline constexpr int kDefaultPlainFolds = 10;

// One verification pair. Paths are resolved (image root joined, lexically normalised).
struct Pair {
  std::string a;
  std::string b;
  bool same = false;  // true: both images show the same identity
  int fold = 0;       // 0-based cross-validation fold
};

// Reads a pair list; the layout is detected from the first non-blank line.
//
// (a) LFW pairs.txt. Header `<folds> <n>` (tabs or spaces), or the single number `<n>` of
//     pairsDevTrain/pairsDevTest (then one fold). Then, per fold, n matched lines `name i j`
//     followed by n mismatched lines `name1 i name2 j`. Image path:
//     image_root/name/name_%04d.jpg. Pair::fold is the fold's position in the file (0..folds-1).
// (b) Plain list: `path1 path2 label` per line, label 1/0 or same/diff, whitespace separated;
//     relative paths are joined to image_root, absolute ones kept. Folds: plain_folds
//     contiguous blocks in file order (contiguousFolds: the first N mod plain_folds blocks one
//     pair longer), like LFW's own folds. A file sorted by label therefore gives one-class folds;
//     shuffle such a list first.
//
// image_root "" means the pairs file's folder. Blank lines are ignored; any other line that does
// not parse, a pair count that disagrees with the header, or an image that does not exist throws
// EvalError naming file:line. Nothing is skipped silently.
std::vector<Pair> readPairs(const std::string& pairs_file, const std::string& image_root,
                            int plain_folds = kDefaultPlainFolds);

// The sorted, de-duplicated image paths of `pairs`, so each image is embedded once.
std::vector<std::string> uniqueImages(const std::vector<Pair>& pairs);

}  // namespace l2face::eval
