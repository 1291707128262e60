// renderFace and the FaceRenderer's head geometry, scene layers behind the face and compositing.
#include "l2face/data/synth_render.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "l2face/data/image_ops.h"
#include "l2face/data/random.h"
#include "synth_math.h"
#include "synth_renderer.h"

namespace l2face::data {
namespace synth {
namespace {

constexpr float kPi = 3.14159265358979f;
constexpr float kEarAngle = 1.45f;  // ears sit just in front of the head's widest point

// Separable Gaussian blur of an HWC float image (clamp-to-edge).
void gaussianBlur(std::vector<float>& img, int size, float sigma) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3.0f * sigma)));
  std::vector<float> kernel(2 * radius + 1);
  float sum = 0.0f;
  for (int i = -radius; i <= radius; ++i) {
    kernel[i + radius] = std::exp(-0.5f * i * i / (sigma * sigma));
    sum += kernel[i + radius];
  }
  for (auto& k : kernel) k /= sum;
  std::vector<float> tmp(img.size());
  auto at = [size](int x, int y, int c) {
    return (std::clamp(y, 0, size - 1) * size + std::clamp(x, 0, size - 1)) * 3 + c;
  };
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      for (int c = 0; c < 3; ++c) {
        float acc = 0.0f;
        for (int i = -radius; i <= radius; ++i) acc += kernel[i + radius] * img[at(x + i, y, c)];
        tmp[(y * size + x) * 3 + c] = acc;
      }
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      for (int c = 0; c < 3; ++c) {
        float acc = 0.0f;
        for (int i = -radius; i <= radius; ++i) acc += kernel[i + radius] * tmp[at(x, y + i, c)];
        img[(y * size + x) * 3 + c] = acc;
      }
}

}  // namespace

FaceRenderer::FaceRenderer(const IdentityParams& identity, const ImageParams& image,
                           int resolution)
    : id_(identity), im_(image) {
  aa_ = (2.0f / resolution) / (kFaceScale * image.scale);
  cos_roll_ = std::cos(image.roll);
  sin_roll_ = std::sin(image.roll);
  sin_yaw_ = std::sin(image.yaw);
  cos_yaw_ = std::cos(image.yaw);
  // Cross-section x = a sin(phi), z = depth * a cos(phi) turned by yaw projects to
  // x' = a * width_gain * sin(phi + beta): one amplitude and one phase for the whole head.
  const float depth = identity.head_depth;
  width_gain_ = std::sqrt(cos_yaw_ * cos_yaw_ + depth * depth * sin_yaw_ * sin_yaw_);
  beta_ = std::atan2(depth * sin_yaw_, cos_yaw_);
  const float lz = std::sqrt(std::max(0.05f, 1.0f - image.light_x * image.light_x -
                                                  image.light_y * image.light_y));
  const float norm = std::sqrt(image.light_x * image.light_x + image.light_y * image.light_y +
                               lz * lz);
  light_[0] = image.light_x / norm;
  light_[1] = image.light_y / norm;
  light_[2] = lz / norm;
  brow_y_ = identity.eye_y - identity.brow_gap;
  nose_tip_y_ = identity.eye_y + identity.nose_length;
  mouth_curve_ = identity.mouth_curvature + image.smile;
}

float FaceRenderer::halfWidth(float y) const {
  const float t = y / id_.face_half_height;
  const float at = std::abs(t);
  if (at >= 1.0f) return 0.0f;
  if (t < 0.0f) {
    // Superellipse above the centre: a broad forehead and cranium.
    return id_.face_half_width * std::pow(1.0f - std::pow(at, 2.4f), 1.0f / 2.4f);
  }
  return id_.face_half_width * std::sqrt(1.0f - t * t) * (1.0f - id_.jaw * t * t);
}

float FaceRenderer::lightAt(float nx, float ny, float nz) const {
  const float k = im_.light_strength;
  const float d = std::max(0.0f, nx * light_[0] + ny * light_[1] + nz * light_[2]);
  return (1.0f - k) + k * (0.25f + d);
}

