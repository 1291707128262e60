// Reading and decoding image files into one pixel batch for an embedding function.
#include "l2face/trainer/file_embedder.h"

#include <fstream>
#include <memory>
#include <stdexcept>

#include "l2face/data/jpeg.h"

namespace l2face::trainer {

eval::Embedder fileEmbedder(PixelEmbedder embed, int side, int dim) {
  auto decoder = std::make_shared<data::JpegDecoder>();
  auto pixels = std::make_shared<std::vector<uint8_t>>();
  auto bytes = std::make_shared<std::vector<uint8_t>>();
  return [=](const std::vector<std::string>& paths, std::vector<float>& out) {
    const size_t image_bytes = static_cast<size_t>(side) * side * 3;
    pixels->resize(paths.size() * image_bytes);
    for (size_t i = 0; i < paths.size(); ++i) {
      std::ifstream in(paths[i], std::ios::binary);
      if (!in) throw std::runtime_error("cannot read image " + paths[i]);
      bytes->assign(std::istreambuf_iterator<char>(in), {});
      decoder->decode(bytes->data(), bytes->size(), side, side, pixels->data() + i * image_bytes,
                      paths[i]);
    }
    out.resize(paths.size() * static_cast<size_t>(dim));
    embed(pixels->data(), static_cast<int>(paths.size()), out.data());
  };
}

eval::BytesEmbedder bytesEmbedder(PixelEmbedder embed, int side, int dim) {
  auto decoder = std::make_shared<data::JpegDecoder>();
  auto pixels = std::make_shared<std::vector<uint8_t>>();
  return [=](const std::vector<eval::EncodedImage>& images, std::vector<float>& out) {
    const size_t image_bytes = static_cast<size_t>(side) * side * 3;
    pixels->resize(images.size() * image_bytes);
    for (size_t i = 0; i < images.size(); ++i) {
      decoder->decode(images[i].bytes->data(), images[i].bytes->size(), side, side,
                      pixels->data() + i * image_bytes, images[i].name);
    }
    out.resize(images.size() * static_cast<size_t>(dim));
    embed(pixels->data(), static_cast<int>(images.size()), out.data());
  };
}

}  // namespace l2face::trainer
