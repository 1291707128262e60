// Whole-file read and (atomic, fsynced) write helpers with DataError messages naming the path.
#include "file_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "l2face/data/errors.h"

namespace l2face::data {

void readFile(const std::string& path, std::vector<uint8_t>& bytes) {
  // POSIX calls rather than an ifstream: this runs once per training image, and a stream's
  // construction (locale, buffer) costs more than reading a small JPEG from the page cache.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw DataError("cannot open '" + path + "': " + std::strerror(errno) +
                    " (was the dataset moved or deleted during the run?)");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string msg = std::strerror(errno);
    ::close(fd);
    throw DataError("cannot size '" + path + "': " + msg);
  }
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const std::string msg = r < 0 ? std::strerror(errno) : "unexpected end of file";
      ::close(fd);
      throw DataError("short read on '" + path + "' (" + msg + "; file changed while reading?)");
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
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