HeadPoint FaceRenderer::locate(float ix, float iy) const {
  HeadPoint p;
  const float px = ix - im_.tx, py = iy - im_.ty;
  const float inv = 1.0f / (kFaceScale * im_.scale);
  p.hx = (cos_roll_ * px + sin_roll_ * py) * inv;
  p.hy = (-sin_roll_ * px + cos_roll_ * py) * inv;
  p.aa = aa_;
  const float b = id_.face_half_height;
  const float a_y = halfWidth(p.hy);
  const float r = a_y * width_gain_;
  float d;
  if (a_y <= 0.0f) {
    d = std::hypot(p.hx, std::abs(p.hy) - b);
  } else {
    // Horizontal distance normalised by the outline's slope: a proper pixel-wide edge even
    // where the outline runs almost horizontally (chin, crown).
    const float h = 0.004f;
    const float slope = (halfWidth(p.hy + h) - halfWidth(p.hy - h)) / (2 * h) * width_gain_;
    d = (std::abs(p.hx) - r) / std::sqrt(1.0f + std::min(slope * slope, 400.0f));
  }
  p.head_cov = coverage(d, aa_);
  float ang;  // phi + beta: angle of the surface normal from the view direction
  if (r > 1e-4f) {
    ang = std::asin(std::clamp(p.hx / r, -1.0f, 1.0f));
    p.phi = ang - beta_;
    p.xs = a_y * std::sin(p.phi);
    p.facing = std::cos(ang);
    const float stretch = std::abs(a_y * std::cos(p.phi)) / std::max(0.05f, r * p.facing);
    p.aa_s = aa_ * std::clamp(stretch, 1.0f, 6.0f);
    // Pitch moves the features up or down relative to the outline, most at the centre.
    p.ys = p.hy - im_.pitch * 0.22f * std::max(0.0f, std::cos(p.phi));
    const float ny = std::clamp(p.hy / b, -1.0f, 1.0f) * 0.85f;
    const float hn = std::sqrt(1.0f - ny * ny);
    p.shade = lightAt(std::sin(ang) * hn, ny, p.facing * hn);
  } else {
    p.xs = p.hx;
    p.ys = p.hy;
    p.aa_s = aa_;
    // Outside the head (hair volume): normal of a slightly larger ellipsoid.
    const float nx = std::clamp(p.hx / (id_.face_half_width * width_gain_ + 0.25f), -1.0f, 1.0f);
    const float ny = std::clamp(p.hy / (b + 0.25f), -1.0f, 1.0f);
    p.shade = lightAt(nx, ny, std::sqrt(std::max(0.0f, 1.0f - nx * nx - ny * ny)));
  }
  if (r <= 1e-4f) p.phi = p.hx >= 0 ? kPi / 2 : -kPi / 2;
  return p;
}

Rgb FaceRenderer::backgroundAt(float ix, float iy) const {
  const float g = 1.0f + im_.background_gradient *
                             (std::cos(im_.background_angle) * ix +
                              std::sin(im_.background_angle) * iy);
  const float n = 1.0f + 0.07f * valueNoise(ix * 1.7f + 11.0f, iy * 1.7f + 5.0f,
                                             im_.noise_seed ^ 0xB16B00B5ULL);
  return scaled(im_.background, g * n);
}

float FaceRenderer::hairBottom() const {
  switch (id_.hair_style) {
    case HairStyle::kBald: return -10.0f;
    case HairStyle::kBuzz: return id_.eye_y + 0.05f;
    case HairStyle::kShort: return id_.eye_y + 0.2f;
    case HairStyle::kMedium:
    case HairStyle::kFringe: return id_.mouth_y - 0.02f;
    case HairStyle::kLong: return id_.face_half_height + 0.6f;
  }
  return 0.0f;
}

float FaceRenderer::hairStrands(float x, float y) const {
  // Strands radiate from a point above the crown; waviness bends them with value noise.
  const float ang = std::atan2(x, y + 1.5f);
  const float freq = 30.0f + 35.0f * id_.hair_wave;
  const float bend = (1.0f + 4.0f * id_.hair_wave) *
                     valueNoise(x * 3.0f, y * 3.0f, id_.texture_seed ^ 0x4A1Bu);
  const float s = std::sin(ang * freq + bend);
  const float clumps = valueNoise(x * 9.0f, y * 9.0f, id_.texture_seed ^ 0x77u);
  // A soft sheen band across the crown reads as hair rather than a painted cap.
  const float sheen = 0.08f * std::exp(-(y + 0.55f) * (y + 0.55f) / 0.03f);
  return 0.86f + 0.04f * s + 0.08f * clumps + sheen;
}

