// Row-matrix files for class-weight shards, the balanced shard rule, and re-sharding on resume.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace l2face::checkpoint {

// ---- The balanced shard rule (used by the classifier and by checkpoints alike) ----

// Rows [begin, end).
struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool operator==(const RowRange& o) const { return begin == o.begin && end == o.end; }
};

// Rank `rank`'s contiguous share of `rows` rows split over `world` ranks: the first rows % world
// ranks get one row more, so sizes differ by at most 1 and the ranges tile [0, rows) in rank order.
// With world > rows the last ranks get empty ranges. Throws std::invalid_argument for rows < 0,
// world < 1 or rank outside [0, world).
RowRange shardRange(int64_t rows, int world, int rank);

// ---- Row files ----
//
// One little-endian file per shard: a 64-byte header, then rows × cols elements, row-major.
//   offset  0  8 bytes  magic "L2FROWS\0"
//           8  u32      format version (1)
//          12  u32      dtype: 1 = float32, 2 = float64
//          16  i64      rows
//          24  i64      cols
//          32  i64      first_row: the global index of this file's row 0
//          40  24 bytes zero (reserved)
// Reads take any row range with pread into a caller buffer; every error names the file and what is
// wrong (truncated, bad magic, unknown version or dtype, range out of bounds, dtype mismatch) and
// is a CheckpointError. Functions are thread-safe (no shared state).

enum class RowDType : uint32_t { kFloat32 = 1, kFloat64 = 2 };
size_t rowDTypeBytes(RowDType t);
const char* rowDTypeName(RowDType t);

inline constexpr uint64_t kRowFileHeaderBytes = 64;

struct RowFileInfo {
  RowDType dtype = RowDType::kFloat32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t first_row = 0;
  uint64_t dataBytes() const { return static_cast<uint64_t>(rows * cols) * rowDTypeBytes(dtype); }
};

// Writes `info.rows × info.cols` elements of `info.dtype` from `data` (row-major) to `file`
// (created or truncated). Does not fsync: the checkpoint commit does.
void writeRowFile(const std::filesystem::path& file, const RowFileInfo& info, const void* data);
void writeRowFile(const std::filesystem::path& file, const float* data, int64_t rows, int64_t cols,
                  int64_t first_row);
void writeRowFile(const std::filesystem::path& file, const double* data, int64_t rows, int64_t cols,
                  int64_t first_row);

// The header, checked against the file's size.
RowFileInfo readRowFileInfo(const std::filesystem::path& file);

// Reads the file's local rows [begin, end) (0 = the file's first row) into `dst`, which holds
// (end − begin) × cols elements of `dtype`.
void readRows(const std::filesystem::path& file, int64_t begin, int64_t end, RowDType dtype,
              void* dst);
void readRows(const std::filesystem::path& file, int64_t begin, int64_t end, float* dst);
void readRows(const std::filesystem::path& file, int64_t begin, int64_t end, double* dst);

// ---- Shard tables and re-sharding ----

// One saved shard: `file` (a name inside the checkpoint directory) holds global rows
// [first_row, first_row + rows).
struct ShardFile {
  std::string file;
  int64_t first_row = 0;
  int64_t rows = 0;
  bool operator==(const ShardFile& o) const {
    return file == o.file && first_row == o.first_row && rows == o.rows;
  }
};

// Copy `count` rows from `file`'s local row `file_row` to row `dest_row` of the destination
// (0 = the first row of the requested range).
struct RowPiece {
  std::string file;
  int64_t file_row = 0;
  int64_t count = 0;
  int64_t dest_row = 0;
  bool operator==(const RowPiece& o) const {
    return file == o.file && file_row == o.file_row && count == o.count && dest_row == o.dest_row;
  }
};

// Pure. The reads that assemble global rows [begin, end) from a saved shard table (any order,
// empty shards allowed), in ascending row order. This is how a resume on a different number of
// ranks gets its new shard: planRowReads(saved_table, shardRange(C, P', r)). Throws
// CheckpointError when shards overlap or do not cover [begin, end).
std::vector<RowPiece> planRowReads(const std::vector<ShardFile>& table, int64_t begin, int64_t end);

// The table shardRange gives for `rows` rows over `world` ranks, with files
// shardFileName(stem, r) (store.h).
std::vector<ShardFile> balancedShardTable(const std::string& stem, int64_t rows, int world);

// Executes planRowReads for [begin, end) on the files under `dir`: `dst` holds (end − begin) ×
// cols elements of `dtype`. Each file's header must agree with the table (first_row, rows) and
// with `cols` and `dtype`; otherwise a CheckpointError names the file.
void readRowRange(const std::filesystem::path& dir, const std::vector<ShardFile>& table,
                  int64_t begin, int64_t end, int64_t cols, RowDType dtype, void* dst);

// [{"file": ..., "first_row": ..., "rows": ...}, ...] for the manifest's meta, and back (errors
// name `where`).
nlohmann::json shardTableJson(const std::vector<ShardFile>& table);
std::vector<ShardFile> shardTableFromJson(const nlohmann::json& j, const std::string& where);

}  // namespace l2face::checkpoint
