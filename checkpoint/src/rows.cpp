// Row files (header + row-major data, pread of any row range), shard tables and re-shard plans.
#include "l2face/checkpoint/rows.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "l2face/checkpoint/store.h"

namespace fs = std::filesystem;

namespace l2face::checkpoint {
namespace {

constexpr char kMagic[8] = {'L', '2', 'F', 'R', 'O', 'W', 'S', '\0'};
constexpr uint32_t kRowFormatVersion = 1;
constexpr size_t kIoChunk = size_t{16} << 20;  // bytes per write/pread call

class Fd {
 public:
  Fd(const fs::path& file, int flags, const char* what) : file_(file) {
    fd_ = flags & O_CREAT ? ::open(file.c_str(), flags, 0644) : ::open(file.c_str(), flags);
    if (fd_ < 0)
      throw CheckpointError(file.string() + ": cannot " + what + ": " + std::strerror(errno));
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // close() reports write-back errors some filesystems only give there.
  void close() {
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw CheckpointError(file_.string() + ": close failed: " + std::strerror(errno));
  }

 private:
  fs::path file_;
  int fd_ = -1;
};

// Writes `bytes` at the file offset `offset` (the fd's position). Each chunk's write-back to the
// disk is started at once (sync_file_range, no wait), so the disk works while later chunks are
// copied and the fsync of the commit finds little left to do.
void writeAll(int fd, const void* data, uint64_t bytes, uint64_t offset, const fs::path& file) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd, p, std::min<uint64_t>(bytes, kIoChunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw CheckpointError(file.string() + ": write failed: " + std::strerror(errno));
    ::sync_file_range(fd, static_cast<off_t>(offset), n, SYNC_FILE_RANGE_WRITE);  // a hint only
    p += n;
    offset += static_cast<uint64_t>(n);
    bytes -= static_cast<uint64_t>(n);
  }
}

// Reads exactly `bytes` at `offset`; a short read means the file is shorter than its header says.
void preadAll(int fd, void* dst, uint64_t bytes, uint64_t offset, const fs::path& file) {
  char* p = static_cast<char*>(dst);
  while (bytes > 0) {
    ssize_t n = ::pread(fd, p, std::min<uint64_t>(bytes, kIoChunk), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw CheckpointError(file.string() + ": read failed: " + std::strerror(errno));
    if (n == 0) {
      throw CheckpointError(file.string() + ": truncated: ends at byte " + std::to_string(offset) +
                            " inside the rows being read");
    }
    p += n;
    bytes -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

template <typename T>
void put(unsigned char* h, size_t at, T v) {
  std::memcpy(h + at, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
}
template <typename T>
T get(const unsigned char* h, size_t at) {
  T v;
  std::memcpy(&v, h + at, sizeof(T));
  return v;
}

RowFileInfo parseHeader(int fd, const fs::path& file) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    throw CheckpointError(file.string() + ": stat failed: " + std::strerror(errno));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kRowFileHeaderBytes) {
    throw CheckpointError(file.string() + ": truncated: " + std::to_string(size) +
                          " bytes, shorter than the 64-byte row-file header");
  }
  unsigned char h[kRowFileHeaderBytes];
  preadAll(fd, h, kRowFileHeaderBytes, 0, file);
  if (std::memcmp(h, kMagic, sizeof(kMagic)) != 0) {
    throw CheckpointError(file.string() + ": bad magic (not an l2face row file)");
  }
  const uint32_t version = get<uint32_t>(h, 8);
  if (version != kRowFormatVersion) {
    throw CheckpointError(file.string() + ": row-file format version " + std::to_string(version) +
                          " (this l2face reads version " + std::to_string(kRowFormatVersion) + ")");
  }
  const uint32_t dtype = get<uint32_t>(h, 12);
  if (dtype != 1 && dtype != 2) {
    throw CheckpointError(file.string() + ": unknown dtype code " + std::to_string(dtype) +
                          " in the header");
  }
  RowFileInfo info{static_cast<RowDType>(dtype), get<int64_t>(h, 16), get<int64_t>(h, 24),
                   get<int64_t>(h, 32)};
  if (info.rows < 0 || info.cols < 0 || info.first_row < 0 ||
      (info.cols > 0 && info.rows > (int64_t{1} << 50) / info.cols)) {
    throw CheckpointError(file.string() + ": corrupt header (rows " + std::to_string(info.rows) +
                          ", cols " + std::to_string(info.cols) + ", first row " +
                          std::to_string(info.first_row) + ")");
  }
  const uint64_t expected = kRowFileHeaderBytes + info.dataBytes();
  if (size < expected) {
    throw CheckpointError(file.string() + ": truncated: " + std::to_string(size) +
                          " bytes, the header (" + std::to_string(info.rows) + " × " +
                          std::to_string(info.cols) + " " + rowDTypeName(info.dtype) + ") needs " +
                          std::to_string(expected));
  }
  if (size > expected) {
    throw CheckpointError(file.string() + ": " + std::to_string(size - expected) +
                          " bytes after the rows the header announces (" +
                          std::to_string(expected) + " expected)");
  }
  return info;
}

}  // namespace

RowRange shardRange(int64_t rows, int world, int rank) {
  if (rows < 0 || world < 1 || rank < 0 || rank >= world) {
    throw std::invalid_argument("shardRange(rows " + std::to_string(rows) + ", world " +
                                std::to_string(world) + ", rank " + std::to_string(rank) +
                                "): needs rows >= 0, world >= 1 and 0 <= rank < world");
  }
  const int64_t base = rows / world;
  const int64_t extra = rows % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return RowRange{begin, begin + base + (rank < extra ? 1 : 0)};
}

size_t rowDTypeBytes(RowDType t) { return t == RowDType::kFloat64 ? 8 : 4; }
const char* rowDTypeName(RowDType t) { return t == RowDType::kFloat64 ? "float64" : "float32"; }

void writeRowFile(const fs::path& file, const RowFileInfo& info, const void* data) {
  if (info.rows < 0 || info.cols < 0 || info.first_row < 0) {
    throw CheckpointError(file.string() + ": negative rows, cols or first row");
  }
  unsigned char h[kRowFileHeaderBytes] = {};
  std::memcpy(h, kMagic, sizeof(kMagic));
  put<uint32_t>(h, 8, kRowFormatVersion);
  put<uint32_t>(h, 12, static_cast<uint32_t>(info.dtype));
  put<int64_t>(h, 16, info.rows);
  put<int64_t>(h, 24, info.cols);
  put<int64_t>(h, 32, info.first_row);
  Fd fd(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, "create");
  writeAll(fd.get(), h, sizeof(h), 0, file);
  writeAll(fd.get(), data, info.dataBytes(), sizeof(h), file);
  fd.close();
}

void writeRowFile(const fs::path& file, const float* data, int64_t rows, int64_t cols,
                  int64_t first_row) {
  writeRowFile(file, RowFileInfo{RowDType::kFloat32, rows, cols, first_row}, data);
}

void writeRowFile(const fs::path& file, const double* data, int64_t rows, int64_t cols,
                  int64_t first_row) {
  writeRowFile(file, RowFileInfo{RowDType::kFloat64, rows, cols, first_row}, data);
}

RowFileInfo readRowFileInfo(const fs::path& file) {
  Fd fd(file, O_RDONLY | O_CLOEXEC, "open");
  return parseHeader(fd.get(), file);
}

void readRows(const fs::path& file, int64_t begin, int64_t end, RowDType dtype, void* dst) {
  Fd fd(file, O_RDONLY | O_CLOEXEC, "open");
  const RowFileInfo info = parseHeader(fd.get(), file);
  if (info.dtype != dtype) {
    throw CheckpointError(file.string() + ": holds " + rowDTypeName(info.dtype) + " rows, " +
                          rowDTypeName(dtype) + " were asked for");
  }
  if (begin < 0 || end < begin || end > info.rows) {
    throw CheckpointError(file.string() + ": row range [" + std::to_string(begin) + ", " +
                          std::to_string(end) + ") is out of bounds (the file has " +
                          std::to_string(info.rows) + " rows)");
  }
  const uint64_t row_bytes = static_cast<uint64_t>(info.cols) * rowDTypeBytes(dtype);
  preadAll(fd.get(), dst, static_cast<uint64_t>(end - begin) * row_bytes,
           kRowFileHeaderBytes + static_cast<uint64_t>(begin) * row_bytes, file);
}

void readRows(const fs::path& file, int64_t begin, int64_t end, float* dst) {
  readRows(file, begin, end, RowDType::kFloat32, dst);
}

void readRows(const fs::path& file, int64_t begin, int64_t end, double* dst) {
  readRows(file, begin, end, RowDType::kFloat64, dst);
}

std::vector<RowPiece> planRowReads(const std::vector<ShardFile>& table, int64_t begin,
                                   int64_t end) {
  if (begin < 0 || end < begin) {
    throw CheckpointError("invalid row range [" + std::to_string(begin) + ", " +
                          std::to_string(end) + ")");
  }
  std::vector<ShardFile> shards;
  for (const ShardFile& s : table) {
    if (s.rows < 0 || s.first_row < 0) {
      throw CheckpointError("shard table: " + s.file + " has a negative row count or first row");
    }
    if (s.rows > 0) shards.push_back(s);
  }
  std::sort(shards.begin(), shards.end(),
            [](const ShardFile& a, const ShardFile& b) { return a.first_row < b.first_row; });
  for (size_t i = 1; i < shards.size(); ++i) {
    if (shards[i].first_row < shards[i - 1].first_row + shards[i - 1].rows) {
      throw CheckpointError("shard table: " + shards[i - 1].file + " and " + shards[i].file +
                            " overlap at row " + std::to_string(shards[i].first_row));
    }
  }
  std::vector<RowPiece> out;
  int64_t next = begin;  // the first row not yet planned
  for (const ShardFile& s : shards) {
    if (next >= end) break;
    const int64_t s_end = s.first_row + s.rows;
    if (s_end <= next) continue;
    if (s.first_row > next) break;  // a gap at `next`
    const int64_t take_end = std::min(s_end, end);
    out.push_back(RowPiece{s.file, next - s.first_row, take_end - next, next - begin});
    next = take_end;
  }
  if (next < end) {
    throw CheckpointError("shard table does not cover rows [" + std::to_string(next) + ", " +
                          std::to_string(end) + ") of the requested [" + std::to_string(begin) +
                          ", " + std::to_string(end) + ")");
  }
  return out;
}

std::vector<ShardFile> balancedShardTable(const std::string& stem, int64_t rows, int world) {
  std::vector<ShardFile> t;
  for (int r = 0; r < world; ++r) {
    const RowRange range = shardRange(rows, world, r);
    t.push_back(ShardFile{shardFileName(stem, r), range.begin, range.size()});
  }
  return t;
}

void readRowRange(const fs::path& dir, const std::vector<ShardFile>& table, int64_t begin,
                  int64_t end, int64_t cols, RowDType dtype, void* dst) {
  const uint64_t row_bytes = static_cast<uint64_t>(cols) * rowDTypeBytes(dtype);
  for (const RowPiece& p : planRowReads(table, begin, end)) {
    const fs::path file = dir / p.file;
    const RowFileInfo info = readRowFileInfo(file);
    auto shard = std::find_if(table.begin(), table.end(),
                              [&](const ShardFile& s) { return s.file == p.file; });
    if (info.first_row != shard->first_row || info.rows != shard->rows || info.cols != cols) {
      throw CheckpointError(
          file.string() + ": header says rows [" + std::to_string(info.first_row) + ", " +
          std::to_string(info.first_row + info.rows) + ") × " + std::to_string(info.cols) +
          ", the shard table says [" + std::to_string(shard->first_row) + ", " +
          std::to_string(shard->first_row + shard->rows) + ") × " + std::to_string(cols));
    }
    readRows(file, p.file_row, p.file_row + p.count, dtype,
             static_cast<char*>(dst) + static_cast<uint64_t>(p.dest_row) * row_bytes);
  }
}

nlohmann::json shardTableJson(const std::vector<ShardFile>& table) {
  nlohmann::json j = nlohmann::json::array();
  for (const ShardFile& s : table) {
    j.push_back({{"file", s.file}, {"first_row", s.first_row}, {"rows", s.rows}});
  }
  return j;
}

std::vector<ShardFile> shardTableFromJson(const nlohmann::json& j, const std::string& where) {
  if (!j.is_array()) throw CheckpointError(where + ": shard table is not a JSON array");
  try {
    std::vector<ShardFile> t;
    for (const auto& e : j) {
      t.push_back(ShardFile{e.at("file").get<std::string>(), e.at("first_row").get<int64_t>(),
                            e.at("rows").get<int64_t>()});
    }
    return t;
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(where + ": malformed shard table: " + e.what());
  }
}

}  // namespace l2face::checkpoint
