// The "in the wild" training split of the synthetic corpus: canonical renders placed on larger
// canvases, and the list files (noisy and true landmarks) that `l2face data pack` reads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "l2face/data/jpeg.h"
#include "l2face/data/synth.h"
#include "l2face/data/synth_params.h"

namespace l2face::data::synth {

struct WildPhoto {
  std::vector<uint8_t> jpeg;
  std::string list_line;   // "path label x1 y1 ... x5 y5\n" (reported, noisy landmarks)
  std::string truth_line;  // the same with the true landmarks
};

// Throws std::invalid_argument for bad wild options (format rec, noise outside [0, 50] pixels,
// render scale outside [1, 4]).
void validateWild(const SynthOptions& o);

// Renders training image `image` of identity `identity` at wild_render_scale × size, places it
// with drawWildPlacement / placeInTheWild (a function of seed, identity and image only) and
// encodes the canvas at the image's JPEG quality. `path` is the file's path relative to out.
WildPhoto renderWildPhoto(const SynthOptions& o, const IdentityParams& id, const ImageParams& im,
                          int identity, int image, const std::string& path, JpegEncoder& encoder);

// Writes train_list.txt and train_list_true.txt (temporary names until finish()).
class WildListWriter {
 public:
  explicit WildListWriter(const std::filesystem::path& out);
  ~WildListWriter();
  WildListWriter(const WildListWriter&) = delete;
  WildListWriter& operator=(const WildListWriter&) = delete;

  void write(const std::string& list_rows, const std::string& truth_rows);
  void finish();  // flushes and renames both files into place

 private:
  std::filesystem::path out_;
  std::FILE* files_[2] = {nullptr, nullptr};
};

// The files of a wild corpus besides the synth's own (train_list.txt, ...), with .tmp names.
const std::vector<std::string>& wildOwnedFiles();

}  // namespace l2face::data::synth
