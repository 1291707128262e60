// embed: per-image embeddings of a checkpoint — feature norms as CSV, features as .npy.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "l2face/trainer/embedding_model.h"
#include "l2face/trainer/file_embedder.h"

namespace fs = std::filesystem;

namespace l2face::launch {
namespace {

struct EmbedArgs {
  std::string checkpoint;
  std::string images;
  std::string out;
  std::string features;
  std::string pixels;
  std::string device = "auto";
  int batch_size = 128;
  bool flip = false;
};

bool isJpeg(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg";
}

// NumPy .npy version 1.0: magic, header length, a dict literal padded to 64 bytes, raw data.
void writeNpy(const std::string& path, const char* descr, const void* data, size_t bytes,
              const std::vector<size_t>& shape) {
  std::string dims;
  for (size_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': (" +
                       dims.substr(0, dims.size() - (shape.size() > 1 ? 2 : 1)) + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff)).put(static_cast<char>(len >> 8));
  out << header;
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw std::runtime_error("cannot write " + path);
}

int runEmbed(const EmbedArgs& a) {
  if (!fs::is_directory(a.images))
    throw std::runtime_error("--images " + a.images + " is not a directory");
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(a.images)) {
    if (e.is_regular_file() && isJpeg(e.path())) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error("no .jpg images under " + a.images);
  auto model = trainer::EmbeddingModel::load(a.checkpoint, a.device);
  const int dim = model->dim();
  const size_t image_bytes = static_cast<size_t>(model->inputSize()) * model->inputSize() * 3;
  std::vector<uint8_t> pixels;  // with --save-pixels: every decoded image, in file order
  eval::Embedder embed = trainer::fileEmbedder(
      [&](const uint8_t* nhwc, int n, float* out) {
        if (!a.pixels.empty()) pixels.insert(pixels.end(), nhwc, nhwc + n * image_bytes);
        model->embed(nhwc, n, a.flip, out);
      },
      model->inputSize(), dim);

  std::vector<float> all;
  all.reserve(files.size() * dim);
  std::vector<float> chunk;
  for (size_t start = 0; start < files.size(); start += a.batch_size) {
    std::vector<std::string> paths;
    for (size_t i = start; i < std::min(files.size(), start + a.batch_size); ++i) {
      paths.push_back(files[i].string());
    }
    embed(paths, chunk);
    all.insert(all.end(), chunk.begin(), chunk.end());
  }
  std::ofstream csv(a.out, std::ios::trunc);
  csv << "path,norm\n";
  for (size_t i = 0; i < files.size(); ++i) {
    double sq = 0;
    for (int k = 0; k < dim; ++k) sq += double(all[i * dim + k]) * all[i * dim + k];
    csv << fs::relative(files[i], a.images).generic_string() << "," << std::sqrt(sq) << "\n";
  }
  if (!csv) throw std::runtime_error("cannot write " + a.out);
  if (!a.features.empty()) {
    writeNpy(a.features, "<f4", all.data(), all.size() * sizeof(float),
             {files.size(), static_cast<size_t>(dim)});
  }
  if (!a.pixels.empty()) {
    const size_t side = static_cast<size_t>(model->inputSize());
    writeNpy(a.pixels, "|u1", pixels.data(), pixels.size(), {files.size(), side, side, 3});
  }
  std::cout << "embedded " << files.size() << " images with checkpoint " << model->checkpointDir()
            << " (step " << model->step() << ", " << dim << "-d) -> " << a.out << "\n";
  return kExitOk;
}

}  // namespace

void addEmbedCommands(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<EmbedArgs>();
  auto* e = app.add_subcommand(
      "embed", "Embed every image under a folder: feature norms (CSV), features (.npy)");
  e->add_option("--checkpoint", a->checkpoint, "Checkpoint directory, or a run directory (newest)")
      ->required();
  e->add_option("--images", a->images, "Folder searched recursively for .jpg/.jpeg images")
      ->required();
  e->add_option("--out", a->out, "CSV to write: path (relative to --images),norm")->required();
  e->add_option("--features", a->features, "Also write the N × d float32 features as .npy");
  e->add_option("--save-pixels", a->pixels,
                "Also write the decoded input images as N × S × S × 3 uint8 RGB .npy (what the "
                "network gets, before (x − 127.5)/128), to reproduce the features elsewhere");
  e->add_option("--batch-size", a->batch_size, "Embedding batch size")->check(CLI::Range(1, 65536));
  e->add_option("--device", a->device, "auto | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  e->add_flag("--flip", a->flip, "Add the mirrored image's embedding (off: the raw feature f(x))");
  out.push_back({e, [a] { return runEmbed(*a); }});
}

}  // namespace l2face::launch
