// insightface .bin verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin, ...): reading them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace l2face::eval {

// One .bin set: the pickle of (list of encoded images, list of same/different flags) that
// insightface's load_bin reads, images in pair order.
struct BinSet {
  std::string name;  // the file's stem ("lfw", "cfp_fp"), as insightface names its val_targets
  std::string path;
  // Two per pair, in file order: pair i is (images[2i], images[2i + 1]). Encoded image files
  // (JPEG in the published sets), shared where the pickle itself shares one object.
  std::vector<std::shared_ptr<const std::vector<uint8_t>>> images;
  std::vector<bool> same;  // per pair: true = the same identity

  int64_t pairs() const { return static_cast<int64_t>(same.size()); }
};

// Reads a .bin file. Accepted layouts, as they exist in the wild:
//  - the container: a 2-tuple (or 2-list) (images, flags), pickle protocols 1-5;
//  - images: Python 2 str (the published sets, written by Python 2 at protocol 2), Python 3
//    bytes or bytearray (any protocol, including protocol 2's _codecs.encode form), or 1-D
//    numpy uint8/int8 arrays (what cv2.imencode returns; also shape (n, 1));
//  - flags: Python bools, the ints 0/1, numpy bool scalars, or one numpy bool/integer array.
// Anything else, an empty file, a truncated or malformed pickle, images.size() != 2 × flags,
// a flag other than 0/1 or an empty image throws EvalError naming the file and the record
// (images[i], flags[i]) or the pickle opcode and byte offset. The pickle is decoded by a
// restricted reader that never imports or calls anything (see docs/evaluation.md).
BinSet readBin(const std::string& path);

// As readBin, from bytes in memory; `source` stands for the file in messages and `name`.
BinSet parseBin(const uint8_t* data, size_t size, const std::string& source);

}  // namespace l2face::eval
