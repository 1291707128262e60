// FaceRenderer's face layers: skin texture, eyes, brows, nose, mouth, facial hair, front hair,
// glasses and occluding patches.
#include <cmath>

#include "synth_math.h"
#include "synth_renderer.h"

namespace l2face::data::synth {
namespace {

constexpr float kHalfPi = 1.5707963f;

}  // namespace

Rgb FaceRenderer::skinAt(const HeadPoint& p) const {
  Rgb c = id_.skin;
  const float x = p.xs, y = p.ys;
  for (const SkinBlob& b : id_.blobs) {
    const float dx = x - b.x, dy = y - b.y;
    const float w = gauss(dx * dx + dy * dy, b.radius);
    for (int k = 0; k < 3; ++k) c[k] += b.delta[k] * w;
  }
  // Cheeks
  for (int side = -1; side <= 1; side += 2) {
    const float dx = x - side * (id_.eye_spacing + 0.05f), dy = y - (id_.eye_y + 0.28f);
    const float w = id_.blush * gauss(dx * dx + dy * dy, 0.16f);
    c[0] += 0.5f * w;
    c[1] -= 0.2f * w;
    c[2] -= 0.15f * w;
  }
  const bool front = std::abs(p.phi) < kHalfPi;
  if (front) {
    for (const SkinDot& d : id_.dots) {
      const float dx = x - d.x, dy = y - d.y;
      if (std::abs(dx) > d.radius + 0.05f || std::abs(dy) > d.radius + 0.05f) continue;
      const float cov = coverage(std::sqrt(dx * dx + dy * dy) - d.radius, p.aa_s * 0.7f);
      c = scaled(c, 1.0f - d.darkness * cov);
    }
  }
  // Age lines: nasolabial folds and forehead lines.
  if (front && id_.wrinkles > 0.02f) {
    for (int side = -1; side <= 1; side += 2) {
      const float dist = segmentDistance(x, y, side * (id_.nose_width + 0.04f), nose_tip_y_ - 0.02f,
                                         side * (id_.mouth_half_width + 0.05f),
                                         id_.mouth_y + 0.06f);
      c = scaled(c, 1.0f - 0.22f * id_.wrinkles * gauss(dist * dist, 0.014f + p.aa_s * 0.5f));
    }
    if (id_.wrinkles > 0.4f && std::abs(x) < 0.4f) {
      for (int k = 0; k < 2; ++k) {
        const float line = brow_y_ - 0.13f - 0.07f * k + 0.06f * (x / 0.4f) * (x / 0.4f);
        const float fade = 1.0f - smoothstep(0.25f, 0.4f, std::abs(x));
        const float dy = y - line;
        c = scaled(c, 1.0f - 0.15f * (id_.wrinkles - 0.4f) * fade *
                                 gauss(dy * dy, 0.009f + p.aa_s * 0.5f));
      }
    }
  }
  const float grain = 1.0f + 0.035f * valueNoise(x * 9.0f, y * 9.0f, id_.texture_seed) +
                      0.02f * valueNoise(x * 31.0f, y * 31.0f, id_.texture_seed + 1);
  // Darkening towards the outline reads as roundness even under flat light.
  return scaled(c, grain * (0.82f + 0.18f * smoothstep(0.0f, 0.6f, p.facing)));
}

void FaceRenderer::drawBrows(Rgb& c, const HeadPoint& p) const {
  const float half_len = id_.eye_half_width * id_.brow_length;
  for (int side = -1; side <= 1; side += 2) {
    const float bx = side * (id_.eye_spacing + 0.015f);
    const float u = side * (p.xs - bx) / half_len;  // -1 inner end, +1 outer end
    if (std::abs(u) > 1.3f) continue;
    // Raised brows go with open eyes and smiles a little: expression moves them.
    const float lift = 0.02f * (im_.eye_open - 0.8f) + 0.15f * im_.smile;
    const float centre = brow_y_ - lift - id_.brow_arch * (1.0f - u * u) - id_.brow_tilt * u;
    float thick = id_.brow_thickness * (1.05f - 0.35f * u);
    thick *= 1.0f - 0.6f * smoothstep(0.55f, 1.0f, u);
    const float d = std::max(std::abs(p.ys - centre) - thick * 0.5f, (std::abs(u) - 1.0f) * half_len);
    const float cov = coverage(d, p.aa_s);
    if (cov <= 0.0f) continue;
    const float hairs = 0.8f + 0.2f * valueNoise(p.xs * 70.0f, p.ys * 25.0f, id_.texture_seed + 9);
    blend(c, id_.brow, 0.9f * cov * hairs);
  }
}

void FaceRenderer::drawEyes(Rgb& c, const HeadPoint& p) const {
  const float ew = id_.eye_half_width;
  const float eh = ew * id_.eye_aspect;
  const Rgb lash{0.07f, 0.05f, 0.045f};
  for (int side = -1; side <= 1; side += 2) {
    const float dx = p.xs - side * id_.eye_spacing;
    const float dy0 = p.ys - id_.eye_y;
    if (std::abs(dx) > ew * 1.9f || std::abs(dy0) > ew * 1.6f) continue;
    const float dy = dy0 + side * id_.eye_tilt * dx;  // outer corners up for positive tilt
    // Socket shadow: the eye sits in a slight hollow.
    c = scaled(c, 1.0f - 0.13f * std::exp(-(dx * dx / (2.2f * ew * ew) +
                                            (dy + 0.2f * ew) * (dy + 0.2f * ew) / (1.3f * ew * ew))));
    const float u = dx / ew;
    const float g = std::max(0.0f, 1.0f - u * u);
    const float lower = eh * 0.75f * std::pow(g, 0.8f);
    const float upper_open = -eh * std::pow(g, 0.7f);
    const float upper = lower + (upper_open - lower) * im_.eye_open;
    // Crease above the lid (stays when the eye closes).
    const float crease = -eh * 1.45f * std::pow(g, 0.6f);
    const float d_crease = std::max(std::abs(dy - crease) - 0.005f, (std::abs(u) - 0.95f) * ew);
    blend(c, scaled(c, 0.72f), 0.4f * coverage(d_crease, p.aa_s));
    const float d_eye = std::max({upper - dy, dy - lower, (std::abs(u) - 1.0f) * ew});
    const float eye_cov = coverage(d_eye, p.aa_s);
    if (eye_cov > 0.0f) {
      Rgb e{0.9f, 0.87f, 0.83f};
      const float icx = im_.gaze_x * ew * 0.35f, icy = im_.gaze_y * eh * 0.3f + 0.1f * eh;
      const float ri = ew * id_.iris_ratio;
      const float dist = std::hypot(dx - icx, dy - icy);
      const float limbus = 1.08f - 0.5f * smoothstep(0.55f, 1.0f, dist / ri);
      const float streaks = 1.0f + 0.08f * std::sin(std::atan2(dy - icy, dx - icx) * 14.0f);
      blend(e, scaled(id_.iris, limbus * streaks), coverage(dist - ri, p.aa_s));
      blend(e, Rgb{0.03f, 0.03f, 0.03f}, coverage(dist - ri * 0.42f, p.aa_s));
      const float hl = std::hypot(dx - icx + 0.35f * ri, dy - icy + 0.35f * ri);
      blend(e, Rgb{1.0f, 1.0f, 1.0f}, 0.8f * coverage(hl - ri * 0.17f, p.aa_s));
      // The upper lid shadows the top of the eyeball.
      e = scaled(e, 1.0f - 0.35f * (1.0f - smoothstep(0.0f, 0.45f * eh, dy - upper)));
      blend(c, e, eye_cov);
    }
    // Lash line along the upper lid, heavier at the outer corner.
    const float outer = std::max(0.0f, side * u);
    const float lash_t = 0.008f + 0.007f * outer + 0.004f * (1.0f - im_.eye_open);
    const float d_lash = std::max(std::abs(dy - upper) - lash_t, (std::abs(u) - 1.06f) * ew);
    blend(c, lash, 0.9f * coverage(d_lash, p.aa_s));
    const float d_low = std::max(std::abs(dy - lower) - 0.004f, (std::abs(u) - 0.98f) * ew);
    blend(c, scaled(c, 0.7f), 0.35f * coverage(d_low, p.aa_s));
  }
}

void FaceRenderer::drawNose(Rgb& c, const HeadPoint& p) const {
  const float y0 = id_.eye_y + 0.02f, yt = nose_tip_y_;
  if (p.ys < y0 - 0.05f || p.ys > yt + 0.14f) return;
  const float nw = id_.nose_width;
  // The nose stands out of the face: under yaw it moves further than the surface around it.
  const float prot = 0.05f + 0.16f * smoothstep(y0, yt, p.ys);
  const float xn = p.xs - prot * sin_yaw_;
  if (std::abs(xn) > nw * 2.5f) return;
  const float along = smoothstep(y0, y0 + 0.08f, p.ys) * (1.0f - smoothstep(yt - 0.01f, yt + 0.03f, p.ys));
  const float w = 0.04f + (nw * 0.72f - 0.04f) * smoothstep(yt - 0.16f, yt, p.ys);
  for (int side = -1; side <= 1; side += 2) {
    // Side walls: darker on the side away from the light, and on the side turned away.
    const float dark = 0.1f + 0.35f * im_.light_strength * std::max(0.0f, -side * light_[0]) +
                       0.3f * std::max(0.0f, side * sin_yaw_);
    const float dd = xn - side * w;
    c = scaled(c, 1.0f - dark * along * gauss(dd * dd, 0.028f + p.aa_s));
  }
  c = scaled(c, 1.0f + 0.06f * along * gauss(xn * xn, 0.025f));
  const float tdy = p.ys - (yt - 0.025f);
  c = scaled(c, 1.0f + 0.06f * gauss(xn * xn * 0.6f + tdy * tdy, 0.045f));
  for (int side = -1; side <= 1; side += 2) {
    const float ring = std::abs(ellipseSdf(xn, p.ys, side * nw * 0.78f, yt + 0.005f, 0.045f, 0.04f));
    const float upper_outer = smoothstep(0.0f, 0.02f, side * (xn - side * nw * 0.7f)) +
                              smoothstep(0.0f, 0.02f, yt - p.ys);
    c = scaled(c, 1.0f - 0.22f * std::min(1.0f, upper_outer) * coverage(ring - 0.004f, p.aa_s));
    const float vis = clamp01(1.0f - 1.5f * side * sin_yaw_);
    const float d = ellipseSdf(xn, p.ys, side * nw * 0.38f, yt + 0.03f, nw * 0.3f, nw * 0.13f);
    blend(c, scaled(id_.skin, 0.28f), 0.8f * vis * coverage(d, p.aa_s));
  }
  const float sdy = p.ys - (yt + 0.065f);
  c = scaled(c, 1.0f - 0.1f * gauss(sdy * sdy, 0.03f) * gauss(xn * xn, nw));
}

void FaceRenderer::drawMouth(Rgb& c, const HeadPoint& p) const {
  const float mw = id_.mouth_half_width * (1.0f + 0.6f * std::max(0.0f, im_.smile));
  const float xm = p.xs - 0.06f * sin_yaw_;
  const float u = xm / mw;
  if (std::abs(u) > 1.3f || std::abs(p.ys - id_.mouth_y) > 0.22f) return;
  const float yc = id_.mouth_y - mouth_curve_ * u * u;
  const float g = std::sqrt(std::max(0.0f, 1.0f - u * u));
  const float o = im_.mouth_open * g;
  const float tu = id_.lip_thickness * 0.85f, tl = id_.lip_thickness * 1.1f;
  const float bow = 1.0f - 0.3f * std::exp(-u * u / 0.02f);  // Cupid's bow dip
  const float top = yc - o * 0.5f - tu * g * bow;
  const float bottom = yc + o * 0.5f + tl * g;
  const float edge = (std::abs(u) - 1.0f) * mw;
  const float lip_cov = coverage(std::max({top - p.ys, p.ys - bottom, edge}), p.aa_s);
  if (lip_cov > 0.0f) {
    Rgb lip = scaled(id_.lips, p.ys < yc ? 0.86f : 1.0f);
    const float hy = p.ys - (yc + o * 0.5f + tl * 0.45f * g);
    lip = scaled(lip, 1.0f + 0.12f * g * gauss(hy * hy, tl * 0.35f + 1e-3f));
    blend(c, lip, 0.95f * lip_cov);
  }
  if (o > 0.002f) {
    const float d_in = std::max({yc - o * 0.5f - p.ys, p.ys - (yc + o * 0.5f),
                                 (std::abs(u) - 0.97f) * mw});
    const float in_cov = coverage(d_in, p.aa_s);
    if (in_cov > 0.0f) {
      const bool teeth = p.ys < yc - o * 0.5f + o * 0.5f && std::abs(u) < 0.75f;
      blend(c, teeth ? Rgb{0.82f, 0.8f, 0.72f} : Rgb{0.22f, 0.06f, 0.06f}, in_cov);
    }
  }
  const float d_line = std::max(std::abs(p.ys - yc) - 0.0035f * (0.5f + g) - o * 0.5f,
                                (std::abs(u) - 1.02f) * mw);
  if (o <= 0.002f) blend(c, scaled(id_.lips, 0.4f), 0.65f * coverage(d_line, p.aa_s));
  for (int side = -1; side <= 1; side += 2) {
    const float dx = xm - side * mw, dy = p.ys - (id_.mouth_y - mouth_curve_);
    c = scaled(c, 1.0f - 0.2f * gauss(dx * dx + dy * dy, 0.018f));
  }
}

void FaceRenderer::drawFacialHair(Rgb& c, const HeadPoint& p) const {
  if (id_.facial_hair == FacialHair::kNone) return;
  if (p.ys < nose_tip_y_) return;
  const float xm = p.xs - 0.06f * sin_yaw_;
  const float mw = id_.mouth_half_width;
  // Moustache: a band resting on the upper lip, as tall as the philtrum in the middle,
  // tapering and drooping past the mouth corners.
  const float reach = mw * 1.18f;
  const float v = std::min(1.0f, std::abs(xm) / reach);
  const float lip_top = id_.mouth_y - mouth_curve_ * v * v - id_.lip_thickness * 0.8f *
                        std::sqrt(std::max(0.0f, 1.0f - v * v)) + 0.03f * smoothstep(0.8f, 1.0f, v);
  const float height = std::max(0.02f, id_.mouth_y - id_.lip_thickness * 0.8f -
                                           (nose_tip_y_ + 0.05f)) * (1.0f - 0.55f * v * v);
  const float moustache = smoothstep(lip_top - height - 0.01f, lip_top - height + 0.015f, p.ys) *
                          (1.0f - smoothstep(lip_top - 0.005f, lip_top + 0.01f, p.ys)) *
                          (1.0f - smoothstep(0.9f, 1.0f, std::abs(xm) / reach));
  float field = moustache;
  if (id_.facial_hair != FacialHair::kMoustache) {
    // Beard: below the mouth in the centre; beside the mouth its upper edge climbs along a line
    // from the mouth corner to the sideburn in front of the ear; it follows the jaw below.
    const float a = std::max(0.2f, halfWidth(id_.eye_y + 0.2f));
    const float corner_y = id_.mouth_y - 0.04f, burn_y = id_.eye_y + 0.18f;
    const float t = smoothstep(mw * 1.05f, a * 0.97f, std::abs(p.xs));
    const float beyond = smoothstep(1.05f, 1.3f, std::abs(p.phi));  // sides of the head
    const float y_b = corner_y + (burn_y - corner_y) * std::max(t, beyond);
    const float beard = smoothstep(y_b - 0.015f, y_b + 0.04f, p.ys) *
                        (1.0f - smoothstep(1.35f, 1.5f, std::abs(p.phi)));
    const float lips = ellipseSdf(xm, p.ys, 0.0f, id_.mouth_y - mouth_curve_ * 0.3f, mw * 1.02f,
                                  id_.lip_thickness * 1.3f + im_.mouth_open * 0.6f);
    field = std::max(field, beard * smoothstep(-0.005f, 0.02f, lips));
  }
  if (field <= 0.0f) return;
  const Rgb colour = id_.hair_style == HairStyle::kBald ? id_.brow : id_.hair;
  float alpha;
  if (id_.facial_hair == FacialHair::kStubble) {
    const float speck = valueNoise(p.xs * 140.0f, p.ys * 140.0f, id_.texture_seed + 21);
    alpha = 0.5f * field * (0.55f + 0.45f * smoothstep(-0.2f, 0.6f, speck));
  } else {
    const float clumps = valueNoise(p.xs * 45.0f, p.ys * 45.0f, id_.texture_seed + 22);
    const float fine = valueNoise(p.xs * 120.0f, p.ys * 120.0f, id_.texture_seed + 23);
    alpha = 0.9f * field * (0.72f + 0.16f * clumps + 0.12f * fine);
  }
  blend(c, scaled(colour, 0.85f), alpha);
}

void FaceRenderer::drawHairFront(Rgb& c, const HeadPoint& p) const {
  const float u = p.phi / kHalfPi;  // -1 .. 1 across the front, beyond = sides / back
  const float au = std::abs(u);
  float cov;
  if (id_.hair_style == HairStyle::kBald) {
    // Horseshoe fringe over the ears and the back of the head.
    const float band = smoothstep(id_.eye_y - 0.33f, id_.eye_y - 0.26f, p.ys) *
                       (1.0f - smoothstep(id_.eye_y + 0.08f, id_.eye_y + 0.15f, p.ys));
    cov = smoothstep(0.8f, 0.92f, au) * band * 0.9f;
  } else {
    float side_y = id_.eye_y - 0.08f;
    switch (id_.hair_style) {
      case HairStyle::kShort: side_y = id_.eye_y + 0.02f; break;
      case HairStyle::kMedium:
      case HairStyle::kFringe: side_y = id_.mouth_y - 0.05f; break;
      case HairStyle::kLong: side_y = id_.face_half_height + 0.6f; break;
      default: break;
    }
    const float line = id_.hairline + 0.1f * u * u - id_.widows_peak * std::exp(-u * u / 0.015f) +
                       0.08f * id_.hair_part * u;
    const float temple = smoothstep(0.62f, 0.93f, au);
    float limit = line + (side_y - line) * temple;
    // Past the side of the head (visible under yaw) the hair runs down to its full length.
    limit += (std::max(limit, hairBottom()) - limit) * smoothstep(0.95f, 1.15f, au);
    cov = coverage(p.ys - limit, std::max(p.aa_s, 0.012f));
  }
  if (cov <= 0.0f) return;
  const float x = p.hx + 0.1f * sin_yaw_;
  blend(c, scaled(id_.hair, hairStrands(x, p.hy) * (0.9f + 0.1f * p.facing)), cov);
}

void FaceRenderer::drawGlasses(Rgb& c, const HeadPoint& p) const {
  if (im_.occlusion != Occlusion::kGlasses && im_.occlusion != Occlusion::kSunglasses) return;
  if (p.head_cov <= 0.0f || std::abs(p.phi) > kHalfPi - 0.05f) return;
  const float ew = id_.eye_half_width;
  const float lw = ew * 1.45f, lh = ew * 1.05f, rim = 0.012f;
  const float xg = p.xs - 0.04f * sin_yaw_;  // lenses stand in front of the eyes
  const float gy = id_.eye_y + 0.02f;
  float frame = 1e9f, lens = 1e9f;
  for (int side = -1; side <= 1; side += 2) {
    const float d = roundedBoxSdf(xg, p.ys, side * id_.eye_spacing, gy, lw, lh, 0.045f);
    lens = std::min(lens, d);
    frame = std::min(frame, std::abs(d) - rim);
    const float arm = segmentDistance(xg, p.ys, side * (id_.eye_spacing + lw), gy - lh * 0.5f,
                                      side * id_.face_half_width * 1.05f, gy - lh * 0.3f);
    frame = std::min(frame, arm - rim * 0.8f);
  }
  const float bridge = segmentDistance(xg, p.ys, -(id_.eye_spacing - lw), gy - lh * 0.45f,
                                       id_.eye_spacing - lw, gy - lh * 0.45f);
  frame = std::min(frame, bridge - rim);
  const float lens_cov = coverage(lens, p.aa_s) * p.head_cov;
  if (im_.occlusion == Occlusion::kSunglasses) {
    const float glint = 0.08f * smoothstep(0.6f, 1.0f,
                                          std::sin((xg + p.ys) * 25.0f) * 0.5f + 0.5f);
    blend(c, Rgb{0.05f + glint, 0.05f + glint, 0.07f + glint}, 0.9f * lens_cov);
  } else {
    blend(c, Rgb{0.95f, 0.97f, 1.0f}, 0.07f * lens_cov);
  }
  blend(c, scaled(im_.occluder, p.shade), coverage(frame, p.aa_s) * p.head_cov);
}

void FaceRenderer::drawPatch(Rgb& c, const HeadPoint& p) const {
  if (im_.occlusion != Occlusion::kPatch) return;
  const float d = roundedBoxSdf(p.hx, p.hy, im_.patch_x, im_.patch_y, im_.patch_w * 0.5f,
                                im_.patch_h * 0.5f, 0.05f);
  const float cov = coverage(d, p.aa);
  if (cov <= 0.0f) return;
  const float ramp = 1.0f - 0.25f * (p.hy - im_.patch_y) / std::max(0.05f, im_.patch_h);
  const float tex = 1.0f + 0.08f * valueNoise(p.hx * 6.0f, p.hy * 6.0f, im_.noise_seed ^ 0x9A7Cu);
  blend(c, scaled(im_.occluder, ramp * tex), cov);
}

}  // namespace l2face::data::synth
