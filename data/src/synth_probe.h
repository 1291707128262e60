// Private: the controlled-degradation probe set of synthesizeCorpus (options.probe_identities).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "l2face/data/jpeg.h"
#include "l2face/data/synth.h"
#include "l2face/data/synth_params.h"

namespace l2face::data::synth {

// One degradation of the probe set and its six levels (level 0 = none: the clean photo).
struct ProbeSeries {
  const char* name;   // directory under probe/ and the degradation column of probe.csv
  const char* value;  // what the level values measure
  std::array<double, 6> levels;
};
const std::vector<ProbeSeries>& probeSeries();

// The clean photo every series degrades: the photo's own expression, lighting, scene and
// occluder colour, but frontal, centred, unblurred, full resolution, noise-free, unoccluded and
// saved at JPEG quality 95.
ImageParams cleanProbePhoto(const ImageParams& sampled);

// `clean` with series `s` at level `level` (the alignment series changes nothing here: its
// degradation is the crop itself, see renderProbe).
ImageParams degradeProbe(const ImageParams& clean, const ProbeSeries& s, int level);

// The size×size RGB probe image. For the alignment series the clean face is placed in the wild
// (drawWildPlacement, difficulty 1) and cropped back with alignFace from its five landmarks plus
// Gaussian noise of the level's standard deviation (in pixels of a 112-pixel face, scaled to the
// face's size on the canvas); every other series is renderFace of its degraded parameters.
std::vector<uint8_t> renderProbe(const IdentityParams& id, const ImageParams& im,
                                 const ProbeSeries& s, int level, int size, uint64_t noise_seed);

// Writes evaluation identity `identity`'s probe photos under out/probe/<series>/<name>/
// (<name>_pPP_lL.jpg) and returns their probe.csv rows
// (path,degradation,level,value,identity,photo,quality).
std::string writeProbes(const SynthOptions& o, const std::filesystem::path& out,
                        const IdentityParams& id, const std::string& name, int identity,
                        uint64_t photo_seed_stream, JpegEncoder& encoder);

constexpr const char* kProbeCsvHeader = "path,degradation,level,value,identity,photo,quality\n";

}  // namespace l2face::data::synth