void FaceRenderer::drawHairBack(Rgb& c, const HeadPoint& p) const {
  if (id_.hair_style == HairStyle::kBald) return;
  const float vol = id_.hair_volume;
  const float b_top = id_.face_half_height + 1.4f * vol;
  // The hair mass sits over the back of the skull, which moves against the face under yaw.
  const float x = p.hx + 0.1f * sin_yaw_;
  const float w0 = (id_.face_half_width + vol) * width_gain_;
  float w;
  if (p.hy < 0.0f) {
    const float t = std::min(1.0f, -p.hy / b_top);
    w = w0 * std::pow(1.0f - std::pow(t, 2.4f), 1.0f / 2.4f);
  } else {
    const float flare = id_.hair_style == HairStyle::kLong ? 0.18f : 0.0f;
    w = w0 * (1.0f + flare * p.hy);
  }
  const float d_side = std::abs(x) - w;
  const float d_top = -p.hy - b_top;
  const float cov = coverage(std::max(d_side, d_top), p.aa * 1.5f) *
                    coverage(p.hy - hairBottom(), std::max(p.aa, 0.05f));
  if (cov <= 0.0f) return;
  blend(c, scaled(id_.hair, 0.72f * hairStrands(x, p.hy) * p.shade), cov);
}

void FaceRenderer::drawNeckAndClothes(Rgb& c, const HeadPoint& p) const {
  const float nw = id_.face_half_width * 0.46f * (1.0f + 0.3f * smoothstep(1.0f, 1.35f, p.hy));
  const float d_neck = std::max(std::abs(p.hx) - nw, 0.3f - p.hy);
  const float neck_cov = coverage(d_neck, p.aa);
  if (neck_cov > 0.0f) {
    // Darker than the face: it sits in the chin's shadow.
    const float shadow = 0.62f + 0.12f * smoothstep(0.6f, 1.3f, p.hy);
    blend(c, scaled(id_.skin, shadow * (1.0f - 0.2f * std::abs(p.hx) / nw)), neck_cov);
  }
  const float neckline = 1.03f + 0.42f * (1.0f - smoothstep(0.1f, 0.7f, std::abs(p.hx)));
  const float cloth_cov = coverage(neckline - p.hy, p.aa);
  if (cloth_cov > 0.0f) {
    blend(c, scaled(im_.clothes, 1.0f - 0.15f * std::abs(p.hx)), cloth_cov);
  }
}

// Ears are flaps on the sides of the head: edge-on from the front (sticking out of the outline),
// full width when the head turns the ear towards the viewer. The same ellipse is drawn behind
// the head (protruding part) and, when the ear faces the viewer, on top of the head.
static float earCoverage(const IdentityParams& id, float width_gain, float beta, float half_w,
                         const HeadPoint& p, int side, float* inner, float* facing) {
  const float ang = side * kEarAngle + beta;
  *facing = std::cos(ang);
  if (std::abs(ang) >= kPi / 2) return 0.0f;
  const float ear_y = id.eye_y + 0.13f;
  const float r = half_w * width_gain;
  const float s = std::sin(ang);
  const float cx = r * s + (s >= 0 ? 1.0f : -1.0f) * id.ear_size * 0.3f * std::abs(s);
  const float rx = id.ear_size * (0.3f + 0.45f * *facing);
  const float ry = id.ear_size;
  const float cov = coverage(ellipseSdf(p.hx, p.hy, cx, ear_y, rx, ry), p.aa);
  *inner = coverage(ellipseSdf(p.hx, p.hy, cx - 0.25f * rx * (s >= 0 ? 1 : -1), ear_y + 0.01f,
                               rx * 0.5f, ry * 0.6f),
                    p.aa);
  return cov;
}

