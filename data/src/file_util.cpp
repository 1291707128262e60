// Whole-file read and (atomic, fsynced) write helpers with DataError messages naming the path.
#include "file_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <unistd.h>

#include "l2face/data/errors.h"

namespace l2face::data {

void readFile(const std::string& path, std::vector<uint8_t>& bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    throw DataError("cannot open '" + path + "': " + std::strerror(errno) +
                    " (was the dataset moved or deleted during the run?)");
  }
  const std::streamoff size = in.tellg();
  if (size < 0) throw DataError("cannot size '" + path + "'");
  bytes.resize(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw DataError("short read on '" + path + "' (file changed while reading?)");
  }
}

void writeFile(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw DataError("cannot create '" + path + "': " + std::strerror(errno) +
                    " (check permissions and free space)");
  }
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) throw DataError("write failed on '" + path + "' (disk full?)");
}

void writeFileAtomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) {
      throw DataError("cannot create '" + tmp + "': " + std::strerror(errno) +
                      " (check that the directory exists and is writable)");
    }
    // fsync before the rename: after a crash the new name must not point at missing data.
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() &&
                    std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    // fclose also flushes; it must run even when the write failed.
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) {
      std::remove(tmp.c_str());
      throw DataError("write failed on '" + tmp + "' (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw DataError("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  }
}

}  // namespace l2face::data
