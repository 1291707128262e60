// Tests of RecordIO: framing (padding, split records), IRHeader payloads, the writers, the .idx,
// the meta record, RecordIODataset validation and errors, and an independent Python oracle.
#include <gtest/gtest.h>

#include "subprocess.h"

#include <cstdio>
#include <limits>
#include <sstream>
#include <nlohmann/json.hpp>

#include "l2face/data/errors.h"
#include "l2face/data/recordio.h"
#include "test_util.h"

namespace l2face::data {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const uint8_t kMagicBytes[4] = {0x0a, 0x23, 0xd7, 0xce};  // 0xced7230a, little-endian

std::vector<uint8_t> bytesOf(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> withMagicAt(std::vector<uint8_t> v, size_t at) {
  if (at + 4 > v.size()) throw std::invalid_argument("withMagicAt: out of range");
  for (size_t k = 0; k < 4; ++k) v[at + k] = kMagicBytes[k];
  return v;
}

uint32_t u32(const std::vector<uint8_t>& v, size_t at) {
  return v[at] | v[at + 1] << 8 | v[at + 2] << 16 | static_cast<uint32_t>(v[at + 3]) << 24;
}

// Frames each payload into one file; returns the record offsets.
std::vector<uint64_t> writeFramed(const fs::path& file,
                                  const std::vector<std::vector<uint8_t>>& payloads) {
  std::vector<uint8_t> all;
  std::vector<uint64_t> offsets;
  for (const auto& p : payloads) {
    offsets.push_back(all.size());
    appendFramedRecord(p.data(), p.size(), all);
  }
  test::writeBytes(file, all);
  return offsets;
}

TEST(Unit, RecordFramingPadsToFourBytes) {
  for (size_t n = 0; n < 9; ++n) {
    std::vector<uint8_t> payload(n, 0x5A), out;
    appendFramedRecord(payload.data(), n, out);
    ASSERT_EQ(out.size(), 8 + (n + 3) / 4 * 4) << n;
    EXPECT_EQ(u32(out, 0), kRecordMagic);
    EXPECT_EQ(u32(out, 4), n);  // cflag 0
    for (size_t k = 8 + n; k < out.size(); ++k) EXPECT_EQ(out[k], 0) << "padding must be zero";
  }
}

TEST(Unit, RecordFramingSplitsAtAlignedMagic) {
  // Magic at aligned offset 8 and at the very end: three parts 1/2/3, the magic dropped.
  auto payload = withMagicAt(withMagicAt(std::vector<uint8_t>(16, 7), 8), 12);
  payload.resize(18, 9);  // 2 trailing bytes -> the last part needs padding
  std::vector<uint8_t> out;
  appendFramedRecord(payload.data(), payload.size(), out);
  // part 1: 8 bytes (cflag 1); part 2: 0 bytes (cflag 2, between two magics); part 3: 2 bytes.
  ASSERT_EQ(out.size(), (8 + 8) + 8 + (8 + 4));
  EXPECT_EQ(u32(out, 4), (1U << 29) | 8);
  EXPECT_EQ(u32(out, 16), kRecordMagic);
  EXPECT_EQ(u32(out, 20), (2U << 29) | 0);
  EXPECT_EQ(u32(out, 28), (3U << 29) | 2);
  // An unaligned magic is left alone.
  const auto unaligned = withMagicAt(std::vector<uint8_t>(12, 1), 3);
  std::vector<uint8_t> plain;
  appendFramedRecord(unaligned.data(), unaligned.size(), plain);
  EXPECT_EQ(plain.size(), 8u + 12);
  EXPECT_EQ(u32(plain, 4), 12u);
}

TEST(Unit, RecordFileReadsWholeAndSplitRecordsByOffset) {
  TempDir dir;
  const std::vector<std::vector<uint8_t>> payloads = {
      bytesOf("plain"),
      withMagicAt(std::vector<uint8_t>(4, 0), 0),                  // only the magic
      withMagicAt(withMagicAt(std::vector<uint8_t>(20, 3), 4), 8),  // consecutive magics
      withMagicAt(std::vector<uint8_t>(13, 4), 8),                  // magic, then 1 more byte
      {},                                                           // empty record
      withMagicAt(std::vector<uint8_t>(11, 5), 5)};                 // unaligned: no split
  const auto offsets = writeFramed(dir.path() / "a.rec", payloads);
  const RecordFile file((dir.path() / "a.rec").string());
  std::vector<uint8_t> got;
  for (size_t k = payloads.size(); k-- > 0;) {  // any order: reads are by offset
    file.read(offsets[k], got);
    EXPECT_EQ(got, payloads[k]) << "record " << k;
  }
  file.readPrefix(offsets[2], 6, got);
  EXPECT_EQ(got, std::vector<uint8_t>(payloads[2].begin(), payloads[2].begin() + 6));
}

TEST(Unit, RecordFileErrorsNameFileAndOffset) {
  TempDir dir;
  const auto split = withMagicAt(std::vector<uint8_t>(12, 2), 4);
  const auto offsets = writeFramed(dir.path() / "b.rec", {bytesOf("first"), split});
  const std::string path = (dir.path() / "b.rec").string();
  const RecordFile file(path);
  std::vector<uint8_t> got;
  auto expectError = [&](uint64_t offset, const std::string& fragment) {
    try {
      file.read(offset, got);
      FAIL() << "expected DataError at " << offset;
    } catch (const DataError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find("offset " + std::to_string(offset)), std::string::npos) << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    }
  };
  expectError(4, "bad magic");                            // not a record start
  expectError(offsets[1] + 8 + 4, "continuation flag");  // the middle of a split record
  expectError(file.size() + 100, "past the end");
  // Truncation inside the last record.
  auto bytes = test::readBytes(path);
  bytes.resize(bytes.size() - 3);
  test::writeBytes(dir.path() / "cut.rec", bytes);
  const RecordFile cut((dir.path() / "cut.rec").string());
  EXPECT_THROW(cut.read(offsets[1], got), DataError);
  EXPECT_THROW(RecordFile((dir.path() / "missing.rec").string()), DataError);
}

TEST(Unit, RecordPayloadPacksTheIRHeader) {
  IRHeader h;
  h.label = 7.0f;
  h.id = 0x0102030405060708ULL;
  h.id2 = 9;
  const auto plain = packPayload(h, {}, reinterpret_cast<const uint8_t*>("jpg"), 3);
  ASSERT_EQ(plain.size(), kIRHeaderBytes + 3);
  const ParsedPayload p = parsePayload(plain.data(), plain.size(), "x");
  EXPECT_EQ(p.header.flag, 0u);
  EXPECT_EQ(p.header.label, 7.0f);
  EXPECT_EQ(p.header.id, h.id);
  EXPECT_EQ(p.header.id2, 9u);
  EXPECT_EQ(p.data_offset, kIRHeaderBytes);
  EXPECT_EQ(plain[8], 0x08);  // little-endian id
  const auto multi = packPayload(h, {3.0f, 4.5f}, nullptr, 0);
  const ParsedPayload q = parsePayload(multi.data(), multi.size(), "y");
  EXPECT_EQ(q.header.flag, 2u);
  EXPECT_EQ(q.header.label, 0.0f);  // as MXNet's pack
  EXPECT_EQ(q.labels, (std::vector<float>{3.0f, 4.5f}));
  EXPECT_EQ(q.data_offset, kIRHeaderBytes + 8);
  EXPECT_THROW(parsePayload(multi.data(), 20, "short"), DataError);
  EXPECT_THROW(parsePayload(multi.data(), kIRHeaderBytes + 4, "labels cut"), DataError);
}

// A 3-identity corpus through FaceRecordWriter: identity c has c + 1 images.
struct SmallRec {
  fs::path rec;
  std::vector<std::vector<uint8_t>> images;
  std::vector<int> labels;
};

SmallRec writeSmallRec(const fs::path& dir, const std::string& name = "train.rec",
                       int first_label = 0, int num_classes = 3) {
  SmallRec r;
  r.rec = dir / name;
  fs::create_directories(dir);
  FaceRecordWriter w(r.rec.string(), 16, 16);
  for (int c = 0; c < 3; ++c) {
    for (int k = 0; k <= c; ++k) {
      const auto rgb = test::smoothImage(16, 16, c * 10 + k);
      r.images.push_back(encodeJpeg(rgb.data(), 16, 16, 90));
      r.labels.push_back(first_label + c);
      EXPECT_EQ(w.add(first_label + c, r.images.back().data(), r.images.back().size()),
                r.images.size());
    }
  }
  EXPECT_FALSE(fs::exists(r.rec)) << "files appear only at finish()";
  w.finish(num_classes);
  return r;
}

TEST(Unit, FaceRecordWriterWritesTheInsightfaceLayout) {
  TempDir dir;
  const SmallRec r = writeSmallRec(dir.path());
  EXPECT_EQ(test::readText(dir.path() / "property"), "3,16,16\n");
  EXPECT_FALSE(fs::exists(dir.path() / "train.rec.tmp"));
  // .idx: key<TAB>offset, keys 0 (meta), 1..6 (images), 7..9 (identities).
  const std::string idx = test::readText(dir.path() / "train.idx");
  EXPECT_EQ(idx.substr(0, 4), "0\t0\n");
  EXPECT_EQ(std::count(idx.begin(), idx.end(), '\n'), 10);
  const RecordFile file(r.rec.string());
  std::vector<uint8_t> payload;
  file.read(0, payload);
  const ParsedPayload meta = parsePayload(payload.data(), payload.size(), "meta");
  EXPECT_EQ(meta.labels, (std::vector<float>{7.0f, 10.0f}));  // {N + 1, N + 1 + C}
  const RecordIODataset ds({r.rec.string()});
  ASSERT_EQ(ds.size(), 6u);
  EXPECT_EQ(ds.numClasses(), 3);
  EXPECT_EQ(ds.imageHeight(), 16);
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < ds.size(); ++i) {
    EXPECT_EQ(ds.label(i), r.labels[i]);
    EXPECT_EQ(ds.readSample(i, bytes), r.labels[i]);
    EXPECT_EQ(bytes, r.images[i]) << i;
    EXPECT_NE(ds.describe(i).find("train.rec at offset"), std::string::npos) << ds.describe(i);
  }
  EXPECT_EQ(ds.classNames(), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_THROW(ds.label(6), std::out_of_range);
}

TEST(Unit, RecordWriterWithoutCloseLeavesNothing) {
  TempDir dir;
  {
    RecordWriter w((dir.path() / "x.rec").string(), (dir.path() / "x.idx").string());
    const auto p = bytesOf("abc");
    w.write(5, p.data(), p.size());
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
  FaceRecordWriter w((dir.path() / "y.rec").string(), 8, 8);
  const auto p = bytesOf("img");
  w.add(2, p.data(), p.size());
  EXPECT_THROW(w.add(1, p.data(), p.size()), std::invalid_argument);  // not grouped
  EXPECT_THROW(w.finish(2), std::invalid_argument);                   // label 2 needs C >= 3
}

// Replaces the .idx of `rec` by `text`.
void writeIdx(const fs::path& rec, const std::string& text) {
  test::writeBytes(fs::path(idxPathFor(rec.string())), bytesOf(text));
}

std::string openError(const std::vector<std::string>& recs) {
  try {
    RecordIODataset ds(recs);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(Unit, RecordIODatasetValidatesTheIndexAtOpen) {
  TempDir dir;
  const SmallRec r = writeSmallRec(dir.path());
  const std::string rec = r.rec.string(), idx = idxPathFor(rec);
  const std::string good = test::readText(idx);
  const uint64_t size = fs::file_size(r.rec);

  writeIdx(r.rec, good + "42\t" + std::to_string(size + 8) + "\n");
  std::string msg = openError({rec});
  EXPECT_NE(msg.find(idx + ":11"), std::string::npos) << msg;
  EXPECT_NE(msg.find("past the end"), std::string::npos) << msg;

  writeIdx(r.rec, good + "3\t0\n");
  msg = openError({rec});
  EXPECT_NE(msg.find("key 3 also on line"), std::string::npos) << msg;

  writeIdx(r.rec, good + "7 oops\n");
  EXPECT_NE(openError({rec}).find(idx + ":11"), std::string::npos);

  writeIdx(r.rec, good);
  fs::rename(idx, idx + ".away");
  EXPECT_NE(openError({rec}).find(".idx"), std::string::npos);
  fs::rename(idx + ".away", idx);
  EXPECT_EQ(openError({rec}), "");
}

TEST(Unit, RecordIODatasetDetectsTruncationAtOpenAndBadRecordsAtFirstTouch) {
  TempDir dir;
  const SmallRec r = writeSmallRec(dir.path());
  const std::string rec = r.rec.string();
  const auto original = test::readBytes(r.rec);
  // Offsets of the image records from the .idx (keys 1..6 -> lines 2..7).
  std::vector<uint64_t> offsets;
  {
    std::istringstream in(test::readText(idxPathFor(rec)));
    uint64_t key, off;
    while (in >> key >> off) {
      if (key >= 1 && key <= 6) offsets.push_back(off);
    }
  }
  ASSERT_EQ(offsets.size(), 6u);

  // Truncated in the middle of the last image record: caught by the check of the last record
  // (the identity records after it are left out of the .idx, which would otherwise point past
  // the end first).
  const std::string full_idx = test::readText(idxPathFor(rec));
  writeIdx(r.rec, full_idx.substr(0, full_idx.find("\n7\t") + 1));
  auto cut = original;
  cut.resize(offsets[5] + 20);
  test::writeBytes(r.rec, cut);
  std::string msg = openError({rec});
  EXPECT_NE(msg.find("offset " + std::to_string(offsets[5])), std::string::npos) << msg;

  writeIdx(r.rec, full_idx);
  // A bad magic in a middle record: the dataset opens, the first touch names file and offset.
  auto bad = original;
  bad[offsets[2]] ^= 0xFF;
  test::writeBytes(r.rec, bad);
  {
    const RecordIODataset ds({rec});
    std::vector<uint8_t> bytes;
    EXPECT_NO_THROW(ds.readSample(1, bytes));
    try {
      ds.readSample(2, bytes);
      FAIL() << "expected DataError";
    } catch (const DataError& e) {
      msg = e.what();
      EXPECT_NE(msg.find(rec), std::string::npos) << msg;
      EXPECT_NE(msg.find("offset " + std::to_string(offsets[2])), std::string::npos) << msg;
      EXPECT_NE(msg.find("bad magic"), std::string::npos) << msg;
    }
  }
  // A label outside [0, num_classes): property claims 2 classes, identity 2 exists.
  test::writeBytes(r.rec, original);
  test::writeBytes(dir.path() / "property", bytesOf("2,16,16\n"));
  const RecordIODataset ds({rec});
  EXPECT_EQ(ds.numClasses(), 2);
  std::vector<uint8_t> bytes;
  EXPECT_EQ(ds.readSample(2, bytes), 1);
  try {
    ds.readSample(5, bytes);
    FAIL() << "expected DataError for label 2";
  } catch (const DataError& e) {
    msg = e.what();
    EXPECT_NE(msg.find("label 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset " + std::to_string(offsets[5])), std::string::npos) << msg;
  }
  EXPECT_THROW(ds.label(5), DataError);
  test::writeBytes(dir.path() / "property", bytesOf("three,16,16\n"));
  EXPECT_NE(openError({rec}).find("property"), std::string::npos);
}

// Found by fuzzing (tests/fuzz, fuzz_recordio): a meta record whose keys are huge floats
// (3.4e25) was converted to int and uint64 unchecked: undefined behaviour, then a negative class
// count. Such a record is now refused at open, naming it.
TEST(Unit, RecordIOMetaRecordWithImplausibleKeysIsRefused) {
  TempDir dir;
  for (const std::vector<float>& labels :
       {std::vector<float>{1.0f, 3.38e25f}, std::vector<float>{3.4e38f, 3.4e38f},
        std::vector<float>{1.0f, std::numeric_limits<float>::infinity()}}) {
    const fs::path rec = dir.path() / "meta.rec";
    {
      RecordWriter w(rec.string(), idxPathFor(rec.string()));
      const auto meta = packPayload({}, labels, nullptr, 0);
      w.write(0, meta.data(), meta.size());
      IRHeader h;
      h.label = 0;
      const auto image = packPayload(h, {}, reinterpret_cast<const uint8_t*>("jpeg"), 4);
      w.write(1, image.data(), image.size());
      w.close();
    }
    const std::string msg = openError({rec.string()});
    EXPECT_NE(msg.find("meta record must carry labels"), std::string::npos)
        << labels[0] << ", " << labels[1] << ": " << msg;
    EXPECT_NE(msg.find("(record 0)"), std::string::npos) << msg;
  }
}

// Offsets near 2^64 in an .idx wrapped around in "offset + 8 > size" and passed the check.
TEST(Unit, RecordIOOffsetsNearTheTopOfTheRangeAreOutsideTheFile) {
  TempDir dir;
  const SmallRec r = writeSmallRec(dir.path());
  const std::string rec = r.rec.string(), idx = idxPathFor(rec);
  writeIdx(r.rec, test::readText(idx) + "42\t18446744073709551612\n");
  const std::string msg = openError({rec});
  EXPECT_NE(msg.find("past the end"), std::string::npos) << msg;
  const RecordFile file(rec);
  std::vector<uint8_t> payload;
  for (uint64_t offset : {~uint64_t{0}, ~uint64_t{0} - 7, uint64_t{file.size()}}) {
    try {
      file.read(offset, payload);
      ADD_FAILURE() << "read at " << offset;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("past the end of the file"), std::string::npos) << e.what();
    }
  }
}

TEST(Unit, RecordIOShardsFormOneDataset) {
  TempDir dir;
  // Shards with global labels 0-2 and 3-5; the property files give the global class count.
  const SmallRec b = writeSmallRec(dir.path() / "b", "train_1.rec", 3, 6);
  const SmallRec a = writeSmallRec(dir.path() / "a", "train_0.rec", 0, 6);
  fs::create_directories(dir.path() / "all");
  for (const auto* s : {&a, &b}) {
    for (const auto& f : {s->rec, fs::path(idxPathFor(s->rec.string()))}) {
      fs::copy_file(f, dir.path() / "all" / f.filename());
    }
  }
  test::writeBytes(dir.path() / "all" / "property", bytesOf("6,16,16\n"));
  const std::string glob = (dir.path() / "all" / "train_*.rec").string();
  const std::string list = (dir.path() / "all" / "train_1.rec").string() + "," +
                           (dir.path() / "all" / "train_0.rec").string();
  for (const std::string& spec : {glob, list}) {
    const auto ds = openDataset(spec);
    ASSERT_EQ(ds->size(), 12u) << spec;
    EXPECT_EQ(ds->numClasses(), 6);
    std::vector<uint8_t> bytes;
    for (size_t i = 0; i < 12; ++i) {
      const SmallRec& s = i < 6 ? a : b;  // sorted order: train_0 first
      EXPECT_EQ(ds->readSample(i, bytes), s.labels[i % 6]);
      EXPECT_EQ(bytes, s.images[i % 6]);
    }
    EXPECT_NE(ds->describe(7).find("train_1.rec"), std::string::npos);
  }
  // Without a property file the meta record gives the count; over shards the maximum is taken.
  const SmallRec c = writeSmallRec(dir.path() / "c", "train_2.rec");
  fs::remove(dir.path() / "c" / "property");
  EXPECT_EQ(RecordIODataset({c.rec.string()}).numClasses(), 3);
  EXPECT_EQ(openDataset(c.rec.string() + "," + list)->numClasses(), 6);
  EXPECT_EQ(openDataset(c.rec.string() + "," + list)->size(), 18u);
}

TEST(Unit, OpenDatasetPicksTheFormatFromTheSpec) {
  TempDir dir;
  test::writeBytes(dir.path() / "folder" / "alice" / "a.jpg",
                   encodeJpeg(test::smoothImage(8, 8).data(), 8, 8, 90));
  EXPECT_NE(dynamic_cast<ImageFolderDataset*>(openDataset((dir.path() / "folder").string()).get()),
            nullptr);
  writeSmallRec(dir.path() / "ins");
  const auto rec_dir = openDataset((dir.path() / "ins").string());
  EXPECT_NE(dynamic_cast<RecordIODataset*>(rec_dir.get()), nullptr);
  EXPECT_EQ(rec_dir->size(), 6u);
  EXPECT_THROW(openDataset(""), DataError);
  EXPECT_THROW(openDataset((dir.path() / "nothing_*.rec").string()), DataError);
  EXPECT_THROW(openDataset((dir.path() / "missing.rec").string()), DataError);
  EXPECT_THROW(openDataset((dir.path() / "ins" / "train.idx").string()), DataError);
  EXPECT_THROW(openDataset((dir.path() / "ins").string() + "," +
                           (dir.path() / "ins" / "train.rec").string()),
               DataError);
}

// ---- Python oracle: an independent implementation of the format -------------------------------

std::string python() { return l2face::testing::venvPython(); }

nlohmann::json runOracle(const std::string& mode, const std::string& path) {
  const std::string cmd = python() + " " + L2FACE_SOURCE_DIR +
                          "/tests/unit/data/recordio_oracle.py " + mode + " '" + path + "'";
  auto [rc, out] = l2face::testing::runCommand(cmd);
  if (rc != 0) throw std::runtime_error("failed (" + std::to_string(rc) + "): " + cmd + "\n" + out);
  return nlohmann::json::parse(out);
}

std::string hex(const std::vector<uint8_t>& v) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : v) s += {digits[b >> 4], digits[b & 15]};
  return s;
}

TEST(Unit, RecordIOWriterOutputReadsBackInAnIndependentReader) {
  if (python().empty()) GTEST_SKIP() << "no .venv/bin/python";
  TempDir dir;
  FaceRecordWriter w((dir.path() / "train.rec").string(), 8, 8);
  // One image forces a split (magic at payload offset 24 + 4), one ends on the magic.
  const auto split = withMagicAt(bytesOf("abcdEFGHijkl"), 4);
  const auto at_end = withMagicAt(bytesOf("1234wxyz"), 4);
  const std::vector<std::vector<uint8_t>> images = {bytesOf("zero"), split, at_end};
  w.add(0, images[0].data(), images[0].size());
  w.add(1, images[1].data(), images[1].size());
  w.add(1, images[2].data(), images[2].size());
  w.finish(2);
  const auto j = runOracle("read", (dir.path() / "train.rec").string());
  const auto& recs = j.at("records");
  ASSERT_EQ(recs.size(), 1u + 3 + 2);
  EXPECT_EQ(recs[0].at("key"), 0);
  EXPECT_EQ(recs[0].at("flag"), 2);
  EXPECT_EQ(recs[0].at("labels"), nlohmann::json({4.0, 6.0}));
  const int labels[] = {0, 1, 1};
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(recs[k + 1].at("key"), k + 1);
    EXPECT_EQ(recs[k + 1].at("flag"), 0);
    EXPECT_EQ(recs[k + 1].at("label"), labels[k]);
    EXPECT_EQ(recs[k + 1].at("id"), k + 1);
    EXPECT_EQ(recs[k + 1].at("data"), hex(images[k]));
  }
  EXPECT_EQ(recs[4].at("labels"), nlohmann::json({1.0, 2.0}));  // identity 0: keys [1, 2)
  EXPECT_EQ(recs[5].at("labels"), nlohmann::json({2.0, 4.0}));  // identity 1: keys [2, 4)
}

TEST(Unit, RecordIOReaderReadsAnIndependentWritersOutput) {
  if (python().empty()) GTEST_SKIP() << "no .venv/bin/python";
  TempDir dir;
  const auto j = runOracle("write", dir.str());
  const auto ds = openDataset(dir.str());  // a directory with train.rec + train.idx
  ASSERT_EQ(ds->size(), 3u);
  EXPECT_EQ(ds->numClasses(), 2);
  const auto& recs = j.at("records");
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ds->readSample(i, bytes), recs[i + 1].at("label").get<float>());
    EXPECT_EQ(hex(bytes), recs[i + 1].at("data")) << i;
  }
}

}  // namespace
}  // namespace l2face::data
