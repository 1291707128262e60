// Private file helpers of the data module: whole-file read, atomic write, directory checks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace l2face::data {

// Replaces `bytes` with the content of `path`. Throws DataError naming the path.
void readFile(const std::string& path, std::vector<uint8_t>& bytes);

// Writes `size` bytes to `path` (plain write; used for corpus images written once).
void writeFile(const std::string& path, const void* data, size_t size);

// Writes `text` to path + ".tmp", flushes, and renames over `path`, so readers see the old or
// the new file, never a half-written one. Throws DataError naming the path.
void writeFileAtomic(const std::string& path, const std::string& text);

}  // namespace l2face::data
