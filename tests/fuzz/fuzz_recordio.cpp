// libFuzzer target: insightface RecordIO reading (.idx parsing, record framing, IRHeader payloads,
// the meta record, the property file) through RecordIODataset, from files made of the input.
//
// Input layout: u16 idx_len (little-endian), u8 property_len, idx_len bytes of .idx text,
// property_len bytes of the property file (0: no property file), then the .rec bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz_files.h"
#include "l2face/data/errors.h"
#include "l2face/data/recordio.h"

using l2face::fuzz::workDir;
using l2face::fuzz::writeBytes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace l2face::data;
  if (size < 3) return 0;
  const size_t idx_len = std::min<size_t>(data[0] | (size_t{data[1]} << 8), size - 3);
  const size_t prop_len = std::min<size_t>(data[2], size - 3 - idx_len);
  const uint8_t* idx = data + 3;
  const uint8_t* prop = idx + idx_len;
  const uint8_t* rec = prop + prop_len;
  const size_t rec_len = size - 3 - idx_len - prop_len;

  const std::string dir = workDir("l2face_fuzz_rec");
  const std::string rec_path = dir + "/train.rec";
  writeBytes(rec_path, rec, rec_len);
  writeBytes(dir + "/train.idx", idx, idx_len);
  std::error_code ec;
  std::filesystem::remove(dir + "/property", ec);
  if (prop_len > 0) writeBytes(dir + "/property", prop, prop_len);

  // The framing and payload parsers on the raw bytes too.
  try {
    parsePayload(rec, rec_len, "fuzz");
  } catch (const DataError&) {
  }
  try {
    RecordIODataset ds({rec_path});
    std::vector<uint8_t> bytes;
    const size_t n = std::min<size_t>(ds.size(), 64);
    for (size_t i = 0; i < n; ++i) {
      try {
        const int label = ds.label(i);
        const int label2 = ds.readSample(i, bytes);
        if (label != label2 || label < 0 || label >= ds.numClasses()) std::abort();
      } catch (const DataError&) {
        // A bad record is reported at first touch; the others stay readable.
      }
    }
    (void)ds.classNames();
  } catch (const DataError&) {
  }
  return 0;
}
