// Tests of row files, the balanced shard rule and the re-shard planner.
#include "l2face/checkpoint/rows.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "l2face/checkpoint/store.h"

namespace fs = std::filesystem;
using namespace l2face::checkpoint;

namespace {

fs::path freshDir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("l2face_rows_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Global row r, column c of a C × cols matrix: a value that identifies both.
double cell(int64_t r, int64_t c) {
  return static_cast<double>(r) * 1000.0 + static_cast<double>(c) + 0.25;
}

std::vector<float> matrixRows(int64_t begin, int64_t end, int64_t cols) {
  std::vector<float> m;
  for (int64_t r = begin; r < end; ++r) {
    for (int64_t c = 0; c < cols; ++c) m.push_back(static_cast<float>(cell(r, c)));
  }
  return m;
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

// Saves C rows as `world` balanced shards and reads them back as `world2` shards.
void reshardRoundTrip(int64_t C, int world, int world2, int64_t cols = 3) {
  fs::path dir = freshDir("reshard_" + std::to_string(C) + "_" + std::to_string(world) + "_" +
                          std::to_string(world2));
  auto table = balancedShardTable("classifier", C, world);
  for (const ShardFile& s : table) {
    auto rows = matrixRows(s.first_row, s.first_row + s.rows, cols);
    writeRowFile(dir / s.file, rows.data(), s.rows, cols, s.first_row);
  }
  std::vector<float> all;
  for (int r = 0; r < world2; ++r) {
    RowRange range = shardRange(C, world2, r);
    std::vector<float> got(static_cast<size_t>(range.size() * cols), -1.f);
    readRowRange(dir, shardTableFromJson(shardTableJson(table), "test"), range.begin, range.end,
                 cols, RowDType::kFloat32, got.data());
    EXPECT_EQ(got, matrixRows(range.begin, range.end, cols))
        << world << "->" << world2 << " rank " << r;
    all.insert(all.end(), got.begin(), got.end());
  }
  EXPECT_EQ(all, matrixRows(0, C, cols));
}

}  // namespace

TEST(CheckpointShardRange, BalancedContiguousAndCovering) {
  for (int64_t rows : {0, 1, 5, 7, 10, 100, 1001}) {
    for (int world = 1; world <= 12; ++world) {
      int64_t next = 0, smallest = rows, largest = 0;
      for (int r = 0; r < world; ++r) {
        RowRange g = shardRange(rows, world, r);
        EXPECT_EQ(g.begin, next) << rows << " " << world << " " << r;
        EXPECT_GE(g.size(), 0);
        smallest = std::min(smallest, g.size());
        largest = std::max(largest, g.size());
        next = g.end;
      }
      EXPECT_EQ(next, rows);
      EXPECT_LE(largest - smallest, 1) << rows << " rows over " << world;
    }
  }
  EXPECT_EQ(shardRange(10, 3, 0), (RowRange{0, 4}));
  EXPECT_EQ(shardRange(10, 3, 1), (RowRange{4, 7}));
  EXPECT_EQ(shardRange(10, 3, 2), (RowRange{7, 10}));
  EXPECT_EQ(shardRange(2, 4, 3), (RowRange{2, 2}));  // more ranks than rows: empty shards
  EXPECT_THROW(shardRange(10, 0, 0), std::invalid_argument);
  EXPECT_THROW(shardRange(10, 2, 2), std::invalid_argument);
  EXPECT_THROW(shardRange(-1, 2, 0), std::invalid_argument);
}

TEST(CheckpointRowFile, RoundTripFloat32AndFloat64AndRanges) {
  fs::path dir = freshDir("roundtrip");
  const int64_t rows = 7, cols = 5;
  auto f32 = matrixRows(100, 100 + rows, cols);
  writeRowFile(dir / "a.bin", f32.data(), rows, cols, 100);
  RowFileInfo info = readRowFileInfo(dir / "a.bin");
  EXPECT_EQ(info.dtype, RowDType::kFloat32);
  EXPECT_EQ(info.rows, rows);
  EXPECT_EQ(info.cols, cols);
  EXPECT_EQ(info.first_row, 100);
  EXPECT_EQ(fs::file_size(dir / "a.bin"), kRowFileHeaderBytes + rows * cols * 4);
  for (int64_t a = 0; a <= rows; ++a) {
    for (int64_t b = a; b <= rows; ++b) {
      std::vector<float> got(static_cast<size_t>((b - a) * cols));
      readRows(dir / "a.bin", a, b, got.data());
      EXPECT_EQ(got, matrixRows(100 + a, 100 + b, cols)) << a << " " << b;
    }
  }
  std::vector<double> f64;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) f64.push_back(cell(r, c) + 1e-12);  // not a float value
  }
  writeRowFile(dir / "b.bin", f64.data(), rows, cols, 0);
  EXPECT_EQ(readRowFileInfo(dir / "b.bin").dtype, RowDType::kFloat64);
  std::vector<double> got(static_cast<size_t>(2 * cols));
  readRows(dir / "b.bin", 3, 5, got.data());
  EXPECT_EQ(got, std::vector<double>(f64.begin() + 3 * cols, f64.begin() + 5 * cols));
  // Empty files are valid (a rank with no classes).
  writeRowFile(dir / "empty.bin", static_cast<const float*>(nullptr), 0, cols, 7);
  EXPECT_EQ(readRowFileInfo(dir / "empty.bin").rows, 0);
}

