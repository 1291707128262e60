// Private: FaceRenderer, the per-pixel evaluator behind renderFace (head geometry and layers).
#pragma once

#include "l2face/data/synth_params.h"

namespace l2face::data::synth {

// Canonical face units per half image side at scale 1: the face (half-height 1) fills 85% of
// the half-height, placing eyes and mouth near the positions of aligned 112x112 crops.
constexpr float kFaceScale = 0.85f;

// A pixel expressed on the head model.
struct HeadPoint {
  float hx = 0, hy = 0;  // head-plane coordinates (inverse of translation, roll and scale)
  float aa = 0;          // size of one pixel in head-plane units
  float head_cov = 0;    // coverage of the head silhouette
  float phi = 0;         // angle around the vertical head axis, 0 = centre of the face
  float xs = 0, ys = 0;  // frontal surface coordinates: where the point sits on an unturned face
  float aa_s = 0;        // pixel size in surface units (grows with foreshortening)
  float facing = 0;      // cos of the angle between surface normal and view (horizontal part)
  float shade = 1;       // lighting multiplier at this point
};

// Evaluates the colour of one pixel. Construction precomputes per-image constants; pixel() is
// const and thread-safe.
class FaceRenderer {
 public:
  FaceRenderer(const IdentityParams& identity, const ImageParams& image, int resolution);

  // Colour at image coordinates (ix, iy) in [-1, 1] (y down), before degradations.
  Rgb pixel(float ix, float iy) const;

 private:
  // Geometry (synth_render.cpp)
  float halfWidth(float y) const;  // frontal half-width of the head at height y
  HeadPoint locate(float ix, float iy) const;
  float lightAt(float nx, float ny, float nz) const;

  // Scene layers behind the face (synth_render.cpp)
  Rgb backgroundAt(float ix, float iy) const;
  void drawHairBack(Rgb& c, const HeadPoint& p) const;
  void drawNeckAndClothes(Rgb& c, const HeadPoint& p) const;
  void drawEarsBehind(Rgb& c, const HeadPoint& p) const;
  float hairBottom() const;

  // The face itself (synth_face.cpp)
  Rgb skinAt(const HeadPoint& p) const;
  void drawEyes(Rgb& c, const HeadPoint& p) const;
  void drawBrows(Rgb& c, const HeadPoint& p) const;
  void drawNose(Rgb& c, const HeadPoint& p) const;
  void drawMouth(Rgb& c, const HeadPoint& p) const;
  void drawFacialHair(Rgb& c, const HeadPoint& p) const;
  void drawEarOnHead(Rgb& c, const HeadPoint& p) const;
  void drawHairFront(Rgb& c, const HeadPoint& p) const;
  float hairStrands(float x, float y) const;

  // In front of everything (synth_face.cpp)
  void drawGlasses(Rgb& c, const HeadPoint& p) const;
  void drawPatch(Rgb& c, const HeadPoint& p) const;

  const IdentityParams& id_;
  const ImageParams& im_;
  float aa_ = 0;              // pixel size in head-plane units
  float cos_roll_ = 1, sin_roll_ = 0;
  float sin_yaw_ = 0, cos_yaw_ = 1;
  float width_gain_ = 1;      // silhouette half-width / frontal half-width under yaw
  float beta_ = 0;            // phase shift of the head angle under yaw
  float light_[3] = {0, 0, 1};
  float brow_y_ = 0, nose_tip_y_ = 0, mouth_curve_ = 0;
};

}  // namespace l2face::data::synth
