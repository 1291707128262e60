// alignedFaceEmbedder: IJB crops decoded, landmark-checked and aligned before the model sees them.
#include "face_embedder.h"

#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

#include "l2face/data/align.h"
#include "l2face/data/jpeg.h"
#include "l2face/eval/errors.h"

namespace l2face::launch {
namespace {

// The landmarks of `face` as data's points, refusing any that lies off the w × h crop.
data::FivePoints checkedPoints(const eval::IjbFace& face, int w, int h) {
  static const char* kNames[10] = {"x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4", "x5", "y5"};
  data::FivePoints points;
  for (int k = 0; k < 5; ++k) {
    const double x = face.points[2 * k], y = face.points[2 * k + 1];
    const int bad = !(x >= 0.0 && x <= w - 1) ? 2 * k : !(y >= 0.0 && y <= h - 1) ? 2 * k + 1 : -1;
    if (bad >= 0) {
      throw eval::EvalError(face.where + ": field '" + kNames[bad] + "' " +
                            std::to_string(face.points[bad]) + " is outside the " +
                            std::to_string(w) + "x" + std::to_string(h) + " crop " + face.image);
    }
    points[k] = {x, y};
  }
  return points;
}

}  // namespace

eval::FaceEmbedder alignedFaceEmbedder(trainer::PixelEmbedder embed, int side, int dim) {
  auto decoder = std::make_shared<data::JpegDecoder>();
  auto pixels = std::make_shared<std::vector<uint8_t>>();
  auto bytes = std::make_shared<std::vector<uint8_t>>();
  auto rgb = std::make_shared<std::vector<uint8_t>>();
  return [=](const std::vector<const eval::IjbFace*>& faces, std::vector<float>& out) {
    const size_t image_bytes = static_cast<size_t>(side) * side * 3;
    pixels->resize(faces.size() * image_bytes);
    for (size_t i = 0; i < faces.size(); ++i) {
      const eval::IjbFace& face = *faces[i];
      std::ifstream in(face.image, std::ios::binary);
      if (!in) throw std::runtime_error("cannot read image " + face.image);
      bytes->assign(std::istreambuf_iterator<char>(in), {});
      const data::ImageSize size = decoder->peek(bytes->data(), bytes->size(), face.image);
      rgb->resize(static_cast<size_t>(size.width) * size.height * 3);
      decoder->decode(bytes->data(), bytes->size(), size.width, size.height, rgb->data(),
                      face.image);
      const std::vector<uint8_t> aligned = data::alignFace(
          rgb->data(), size.width, size.height, checkedPoints(face, size.width, size.height), side);
      std::copy(aligned.begin(), aligned.end(), pixels->begin() + i * image_bytes);
    }
    out.resize(faces.size() * static_cast<size_t>(dim));
    embed(pixels->data(), static_cast<int>(faces.size()), out.data());
  };
}

}  // namespace l2face::launch
