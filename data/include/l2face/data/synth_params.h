// Parameters of the synthetic face generator: who a face is (IdentityParams) and how one photo of
// it was taken (ImageParams), with their seeded samplers and the per-image quality score.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace l2face::data {

using Rgb = std::array<float, 3>;  // linear-ish colour, components in [0, 1]

// Canonical face coordinates: x to the viewer's right, y down, origin at the face centre, the
// face half-height ~1. A point is drawn on a head whose horizontal cross-section is an ellipse
// (half-width from the face outline, depth ratio `head_depth`), which is what makes yaw work.

struct SkinBlob {  // low-frequency identity texture: a soft Gaussian tint on the face
  float x = 0, y = 0, radius = 0.2f;
  Rgb delta{};  // added colour at the centre (can be negative)
};

struct SkinDot {  // freckle or mole
  float x = 0, y = 0, radius = 0.015f;
  float darkness = 0.3f;  // fraction of the skin colour removed at the centre
};

enum class HairStyle : int { kBald = 0, kBuzz, kShort, kMedium, kLong, kFringe };
enum class FacialHair : int { kNone = 0, kStubble, kMoustache, kBeard };

// Everything that stays the same across the photos of one person.
struct IdentityParams {
  // Face outline
  float face_half_width = 0.74f;   // a
  float face_half_height = 1.0f;   // b
  float jaw = 0.15f;               // narrowing of the lower face (0 = oval, 0.35 = pointed)
  float head_depth = 1.1f;         // head depth / width, controls how yaw reveals the sides
  Rgb skin{0.8f, 0.62f, 0.5f};
  float blush = 0.05f;             // cheek redness
  // Eyes (centres at x = +-eye_spacing, y = eye_y)
  float eye_spacing = 0.34f;
  float eye_y = -0.12f;
  float eye_half_width = 0.12f;
  float eye_aspect = 0.45f;        // half-height / half-width of the open eye
  float eye_tilt = 0.0f;           // outer corners up (+) or down (-)
  Rgb iris{0.35f, 0.22f, 0.12f};
  float iris_ratio = 0.55f;        // iris radius / eye half-width
  // Eyebrows
  float brow_gap = 0.14f;          // above the eye centre
  float brow_thickness = 0.04f;
  float brow_arch = 0.04f;
  float brow_tilt = 0.0f;
  float brow_length = 1.25f;       // half-length / eye half-width
  Rgb brow{0.2f, 0.14f, 0.1f};
  // Nose
  float nose_length = 0.3f;        // from eye line to the tip
  float nose_width = 0.12f;        // half-width at the nostrils
  // Mouth
  float mouth_y = 0.5f;
  float mouth_half_width = 0.22f;
  float lip_thickness = 0.05f;
  float mouth_curvature = 0.0f;    // corners up (+) / down (-), at rest
  Rgb lips{0.7f, 0.35f, 0.33f};
  // Hair
  HairStyle hair_style = HairStyle::kShort;
  Rgb hair{0.15f, 0.1f, 0.07f};
  float hairline = -0.55f;         // y of the hairline at the centre
  float hair_volume = 0.08f;       // how far hair stands out from the head
  float hair_part = 0.0f;          // side-part offset of the hairline shape
  float widows_peak = 0.0f;
  float hair_wave = 0.5f;          // strand frequency / waviness of the texture
  FacialHair facial_hair = FacialHair::kNone;
  float ear_size = 0.16f;
  // Identity texture
  std::vector<SkinBlob> blobs;
  std::vector<SkinDot> dots;      // freckles and moles
  float wrinkles = 0.0f;          // nasolabial fold / forehead line strength (age)
  uint64_t texture_seed = 0;      // value-noise seed of skin, hair and beard texture
  // Background family (a hue the person's photos tend to share, shared by many identities)
  int background_family = 0;
};

enum class Occlusion : int { kNone = 0, kGlasses, kSunglasses, kPatch };

// Everything that changes from one photo of a person to the next.
struct ImageParams {
  // Pose and framing
  float yaw = 0.0f;          // radians, + turns the face towards the viewer's right
  float pitch = 0.0f;        // radians, + looks down (vertical feature shift)
  float roll = 0.0f;         // radians, in-plane rotation
  float scale = 1.0f;        // face size relative to the canonical framing
  float tx = 0.0f, ty = 0.0f;  // translation, in units of half the image side
  // Illumination
  float light_x = 0.0f, light_y = -0.3f;  // direction (z towards the viewer is derived)
  float light_strength = 0.3f;            // 0 = flat ambient, 1 = hard side light
  float gain = 1.0f;                      // overall exposure
  Rgb tint{1.0f, 1.0f, 1.0f};             // white balance
  // Expression
  float smile = 0.0f;        // added mouth curvature
  float mouth_open = 0.0f;
  float eye_open = 1.0f;     // 0 closed .. 1 open
  float gaze_x = 0.0f, gaze_y = 0.0f;
  // Occlusion
  Occlusion occlusion = Occlusion::kNone;
  Rgb occluder{0.1f, 0.1f, 0.1f};
  float patch_x = 0, patch_y = 0, patch_w = 0, patch_h = 0;  // canonical face coordinates
  // Scene
  Rgb background{0.5f, 0.5f, 0.5f};
  Rgb clothes{0.3f, 0.3f, 0.4f};
  float background_gradient = 0.0f, background_angle = 0.0f;
  // Degradations
  float blur_sigma = 0.0f;   // Gaussian blur sigma in pixels of a 112-px image (scales with size)
  float downsample = 1.0f;   // rendered at size / downsample, then scaled back up (1 = none)
  float noise_sigma = 0.0f;  // additive Gaussian noise, fraction of full scale
  int jpeg_quality = 95;
  uint64_t noise_seed = 0;
};

// Samples a person from a seed. Same seed -> same person on every platform.
IdentityParams sampleIdentity(uint64_t identity_seed);

// Samples one photo's conditions. `difficulty` scales every variation magnitude and degradation
// probability (0 = frontal, clean, identical framing; 1 = default; 2 = hard). `identity` supplies
// the background family.
ImageParams sampleImageParams(uint64_t image_seed, const IdentityParams& identity,
                              double difficulty);

// Recognisability of a photo in [0, 1] (1 = frontal, sharp, clean, unoccluded), the product of
// per-degradation factors: blur, down-sampling, noise, JPEG quality, yaw/pitch, occlusion.
double qualityScore(const ImageParams& image);

// Effective blur of an image in output pixels: Gaussian sigma combined with the softening of
// down-sampling (~0.5 px per unit of the factor above 1). Written to quality.csv.
double effectiveBlur(const ImageParams& image);

const char* occlusionName(Occlusion occlusion);

}  // namespace l2face::data
