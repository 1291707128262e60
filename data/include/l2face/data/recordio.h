// insightface / MXNet indexed RecordIO: record framing, the IRHeader payload, a pread-based
// record file, writers, and RecordIODataset (one or several .rec shards as one dataset).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "l2face/data/dataset.h"

namespace l2face::data {

// On-disk framing of one record (all integers little-endian):
//   uint32 magic 0xced7230a, uint32 lrecord = (cflag << 29) | length, `length` payload bytes,
//   zero padding to a multiple of 4.
// A payload holding the magic at a 4-byte-aligned position is split there (as MXNet's dmlc
// writer does, so that a reader re-synchronising on the magic never lands inside a record): the
// parts carry cflag 1 (first), 2 (middle), 3 (last), the magic itself is dropped between parts
// and re-inserted by the reader. cflag 0 = a whole record.
constexpr uint32_t kRecordMagic = 0xced7230aU;
constexpr uint32_t kMaxRecordPartBytes = (1U << 29) - 1;

// The image record header of MXNet's recordio.pack (struct format "IfQQ", 24 bytes). When
// flag > 0, `flag` float32 labels follow the header and `label` is unused (0).
struct IRHeader {
  uint32_t flag = 0;
  float label = 0.0f;
  uint64_t id = 0;
  uint64_t id2 = 0;
};
constexpr size_t kIRHeaderBytes = 24;

// Builds a payload: header, then `labels` (flag := labels.size(), label := 0 when non-empty, as
// MXNet's pack does), then `size` bytes of data.
std::vector<uint8_t> packPayload(IRHeader header, const std::vector<float>& labels,
                                 const uint8_t* data, size_t size);

struct ParsedPayload {
  IRHeader header;
  std::vector<float> labels;  // the flag extra labels
  size_t data_offset = 0;     // where the image bytes start in the payload
};
// Splits a payload into header, extra labels and data. DataError naming `what` when it is too
// short for its header and labels.
ParsedPayload parsePayload(const uint8_t* payload, size_t size, const std::string& what);

// Appends the framed bytes of one record (parts, headers, padding) to `out`. Throws
// std::invalid_argument for a payload part longer than kMaxRecordPartBytes.
void appendFramedRecord(const uint8_t* payload, size_t size, std::vector<uint8_t>& out);

// A read-only record file, read by offset with pread on one descriptor (never loaded whole).
// Immutable after construction; all const methods are thread-safe.
class RecordFile {
 public:
  // Throws DataError naming the path when it cannot be opened.
  explicit RecordFile(const std::string& path);
  ~RecordFile();
  RecordFile(const RecordFile&) = delete;
  RecordFile& operator=(const RecordFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

  // Replaces `payload` with the record starting at `offset`, split parts joined. Throws DataError
  // naming the file and offset for a bad magic, an unexpected continuation flag, a record that
  // runs past the end of the file (truncated .rec), or a read error.
  void read(uint64_t offset, std::vector<uint8_t>& payload) const;
  // Reads at most `max_bytes` of the record's payload (enough for a header); the result is
  // shorter only when the record is. Same errors as read() for the parts it touches.
  void readPrefix(uint64_t offset, size_t max_bytes, std::vector<uint8_t>& payload) const;

 private:
  void readInto(uint64_t offset, size_t max_bytes, std::vector<uint8_t>& payload) const;
  void preadExact(uint64_t offset, void* dst, size_t n, const char* what) const;

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Writes an indexed record file: records to `rec_path`, "key<TAB>offset" lines to `idx_path`
// (MXIndexedRecordIO's format). Both are written under a ".tmp" name and renamed by close(), so an
// interrupted writer never leaves a plausible-looking pair behind. Not thread-safe; one owner.
class RecordWriter {
 public:
  RecordWriter(const std::string& rec_path, const std::string& idx_path);
  ~RecordWriter();  // without close(): removes the temporary files; never throws
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  // Appends one record under `key`; returns its byte offset.
  uint64_t write(uint64_t key, const uint8_t* payload, size_t size);
  // Replaces the record at `offset` (written earlier) by one with the same framed length, e.g.
  // the meta record 0 whose counts are known only at the end. std::invalid_argument otherwise.
  void rewrite(uint64_t offset, const uint8_t* payload, size_t size);
  // Flushes, fsyncs and renames both files into place. DataError on failure.
  void close();
  uint64_t bytesWritten() const { return offset_; }

 private:
  void flush();

  std::string rec_path_, idx_path_;
  int rec_fd_ = -1;
  int idx_fd_ = -1;
  uint64_t offset_ = 0;
  std::vector<uint8_t> buffer_;  // framed records not yet written
  std::string idx_buffer_;
  std::vector<uint8_t> frame_;   // scratch
};

// Writes the insightface training layout that arcface_torch's MXFaceDataset reads:
//   key 0         meta record: flag 2, labels {N + 1, N + 1 + C} (first identity key, end key)
//   keys 1..N     one image each: flag 0, label = identity, id = key
//   keys N+1..N+C identity records: flag 2, labels {first image key, end image key}
// plus `property` ("C,H,W") in the directory of the .rec. The .idx is the .rec path with the
// extension replaced. Images must be added grouped by identity (labels non-decreasing). Not
// thread-safe; one owner.
class FaceRecordWriter {
 public:
  FaceRecordWriter(const std::string& rec_path, int image_width, int image_height);

  // Appends one encoded image of identity `label` (>= 0 and >= the previous label; otherwise
  // std::invalid_argument). Returns its key.
  uint64_t add(int label, const uint8_t* data, size_t size);
  // Writes the identity records and the meta record, then the property file; num_classes must
  // exceed every label added. Files appear (renamed into place) only here.
  void finish(int num_classes);
  uint64_t images() const { return next_key_ - 1; }
  // Bytes of the .rec so far (meta record and image records; identity records come at finish).
  uint64_t bytesWritten() const { return writer_.bytesWritten(); }

 private:
  std::string rec_path_;
  int width_, height_;
  RecordWriter writer_;
  uint64_t meta_offset_ = 0;
  uint64_t next_key_ = 1;
  std::vector<uint64_t> first_key_;  // first image key of each identity so far
};

// The .idx path that belongs to a .rec path (extension replaced, or appended).
std::string idxPathFor(const std::string& rec_path);

// One or several insightface RecordIO shards as one dataset. Per shard: the .rec, the .idx beside
// it, and the optional `property` file ("num_classes,height,width") in its directory. Samples are
// the image records: keys [1, meta.label[0]) when record 0 is a meta record (flag > 0), else every
// key; in key order, shards concatenated in the given order. Labels: the header's label, or its
// first extra label when flag > 0 (as arcface_torch reads them).
// numClasses(): the maximum over shards of the property's count, else of the meta record's
// identity count (label[1] - label[0]); a shard with neither is scanned once at open.
//
// Validation at open: the .idx parses (DataError naming idx:line), keys are unique, every offset
// lies inside the .rec, and the first and last image records (by offset) and the last record of
// the file are framed correctly and end inside it (catches a truncated .rec). Every other record
// is checked at first touch: bad
// magic / framing -> DataError naming file and offset; a label outside [0, numClasses()) or not
// an integer -> DataError naming file, offset and label.
//
// Memory: 8 bytes per sample (its offset). Immutable after construction; all const methods are
// thread-safe (reads are preads on shared descriptors).
class RecordIODataset : public Dataset {
 public:
  explicit RecordIODataset(const std::vector<std::string>& rec_paths);
  ~RecordIODataset() override;

  size_t size() const override { return offsets_.size(); }
  int numClasses() const override { return num_classes_; }
  int label(size_t i) const override;
  void read(size_t i, std::vector<uint8_t>& bytes) const override;
  int readSample(size_t i, std::vector<uint8_t>& bytes) const override;
  std::string describe(size_t i) const override;
  // "0", "1", ...: record files carry numeric labels only (built on first use).
  const std::vector<std::string>& classNames() const override;

  size_t shardCount() const { return shards_.size(); }
  const std::string& shardPath(size_t s) const;
  // Stored image size from the property files (0 when no shard has one).
  int imageHeight() const { return image_height_; }
  int imageWidth() const { return image_width_; }

 private:
  struct Shard;
  size_t shardOf(size_t i) const;
  int checkedLabel(size_t i, const IRHeader& h, const std::vector<float>& labels) const;

  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<size_t> shard_begin_;  // first global index of each shard
  std::vector<uint64_t> offsets_;    // global index -> byte offset in its shard
  int num_classes_ = 0;
  int image_height_ = 0, image_width_ = 0;
  mutable std::once_flag names_once_;
  mutable std::vector<std::string> class_names_;
};

}  // namespace l2face::data
