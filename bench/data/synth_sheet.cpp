// synth_sheet: renders a contact sheet of synthetic faces (rows = identities, columns = photos)
// as a binary PPM, for eyeballing the generator.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "l2face/data/random.h"
#include "l2face/data/synth_params.h"
#include "l2face/data/synth_render.h"

int main(int argc, char** argv) {
  using namespace l2face::data;
  if (argc < 2) {
    std::cerr << "usage: synth_sheet OUT.ppm [rows=8] [cols=8] [size=64] [difficulty=1] [seed=1]\n"
                 "  column 0 is a clean frontal photo (difficulty 0) of each identity\n";
    return 2;
  }
  const std::string out = argv[1];
  const int rows = argc > 2 ? std::atoi(argv[2]) : 8;
  const int cols = argc > 3 ? std::atoi(argv[3]) : 8;
  const int size = argc > 4 ? std::atoi(argv[4]) : 64;
  const double difficulty = argc > 5 ? std::atof(argv[5]) : 1.0;
  const uint64_t seed = argc > 6 ? std::strtoull(argv[6], nullptr, 10) : 1;
  const int gap = 2, w = cols * (size + gap), h = rows * (size + gap);
  std::vector<uint8_t> sheet(static_cast<size_t>(w) * h * 3, 255);
  for (int r = 0; r < rows; ++r) {
    const IdentityParams id = sampleIdentity(mixSeed(seed, 0x1D7A1, r));
    for (int c = 0; c < cols; ++c) {
      const ImageParams im =
          sampleImageParams(mixSeed(seed, 0x13A7A1, r, c), id, c == 0 ? 0.0 : difficulty);
      const std::vector<uint8_t> rgb = renderFace(id, im, size);
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          for (int k = 0; k < 3; ++k)
            sheet[((static_cast<size_t>(r) * (size + gap) + y) * w + c * (size + gap) + x) * 3 +
                  k] = rgb[(y * size + x) * 3 + k];
    }
  }
  std::ofstream f(out, std::ios::binary);
  f << "P6\n" << w << " " << h << "\n255\n";
  f.write(reinterpret_cast<const char*>(sheet.data()), static_cast<std::streamsize>(sheet.size()));
  if (!f) {
    std::cerr << "synth_sheet: cannot write " << out << "\n";
    return 1;
  }
  return 0;
}