TEST(CheckpointRowFile, ErrorsNameTheFileAndTheProblem) {
  fs::path dir = freshDir("errors");
  auto m = matrixRows(0, 4, 3);
  writeRowFile(dir / "ok.bin", m.data(), 4, 3, 0);
  std::vector<double> d(12);
  std::string e = errorOf([&] { readRows(dir / "ok.bin", 0, 1, d.data()); });
  EXPECT_NE(e.find("holds float32 rows, float64 were asked for"), std::string::npos) << e;
  std::vector<float> f(12);
  e = errorOf([&] { readRows(dir / "ok.bin", 2, 5, f.data()); });
  EXPECT_NE(e.find("ok.bin"), std::string::npos) << e;
  EXPECT_NE(e.find("[2, 5) is out of bounds (the file has 4 rows)"), std::string::npos) << e;
  EXPECT_NE(errorOf([&] { readRows(dir / "ok.bin", 3, 2, f.data()); }), "");

  fs::copy_file(dir / "ok.bin", dir / "trunc.bin");
  fs::resize_file(dir / "trunc.bin", kRowFileHeaderBytes + 4 * 3 * 4 - 1);
  e = errorOf([&] { readRows(dir / "trunc.bin", 0, 1, f.data()); });
  EXPECT_NE(e.find("trunc.bin: truncated"), std::string::npos) << e;
  fs::resize_file(dir / "trunc.bin", 10);
  e = errorOf([&] { readRowFileInfo(dir / "trunc.bin"); });
  EXPECT_NE(e.find("shorter than the 64-byte row-file header"), std::string::npos) << e;

  fs::copy_file(dir / "ok.bin", dir / "magic.bin");
  {
    std::fstream s(dir / "magic.bin", std::ios::in | std::ios::out | std::ios::binary);
    s.seekp(0);
    s.put('X');
  }
  e = errorOf([&] { readRowFileInfo(dir / "magic.bin"); });
  EXPECT_NE(e.find("magic.bin: bad magic"), std::string::npos) << e;

  fs::copy_file(dir / "ok.bin", dir / "dtype.bin");
  {
    std::fstream s(dir / "dtype.bin", std::ios::in | std::ios::out | std::ios::binary);
    s.seekp(12);
    s.put(9);
  }
  e = errorOf([&] { readRowFileInfo(dir / "dtype.bin"); });
  EXPECT_NE(e.find("unknown dtype code 9"), std::string::npos) << e;

  fs::copy_file(dir / "ok.bin", dir / "long.bin");
  std::ofstream(dir / "long.bin", std::ios::app) << "junk";
  e = errorOf([&] { readRowFileInfo(dir / "long.bin"); });
  EXPECT_NE(e.find("4 bytes after the rows"), std::string::npos) << e;

  e = errorOf([&] { readRowFileInfo(dir / "missing.bin"); });
  EXPECT_NE(e.find("missing.bin: cannot open"), std::string::npos) << e;
}

TEST(CheckpointReshard, PlanTwoToThree) {
  // 10 rows saved by 2 ranks ([0,5), [5,10)), read by 3 ranks ([0,4), [4,7), [7,10)).
  auto table = balancedShardTable("w", 10, 2);
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table[1], (ShardFile{"w.shard-00001.bin", 5, 5}));
  EXPECT_EQ(planRowReads(table, 0, 4), (std::vector<RowPiece>{{"w.shard-00000.bin", 0, 4, 0}}));
  EXPECT_EQ(planRowReads(table, 4, 7), (std::vector<RowPiece>{{"w.shard-00000.bin", 4, 1, 0},
                                                              {"w.shard-00001.bin", 0, 2, 1}}));
  EXPECT_EQ(planRowReads(table, 7, 10), (std::vector<RowPiece>{{"w.shard-00001.bin", 2, 3, 0}}));
}

