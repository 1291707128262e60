// The probe set: each degradation alone, at six graded levels, on the same clean photos of the
// evaluation identities, so a feature's response to one degradation is measured with everything
// else held fixed.
#include "synth_probe.h"

#include <cmath>
#include <cstdio>

#include "file_util.h"
#include "l2face/data/align.h"
#include "l2face/data/errors.h"
#include "l2face/data/random.h"
#include "l2face/data/synth_render.h"
#include "l2face/data/synth_wild.h"

namespace l2face::data::synth {
namespace {

constexpr uint64_t kProbeAlignStream = 0xA119E;  // placement and landmark noise of a probe crop

}  // namespace

// The largest levels stay inside the training corpus's ranges at difficulty 1.75 (blur up to
// σ 2.7, down-sampling up to 5.2×, noise up to 0.066, JPEG quality down to 30, |yaw| up to 0.9).
const std::vector<ProbeSeries>& probeSeries() {
  static const std::vector<ProbeSeries> kSeries = {
      {"blur", "Gaussian sigma in pixels of a 112-pixel image", {0, 0.7, 1.1, 1.5, 2.0, 2.6}},
      {"noise", "Gaussian noise sigma (intensity 0..1)", {0, 0.012, 0.024, 0.036, 0.048, 0.06}},
      {"jpeg", "JPEG quality", {95, 80, 65, 50, 40, 30}},
      {"low_resolution", "down-sampling factor", {1, 1.6, 2.2, 2.8, 3.4, 4.0}},
      {"occlusion", "side of a square patch (face half-heights)", {0, 0.25, 0.35, 0.45, 0.55, 0.65}},
      {"pose", "yaw in radians", {0, 0.18, 0.36, 0.54, 0.72, 0.9}},
      {"alignment", "landmark noise sigma in pixels of a 112-pixel face", {0, 1.5, 3, 4.5, 6, 7.5}},
  };
  return kSeries;
}

ImageParams cleanProbePhoto(const ImageParams& sampled) {
  ImageParams im = sampled;
  im.yaw = im.pitch = im.roll = 0.0f;
  im.scale = 1.0f;
  im.tx = im.ty = 0.0f;
  im.occlusion = Occlusion::kNone;
  im.blur_sigma = 0.0f;
  im.downsample = 1.0f;
  im.noise_sigma = 0.0f;
  im.jpeg_quality = 95;
  return im;
}

ImageParams degradeProbe(const ImageParams& clean, const ProbeSeries& s, int level) {
  ImageParams im = clean;
  const auto v = static_cast<float>(s.levels.at(static_cast<size_t>(level)));
  const std::string name = s.name;
  if (name == "blur") {
    im.blur_sigma = v;
  } else if (name == "noise") {
    im.noise_sigma = v;
  } else if (name == "jpeg") {
    im.jpeg_quality = static_cast<int>(std::lround(v));
  } else if (name == "low_resolution") {
    im.downsample = v;
  } else if (name == "occlusion") {
    if (v > 0.0f) {
      im.occlusion = Occlusion::kPatch;
      im.patch_w = im.patch_h = v;
    }
  } else if (name == "pose") {
    im.yaw = v;
  }
  return im;
}

std::vector<uint8_t> renderProbe(const IdentityParams& id, const ImageParams& im,
                                 const ProbeSeries& s, int level, int size, uint64_t noise_seed) {
  if (std::string(s.name) != "alignment") return renderFace(id, im, size);
  constexpr int kRenderScale = 2;
  const int crop_size = size * kRenderScale;
  const std::vector<uint8_t> crop = renderFace(id, im, crop_size);
  Rng rng(noise_seed);
  const WildPlacement placement = drawWildPlacement(rng, size, 1.0);
  const Similarity& t = placement.face_to_canvas;
  const double sigma = s.levels.at(static_cast<size_t>(level)) * size / 112.0 * std::hypot(t.a, t.b);
  const WildImage wild = placeInTheWild(crop.data(), crop_size, size, placement, sigma, rng);
  return alignFace(wild.rgb.data(), wild.width, wild.height, wild.points, size);
}

std::string writeProbes(const SynthOptions& o, const std::filesystem::path& out,
                        const IdentityParams& id, const std::string& name, int identity,
                        uint64_t photo_seed_stream, JpegEncoder& encoder) {
  namespace fs = std::filesystem;
  std::string rows;
  for (int p = 0; p < o.probe_photos; ++p) {
    const uint64_t photo_seed = mixSeed(o.seed, photo_seed_stream, static_cast<uint64_t>(identity),
                                        static_cast<uint64_t>(p));
    // Difficulty 1 for what stays: expression, lighting, scene.
    const ImageParams clean = cleanProbePhoto(sampleImageParams(photo_seed, id, 1.0));
    const uint64_t align_seed =
        mixSeed(o.seed, kProbeAlignStream, static_cast<uint64_t>(identity), static_cast<uint64_t>(p));
    for (const ProbeSeries& s : probeSeries()) {
      const fs::path dir = out / "probe" / s.name / name;
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) throw DataError("synth: cannot create '" + dir.string() + "': " + ec.message());
      for (int level = 0; level < static_cast<int>(s.levels.size()); ++level) {
        const ImageParams im = degradeProbe(clean, s, level);
        // Every level of a photo draws the same placement and landmark noise pattern (scaled).
        const std::vector<uint8_t> rgb = renderProbe(id, im, s, level, o.size, align_seed);
        const std::vector<uint8_t> jpeg = encoder.encode(rgb.data(), o.size, o.size, im.jpeg_quality);
        char file[64];
        std::snprintf(file, sizeof file, "%s_p%02d_l%d.jpg", name.c_str(), p + 1, level);
        writeFile((dir / file).string(), jpeg.data(), jpeg.size());
        char line[256];
        std::snprintf(line, sizeof line, "probe/%s/%s/%s,%s,%d,%g,%d,%d,%.4f\n", s.name,
                      name.c_str(), file, s.name, level, s.levels[static_cast<size_t>(level)],
                      identity, p + 1, qualityScore(im));
        rows += line;
      }
    }
  }
  return rows;
}

}  // namespace l2face::data::synth