void FaceRenderer::drawEarsBehind(Rgb& c, const HeadPoint& p) const {
  const float half_w = halfWidth(id_.eye_y + 0.13f);
  for (int side = -1; side <= 1; side += 2) {
    float inner = 0, facing = 0;
    const float cov = earCoverage(id_, width_gain_, beta_, half_w, p, side, &inner, &facing);
    if (cov <= 0.0f) continue;
    Rgb ear = scaled(id_.skin, 0.88f * p.shade);
    blend(ear, scaled(id_.skin, 0.62f * p.shade), inner * 0.7f);
    blend(c, ear, cov);
  }
}

void FaceRenderer::drawEarOnHead(Rgb& c, const HeadPoint& p) const {
  const float half_w = halfWidth(id_.eye_y + 0.13f);
  for (int side = -1; side <= 1; side += 2) {
    float inner = 0, facing = 0;
    const float cov = earCoverage(id_, width_gain_, beta_, half_w, p, side, &inner, &facing);
    const float vis = smoothstep(0.15f, 0.45f, facing);
    if (cov <= 0.0f || vis <= 0.0f) continue;
    Rgb ear = scaled(id_.skin, 0.93f);
    blend(ear, scaled(id_.skin, 0.65f), inner * 0.7f);
    blend(c, ear, cov * vis);
  }
}

Rgb FaceRenderer::pixel(float ix, float iy) const {
  Rgb c = backgroundAt(ix, iy);
  const HeadPoint p = locate(ix, iy);
  drawHairBack(c, p);
  drawNeckAndClothes(c, p);
  drawEarsBehind(c, p);
  if (p.head_cov > 0.0f) {
    Rgb f = skinAt(p);
    if (std::abs(p.phi) < kPi / 2 - 0.05f) {
      drawBrows(f, p);
      drawEyes(f, p);
      drawNose(f, p);
      drawMouth(f, p);
    }
    drawFacialHair(f, p);  // fades out on its own towards the back of the head
    drawEarOnHead(f, p);
    drawHairFront(f, p);
    blend(c, scaled(f, p.shade), p.head_cov);
  }
  drawGlasses(c, p);
  drawPatch(c, p);
  for (int k = 0; k < 3; ++k) c[k] *= im_.gain * im_.tint[k];
  return c;
}

}  // namespace synth

std::vector<uint8_t> renderFace(const IdentityParams& identity, const ImageParams& image,
                                int size) {
  if (size < 8) throw std::invalid_argument("renderFace: size must be >= 8, got " +
                                            std::to_string(size));
  // Down-sampling degradation: render with fewer pixels, then scale back up (information lost,
  // like a low-resolution camera), rather than blurring a full-resolution render.
  int res = size;
  if (image.downsample > 1.01f) {
    res = std::max(8, static_cast<int>(std::lround(size / image.downsample)));
  }
  const synth::FaceRenderer renderer(identity, image, res);
  std::vector<float> img(static_cast<size_t>(res) * res * 3);
  for (int y = 0; y < res; ++y) {
    const float iy = (y + 0.5f) / res * 2.0f - 1.0f;
    for (int x = 0; x < res; ++x) {
      const float ix = (x + 0.5f) / res * 2.0f - 1.0f;
      const Rgb c = renderer.pixel(ix, iy);
      float* out = &img[(static_cast<size_t>(y) * res + x) * 3];
      out[0] = c[0];
      out[1] = c[1];
      out[2] = c[2];
    }
  }
  if (res != size) {
    std::vector<float> up(static_cast<size_t>(size) * size * 3);
    resizeImage(img.data(), res, res, up.data(), size, size, 3);
    img.swap(up);
  }
  const float sigma = image.blur_sigma * size / 112.0f;  // blur is specified at 112 px
  if (sigma > 0.05f) synth::gaussianBlur(img, size, sigma);
  std::vector<uint8_t> out(img.size());
  Rng rng(image.noise_seed);
  for (size_t i = 0; i < img.size(); ++i) {
    float v = img[i];
    if (image.noise_sigma > 0.0f) v += image.noise_sigma * static_cast<float>(rng.normal());
    out[i] = static_cast<uint8_t>(std::lround(synth::clamp01(v) * 255.0f));
  }
  return out;
}

}  // namespace l2face::data