TEST(CheckpointReshard, PlanThreeToTwoAndFourToOne) {
  auto t3 = balancedShardTable("w", 10, 3);  // [0,4) [4,7) [7,10)
  EXPECT_EQ(planRowReads(t3, 0, 5), (std::vector<RowPiece>{{"w.shard-00000.bin", 0, 4, 0},
                                                           {"w.shard-00001.bin", 0, 1, 4}}));
  EXPECT_EQ(planRowReads(t3, 5, 10), (std::vector<RowPiece>{{"w.shard-00001.bin", 1, 2, 0},
                                                            {"w.shard-00002.bin", 0, 3, 2}}));
  auto t4 = balancedShardTable("w", 10, 4);  // [0,3) [3,6) [6,8) [8,10)
  auto one = planRowReads(t4, 0, 10);
  ASSERT_EQ(one.size(), 4u);
  EXPECT_EQ(one[2], (RowPiece{"w.shard-00002.bin", 0, 2, 6}));
  EXPECT_EQ(one[3], (RowPiece{"w.shard-00003.bin", 0, 2, 8}));
  EXPECT_TRUE(planRowReads(t4, 4, 4).empty());
}

TEST(CheckpointReshard, UnorderedTableWithEmptyShards) {
  std::vector<ShardFile> t = {{"c", 3, 2}, {"empty", 3, 0}, {"a", 0, 3}};
  EXPECT_EQ(planRowReads(t, 1, 5), (std::vector<RowPiece>{{"a", 1, 2, 0}, {"c", 0, 2, 2}}));
}

TEST(CheckpointReshard, GapsAndOverlapsAreErrors) {
  std::string e = errorOf([] { planRowReads({{"a", 0, 3}, {"b", 4, 2}}, 0, 6); });
  EXPECT_NE(e.find("does not cover rows [3, 6)"), std::string::npos) << e;
  e = errorOf([] { planRowReads({{"a", 0, 3}}, 0, 4); });
  EXPECT_NE(e.find("does not cover rows [3, 4)"), std::string::npos) << e;
  e = errorOf([] { planRowReads({{"a", 0, 3}, {"b", 2, 2}}, 0, 4); });
  EXPECT_NE(e.find("a and b overlap at row 2"), std::string::npos) << e;
  EXPECT_NO_THROW(planRowReads({{"a", 0, 3}, {"b", 4, 2}}, 4, 6));  // the gap is not asked for
}

TEST(CheckpointReshard, FilesRoundTripAcrossWorldSizes) {
  reshardRoundTrip(10, 2, 3);
  reshardRoundTrip(10, 3, 2);
  reshardRoundTrip(10, 4, 1);
  reshardRoundTrip(11, 1, 4);
  reshardRoundTrip(7, 3, 5);  // uneven C
  reshardRoundTrip(3, 5, 2);  // more old ranks than rows: empty shard files
  reshardRoundTrip(1001, 6, 4, 17);
}

TEST(CheckpointReshard, HeaderMustAgreeWithTable) {
  fs::path dir = freshDir("agree");
  auto m = matrixRows(0, 4, 3);
  writeRowFile(dir / "s.bin", m.data(), 4, 3, 0);
  std::vector<float> out(12);
  std::string e = errorOf([&] {
    readRowRange(dir, {{"s.bin", 2, 4}}, 2, 6, 3, RowDType::kFloat32, out.data());
  });
  EXPECT_NE(e.find("s.bin: header says rows [0, 4) × 3, the shard table says [2, 6) × 3"),
            std::string::npos)
      << e;
  e = errorOf([&] {
    readRowRange(dir, {{"s.bin", 0, 4}}, 0, 4, 2, RowDType::kFloat32, out.data());
  });
  EXPECT_NE(e.find("× 3, the shard table says [0, 4) × 2"), std::string::npos) << e;
  EXPECT_THROW(shardTableFromJson(nlohmann::json::object(), "m"), CheckpointError);
  EXPECT_THROW(shardTableFromJson(nlohmann::json::parse(R"([{"file": "x"}])"), "m"),
               CheckpointError);
}
