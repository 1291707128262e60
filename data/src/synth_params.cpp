// Seeded sampling of identities and photo conditions, and the per-image quality score.
#include <algorithm>
#include <cmath>

#include "l2face/data/random.h"
#include "l2face/data/synth_params.h"

namespace l2face::data {
namespace {

constexpr float kPi = 3.14159265358979f;

float uni(Rng& r, double lo, double hi) { return static_cast<float>(r.uniform(lo, hi)); }

Rgb lerp(const Rgb& a, const Rgb& b, float t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}

Rgb jitter(Rng& r, const Rgb& c, double amount) {
  Rgb out;
  for (int k = 0; k < 3; ++k) {
    out[k] = std::clamp(c[k] * static_cast<float>(1.0 + r.normal() * amount), 0.0f, 1.0f);
  }
  return out;
}

// Index drawn with the given relative weights.
int pick(Rng& r, std::initializer_list<double> weights) {
  double total = 0;
  for (double w : weights) total += w;
  double u = r.uniform() * total;
  int i = 0;
  for (double w : weights) {
    if (u < w) return i;
    u -= w;
    ++i;
  }
  return i - 1;
}

// Skin tones along a light-to-dark path (piecewise linear through four anchors).
Rgb skinTone(float t) {
  static const Rgb kAnchors[4] = {
      {0.96f, 0.80f, 0.70f}, {0.80f, 0.60f, 0.46f}, {0.55f, 0.37f, 0.25f}, {0.30f, 0.19f, 0.13f}};
  const float s = std::clamp(t, 0.0f, 0.999f) * 3.0f;
  const int i = static_cast<int>(s);
  return lerp(kAnchors[i], kAnchors[i + 1], s - i);
}

const Rgb kHairColours[] = {
    {0.05f, 0.045f, 0.04f}, {0.16f, 0.1f, 0.06f}, {0.33f, 0.2f, 0.11f}, {0.5f, 0.22f, 0.09f},
    {0.78f, 0.62f, 0.38f},  {0.58f, 0.57f, 0.55f}, {0.86f, 0.85f, 0.82f}};
const Rgb kIrisColours[] = {{0.2f, 0.11f, 0.06f},  {0.36f, 0.22f, 0.1f}, {0.45f, 0.36f, 0.15f},
                            {0.28f, 0.42f, 0.24f}, {0.28f, 0.44f, 0.66f}, {0.45f, 0.5f, 0.55f}};
const Rgb kBackgrounds[] = {{0.55f, 0.55f, 0.55f}, {0.35f, 0.45f, 0.65f}, {0.4f, 0.55f, 0.38f},
                            {0.75f, 0.68f, 0.55f}, {0.55f, 0.33f, 0.28f}, {0.3f, 0.55f, 0.55f},
                            {0.5f, 0.4f, 0.6f},    {0.2f, 0.2f, 0.22f}};
constexpr int kBackgroundFamilies = sizeof(kBackgrounds) / sizeof(kBackgrounds[0]);

}  // namespace

IdentityParams sampleIdentity(uint64_t identity_seed) {
  Rng r(identity_seed);
  IdentityParams id;
  id.face_half_width = uni(r, 0.64, 0.82);
  id.face_half_height = uni(r, 0.93, 1.05);
  id.jaw = uni(r, 0.0, 0.38);
  id.head_depth = uni(r, 1.0, 1.25);
  const float tone = uni(r, 0.0, 1.0);
  id.skin = jitter(r, skinTone(tone), 0.05);
  id.skin[0] = std::min(1.0f, id.skin[0] * uni(r, 0.97, 1.06));  // warm / cool undertone
  id.blush = uni(r, 0.0, 0.12);

  id.eye_spacing = uni(r, 0.29, 0.4);
  id.eye_y = uni(r, -0.2, -0.05);
  id.eye_half_width = uni(r, 0.095, 0.145);
  id.eye_aspect = uni(r, 0.33, 0.6);
  id.eye_tilt = uni(r, -0.15, 0.2);
  // Darker skin tones make dark irises likelier, as in real populations.
  const int iris = tone > 0.5f ? pick(r, {5, 3, 1, 0.3, 0.3, 0.2}) : pick(r, {2, 2, 1.5, 1, 2, 1});
  id.iris = jitter(r, kIrisColours[iris], 0.12);
  id.iris_ratio = uni(r, 0.45, 0.62);

  id.brow_gap = uni(r, 0.1, 0.17);
  id.brow_thickness = uni(r, 0.022, 0.058);
  id.brow_arch = uni(r, -0.01, 0.07);
  id.brow_tilt = uni(r, -0.05, 0.06);
  id.brow_length = uni(r, 1.05, 1.45);

  id.nose_length = uni(r, 0.24, 0.38);
  id.nose_width = uni(r, 0.085, 0.16);

  id.mouth_y = std::max(id.eye_y + id.nose_length + 0.14f, uni(r, 0.4, 0.58));
  id.mouth_half_width = uni(r, 0.16, 0.28);
  id.lip_thickness = uni(r, 0.028, 0.07);
  id.mouth_curvature = uni(r, -0.035, 0.035);
  id.lips = jitter(r, Rgb{id.skin[0] * 0.85f, id.skin[1] * 0.52f, id.skin[2] * 0.55f}, 0.08);

  const int hair =
      tone > 0.45f ? pick(r, {6, 2, 0.6, 0.2, 0.2, 0.5, 0.3}) : pick(r, {1.5, 2, 2, 1, 1.5, 1, 0.6});
  id.hair = jitter(r, kHairColours[hair], 0.1);
  id.hair_style = static_cast<HairStyle>(pick(r, {0.08, 0.15, 0.3, 0.2, 0.17, 0.1}));
  id.hairline = uni(r, -0.78, -0.5);
  if (id.hair_style == HairStyle::kFringe) id.hairline = uni(r, -0.5, -0.33) + id.eye_y + 0.12f;
  id.hair_volume = id.hair_style == HairStyle::kBuzz ? uni(r, 0.0, 0.03) : uni(r, 0.04, 0.16);
  id.hair_part = uni(r, -1.0, 1.0);
  id.widows_peak = r.bernoulli(0.3) ? uni(r, 0.02, 0.08) : 0.0f;
  id.hair_wave = uni(r, 0.0, 1.0);
  id.brow = hair >= 5 ? jitter(r, Rgb{0.35f, 0.33f, 0.3f}, 0.1)
                      : jitter(r, Rgb{id.hair[0] * 0.8f + 0.02f, id.hair[1] * 0.8f + 0.02f,
                                      id.hair[2] * 0.8f + 0.02f},
                               0.08);
  id.facial_hair = static_cast<FacialHair>(pick(r, {0.64, 0.14, 0.08, 0.14}));
  id.ear_size = uni(r, 0.13, 0.19);

  const int blobs = 3 + static_cast<int>(r.below(4));
  for (int i = 0; i < blobs; ++i) {
    SkinBlob b;
    b.x = uni(r, -0.6, 0.6);
    b.y = uni(r, -0.6, 0.85);
    b.radius = uni(r, 0.08, 0.3);
    const float m = uni(r, 0.03, 0.09);
    b.delta = r.bernoulli(0.5) ? Rgb{-m, -m, -0.8f * m} : Rgb{0.5f * m, -0.5f * m, -0.5f * m};
    id.blobs.push_back(b);
  }
  if (r.bernoulli(0.3)) {  // freckles over nose and cheeks
    const int n = 12 + static_cast<int>(r.below(30));
    for (int i = 0; i < n; ++i) {
      SkinDot d;
      d.x = static_cast<float>(r.normal(0.0, 0.28));
      d.y = id.eye_y + 0.2f + static_cast<float>(r.normal(0.0, 0.09));
      d.radius = uni(r, 0.008, 0.016);
      d.darkness = uni(r, 0.12, 0.25);
      id.dots.push_back(d);
    }
  }
  const int moles = static_cast<int>(r.below(4));
  for (int i = 0; i < moles; ++i) {
    SkinDot d;
    d.x = uni(r, -0.55, 0.55);
    d.y = uni(r, -0.5, 0.8);
    d.radius = uni(r, 0.014, 0.03);
    d.darkness = uni(r, 0.45, 0.7);
    id.dots.push_back(d);
  }
  const float age = uni(r, 0.0, 1.0);
  id.wrinkles = age * age;
  id.texture_seed = r.next();
  id.background_family = static_cast<int>(r.below(kBackgroundFamilies));
  return id;
}

ImageParams sampleImageParams(uint64_t image_seed, const IdentityParams& identity,
                              double difficulty) {
  Rng r(image_seed);
  const double d = std::max(0.0, difficulty);
  const double p = std::min(1.0, d);  // probabilities saturate; magnitudes keep growing
  ImageParams im;
  im.yaw = std::clamp(static_cast<float>(r.normal(0.0, 0.3 * d)), -0.9f, 0.9f);
  im.pitch = std::clamp(static_cast<float>(r.normal(0.0, 0.12 * d)), -0.35f, 0.35f);
  im.roll = std::clamp(static_cast<float>(r.normal(0.0, 0.09 * d)), -0.35f, 0.35f);
  im.scale = std::clamp(static_cast<float>(std::exp(r.normal(0.0, 0.07 * d))), 0.8f, 1.25f);
  im.tx = static_cast<float>(r.normal(0.0, 0.035 * d));
  im.ty = static_cast<float>(r.normal(0.0, 0.035 * d));

  const float az = uni(r, 0.0, 2.0 * kPi);
  const float spread = uni(r, 0.2, 0.95);
  im.light_x = std::sin(az) * spread;
  im.light_y = -0.25f + std::cos(az) * spread * 0.5f;
  im.light_strength = std::clamp(static_cast<float>(0.25 + d * r.uniform(-0.15, 0.4)), 0.0f, 0.9f);
  im.gain = static_cast<float>(std::exp(r.normal(0.0, 0.13 * d)));
  im.tint = {static_cast<float>(1.0 + r.normal(0.0, 0.04 * d)), 1.0f,
             static_cast<float>(1.0 + r.normal(0.0, 0.05 * d))};

  im.smile = std::clamp(static_cast<float>(r.normal(0.0, 0.035 * d)), -0.06f, 0.09f);
  im.mouth_open = r.bernoulli(0.25 * p) ? uni(r, 0.01, 0.07) : 0.0f;
  im.eye_open = r.bernoulli(0.05 * p) ? uni(r, 0.0, 0.3)
                                      : std::clamp(1.0f - std::abs(static_cast<float>(
                                                              r.normal(0.0, 0.12 * d))),
                                                   0.5f, 1.0f);
  im.gaze_x = static_cast<float>(r.normal(0.0, 0.3 * d));
  im.gaze_y = static_cast<float>(r.normal(0.0, 0.2 * d));

  const double u = r.uniform();
  const double p_glasses = 0.1 * p, p_sun = 0.04 * p, p_patch = 0.07 * p;
  if (u < p_glasses) {
    im.occlusion = Occlusion::kGlasses;
  } else if (u < p_glasses + p_sun) {
    im.occlusion = Occlusion::kSunglasses;
  } else if (u < p_glasses + p_sun + p_patch) {
    im.occlusion = Occlusion::kPatch;
  }
  im.occluder = r.bernoulli(0.5) ? jitter(r, Rgb{0.08f, 0.07f, 0.07f}, 0.3)
                                 : Rgb{uni(r, 0.1, 0.9), uni(r, 0.1, 0.9), uni(r, 0.1, 0.9)};
  im.patch_w = uni(r, 0.3, 0.65);
  im.patch_h = uni(r, 0.25, 0.6);
  im.patch_x = uni(r, -0.55, 0.55);
  im.patch_y = uni(r, -0.2, 0.9);

  // A person's photos tend to share a background family, but only tend to: a background that
  // always matched the identity would be a shortcut a network learns instead of the face.
  const int own = identity.background_family % kBackgroundFamilies;
  const int other = static_cast<int>(r.below(kBackgroundFamilies));
  const Rgb& family = kBackgrounds[r.bernoulli(0.5 * p) ? other : own];
  im.background = jitter(r, family, 0.08 + 0.12 * d);
  im.clothes = Rgb{uni(r, 0.05, 0.85), uni(r, 0.05, 0.85), uni(r, 0.05, 0.85)};
  im.background_gradient = uni(r, 0.0, 0.3 * p);
  im.background_angle = uni(r, 0.0, 2.0 * kPi);

  im.blur_sigma = r.bernoulli(0.3 * p) ? uni(r, 0.4, 0.4 + 1.3 * d) : 0.0f;
  im.downsample = r.bernoulli(0.25 * p) ? uni(r, 1.3, 1.3 + 2.2 * d) : 1.0f;
  im.noise_sigma = r.bernoulli(0.4 * p) ? uni(r, 0.005, 0.005 + 0.035 * d)
                                        : static_cast<float>(0.004 * d);
  const double q = r.uniform();
  im.jpeg_quality = std::clamp(static_cast<int>(std::lround(95.0 - q * q * 60.0 * d)), 30, 95);
  im.noise_seed = r.next();
  return im;
}

double qualityScore(const ImageParams& im) {
  const double f_blur = std::exp(-0.5 * im.blur_sigma);
  const double f_down = std::pow(std::max(1.0f, im.downsample), -0.7);
  const double f_noise = std::exp(-8.0 * im.noise_sigma);
  const double f_jpeg = std::clamp(0.5 + 0.5 * (im.jpeg_quality - 25) / 70.0, 0.0, 1.0);
  const double c_yaw = std::cos(im.yaw), c_pitch = std::cos(im.pitch);
  const double f_pose = c_yaw * c_yaw * c_pitch;
  double f_occ = 1.0;
  switch (im.occlusion) {
    case Occlusion::kGlasses: f_occ = 0.9; break;
    case Occlusion::kSunglasses: f_occ = 0.65; break;
    case Occlusion::kPatch: f_occ = std::max(0.3, 1.0 - 1.2 * im.patch_w * im.patch_h); break;
    case Occlusion::kNone: break;
  }
  return std::clamp(f_blur * f_down * f_noise * f_jpeg * f_pose * f_occ, 0.0, 1.0);
}

double effectiveBlur(const ImageParams& im) {
  const double down = 0.5 * std::max(0.0, im.downsample - 1.0);
  return std::sqrt(im.blur_sigma * im.blur_sigma + down * down);
}

const char* occlusionName(Occlusion occlusion) {
  switch (occlusion) {
    case Occlusion::kNone: return "none";
    case Occlusion::kGlasses: return "glasses";
    case Occlusion::kSunglasses: return "sunglasses";
    case Occlusion::kPatch: return "patch";
  }
  return "unknown";
}

}  // namespace l2face::data
