// Files made of fuzz inputs: a per-process scratch directory and writing bytes to a file.
#pragma once

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace l2face::fuzz {

// Writes `size` bytes to `path` (replacing it); aborts when it cannot. The old file is removed
// first: ext4 flushes a file truncated and rewritten to disk when it is closed (auto_da_alloc),
// which cost milliseconds per input.
inline void writeBytes(const std::string& path, const uint8_t* data, size_t size) {
  std::remove(path.c_str());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  if (std::fclose(f) != 0) std::abort();
}

// A fresh directory under the temp directory, made on first use and reused for the process.
inline const std::string& workDir(const char* prefix) {
  static const std::string dir = [prefix] {
    std::string pattern =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "_XXXXXX")).string();
    if (!mkdtemp(pattern.data())) std::abort();
    return pattern;
  }();
  return dir;
}

}  // namespace l2face::fuzz
