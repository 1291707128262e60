// RecordIODataset: .idx parsing and validation, meta record and property handling, sharded
// sample lookup, label checks at first touch.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <utility>

#include "file_util.h"
#include "le_bytes.h"
#include "l2face/data/errors.h"
#include "l2face/data/recordio.h"

namespace l2face::data {
namespace fs = std::filesystem;
namespace {

struct IdxEntry {
  uint64_t key;
  uint64_t offset;
  size_t line;
};

bool parseUnsigned(const std::string& s, uint64_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtoull(s.c_str(), &end, 10);
  return errno == 0 && end && *end == '\0';
}

// MXIndexedRecordIO's index: "key<TAB>offset" per line (whitespace-separated here).
std::vector<IdxEntry> parseIdx(const std::string& idx_path, const std::string& rec_path) {
  std::vector<uint8_t> bytes;
  try {
    readFile(idx_path, bytes);
  } catch (const DataError& e) {
    throw DataError("RecordIO '" + rec_path + "': its index " + e.what() +
                    "; every .rec needs the .idx written with it (same name, .idx extension)");
  }
  std::vector<IdxEntry> entries;
  size_t line_no = 0, pos = 0;
  const std::string text(bytes.begin(), bytes.end());
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const size_t a = line.find_first_not_of(" \t");
    const size_t a_end = line.find_first_of(" \t", a);
    const size_t b = a_end == std::string::npos ? a_end : line.find_first_not_of(" \t", a_end);
    const size_t b_end = b == std::string::npos ? b : line.find_first_of(" \t", b);
    IdxEntry e{0, 0, line_no};
    const bool ok = b != std::string::npos &&
                    parseUnsigned(line.substr(a, a_end - a), e.key) &&
                    parseUnsigned(line.substr(b, b_end == std::string::npos ? b_end : b_end - b),
                                  e.offset) &&
                    (b_end == std::string::npos ||
                     line.find_first_not_of(" \t", b_end) == std::string::npos);
    if (!ok) {
      throw DataError(idx_path + ":" + std::to_string(line_no) + ": expected 'key<TAB>offset' "
                      "(two non-negative integers), got '" + line + "'");
    }
    entries.push_back(e);
  }
  std::stable_sort(entries.begin(), entries.end(),
            [](const IdxEntry& x, const IdxEntry& y) { return x.key < y.key; });
  for (size_t k = 1; k < entries.size(); ++k) {
    if (entries[k].key == entries[k - 1].key) {
      throw DataError(idx_path + ":" + std::to_string(entries[k].line) + ": key " +
                      std::to_string(entries[k].key) + " also on line " +
                      std::to_string(entries[k - 1].line) + "; keys must be unique");
    }
  }
  return entries;
}

// "C,H,W" (insightface's property file); -1s when absent.
std::array<int, 3> readProperty(const std::string& rec_path) {
  const fs::path p = fs::path(rec_path).parent_path() / "property";
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return {-1, -1, -1};
  std::vector<uint8_t> bytes;
  readFile(p.string(), bytes);
  std::string text(bytes.begin(), bytes.end());
  std::array<int, 3> v{};
  size_t pos = 0;
  for (int k = 0; k < 3; ++k) {
    const size_t end = text.find_first_of(",\n", pos);
    std::string field = text.substr(pos, end == std::string::npos ? end : end - pos);
    field.erase(0, field.find_first_not_of(" \t\r"));
    field.erase(field.find_last_not_of(" \t\r") + 1);
    uint64_t value = 0;
    if (!parseUnsigned(field, value) || value == 0 || value > (1u << 30)) {
      throw DataError("RecordIO property file '" + p.string() +
                      "': expected 'num_classes,height,width' (positive integers), got '" +
                      text.substr(0, text.find('\n')) + "'");
    }
    v[k] = static_cast<int>(value);
    if (end == std::string::npos && k < 2) {
      throw DataError("RecordIO property file '" + p.string() +
                      "': expected 'num_classes,height,width', got '" + text + "'");
    }
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  return v;
}

}  // namespace

struct RecordIODataset::Shard {
  std::unique_ptr<RecordFile> file;
  size_t count = 0;
};

RecordIODataset::RecordIODataset(const std::vector<std::string>& rec_paths) {
  if (rec_paths.empty()) throw DataError("RecordIO dataset: no .rec files given");
  std::vector<uint8_t> buf;
  int scanned_classes = 0;
  bool need_scan = false;
  for (const std::string& rec_path : rec_paths) {
    auto shard = std::make_unique<Shard>();
    shard->file = std::make_unique<RecordFile>(rec_path);
    const RecordFile& file = *shard->file;
    const std::string idx_path = idxPathFor(rec_path);
    const std::vector<IdxEntry> entries = parseIdx(idx_path, rec_path);
    for (const auto& e : entries) {
      if (e.offset > file.size() || file.size() - e.offset < 8) {
        throw DataError(idx_path + ":" + std::to_string(e.line) + ": key " +
                        std::to_string(e.key) + " points at offset " + std::to_string(e.offset) +
                        ", past the end of '" + rec_path + "' (" + std::to_string(file.size()) +
                        " bytes); the .rec is truncated or the .idx belongs to another file");
      }
    }
    // Record 0: the meta record when its flag is > 0 (labels {first identity key, end key}).
    uint64_t images_end = std::numeric_limits<uint64_t>::max();
    uint64_t images_begin = 0;
    int meta_classes = -1;
    if (!entries.empty() && entries.front().key == 0) {
      file.read(entries.front().offset, buf);
      const std::string what = "'" + rec_path + "' offset " +
                               std::to_string(entries.front().offset) + " (record 0)";
      if (buf.size() >= kIRHeaderBytes && le::get32(buf.data()) > 0) {
        const ParsedPayload meta = parsePayload(buf.data(), buf.size(), what);
        // Keys are float32 labels here: exact integers below 2^24 only, so a larger (or
        // non-finite) key is a corrupt record, not a dataset of 16 million images.
        constexpr float kMaxKey = 1 << 24;
        if (meta.labels.size() < 2 || !(meta.labels[0] >= 1) ||
            !(meta.labels[1] >= meta.labels[0]) || !(meta.labels[1] <= kMaxKey)) {
          throw DataError("RecordIO " + what + ": meta record must carry labels {first identity "
                          "key, end key} with 1 <= first <= end <= 2^24");
        }
        images_begin = 1;
        images_end = static_cast<uint64_t>(meta.labels[0]);
        meta_classes = static_cast<int>(meta.labels[1]) - static_cast<int>(meta.labels[0]);
      }
    }
    uint64_t first_offset = std::numeric_limits<uint64_t>::max(), last_offset = 0;
    for (const auto& e : entries) {
      if (e.key < images_begin || e.key >= images_end) continue;
      offsets_.push_back(e.offset);
      first_offset = std::min(first_offset, e.offset);
      last_offset = std::max(last_offset, e.offset);
      ++shard->count;
    }
    if (shard->count == 0) {
      throw DataError("RecordIO '" + rec_path + "': no image records (the .idx '" + idx_path +
                      "' lists " + std::to_string(entries.size()) + " keys)");
    }
    // Cheap check of the ends: the earliest and the latest image record must be whole and well
    // formed, and so must the last record of the file (a truncated .rec loses that one first).
    for (uint64_t off : {first_offset, last_offset}) {
      file.read(off, buf);
      parsePayload(buf.data(), buf.size(), "'" + rec_path + "' offset " + std::to_string(off));
    }
    uint64_t end_offset = 0;
    for (const auto& e : entries) end_offset = std::max(end_offset, e.offset);
    if (end_offset > last_offset) file.read(end_offset, buf);
    const auto property = readProperty(rec_path);
    if (property[0] > 0) {
      num_classes_ = std::max(num_classes_, property[0]);
      image_height_ = property[1];
      image_width_ = property[2];
    } else if (meta_classes > 0) {
      num_classes_ = std::max(num_classes_, meta_classes);
    } else {
      need_scan = true;
    }
    shard_begin_.push_back(offsets_.size() - shard->count);
    shards_.push_back(std::move(shard));
  }
  if (need_scan) {
    // Neither a property file nor a meta record: one pass over the headers finds the labels.
    std::cerr << "note: RecordIO: no property file or meta record for some shards of '"
              << rec_paths.front() << "'; scanning " << offsets_.size()
              << " record headers for the number of classes\n";
    for (size_t i = 0; i < offsets_.size(); ++i) {
      const Shard& s = *shards_[shardOf(i)];
      s.file->readPrefix(offsets_[i], kIRHeaderBytes + 4, buf);
      const ParsedPayload p = parsePayload(buf.data(), buf.size(), describe(i));
      const float l = p.header.flag > 0 ? p.labels[0] : p.header.label;
      if (l >= 0 && l < (1 << 30)) scanned_classes = std::max(scanned_classes, int(l) + 1);
    }
    num_classes_ = std::max(num_classes_, scanned_classes);
  }
  if (num_classes_ <= 0) {
    throw DataError("RecordIO '" + rec_paths.front() + "': cannot determine the number of "
                    "classes (no property file, no meta record, no labels)");
  }
}

RecordIODataset::~RecordIODataset() = default;

size_t RecordIODataset::shardOf(size_t i) const {
  if (i >= offsets_.size()) {
    throw std::out_of_range("RecordIO dataset: sample index " + std::to_string(i) +
                            " out of range (size " + std::to_string(offsets_.size()) + ")");
  }
  const auto it = std::upper_bound(shard_begin_.begin(), shard_begin_.end(), i);
  return static_cast<size_t>(it - shard_begin_.begin()) - 1;
}

const std::string& RecordIODataset::shardPath(size_t s) const {
  return shards_.at(s)->file->path();
}

std::string RecordIODataset::describe(size_t i) const {
  const size_t s = shardOf(i);
  return shards_[s]->file->path() + " at offset " + std::to_string(offsets_[i]) + " (sample " +
         std::to_string(i) + ")";
}

int RecordIODataset::checkedLabel(size_t i, const IRHeader& h,
                                  const std::vector<float>& labels) const {
  const float l = h.flag > 0 ? labels[0] : h.label;
  if (!(l >= 0.0f && l < static_cast<float>(num_classes_)) || l != std::floor(l)) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(l));
    throw DataError("RecordIO " + describe(i) + ": label " + text +
                    " outside [0, " + std::to_string(num_classes_) +
                    ") or not an integer; the property file or the labels are wrong");
  }
  return static_cast<int>(l);
}

int RecordIODataset::label(size_t i) const {
  const Shard& s = *shards_[shardOf(i)];
  thread_local std::vector<uint8_t> buf;
  s.file->readPrefix(offsets_[i], kIRHeaderBytes + 4, buf);
  // Only the header and the first extra label are read; parse them by hand.
  const uint32_t flag = buf.size() >= 4 ? le::get32(buf.data()) : 0;
  if (buf.size() < kIRHeaderBytes + (flag > 0 ? 4 : 0)) {
    parsePayload(buf.data(), buf.size(), describe(i));  // throws, naming the record
  }
  IRHeader h;
  h.flag = flag;
  h.label = le::bitsFloat(le::get32(buf.data() + 4));
  std::vector<float> first;
  if (flag > 0) first.push_back(le::bitsFloat(le::get32(buf.data() + kIRHeaderBytes)));
  return checkedLabel(i, h, first);
}

int RecordIODataset::readSample(size_t i, std::vector<uint8_t>& bytes) const {
  const Shard& s = *shards_[shardOf(i)];
  s.file->read(offsets_[i], bytes);
  const ParsedPayload p = parsePayload(bytes.data(), bytes.size(), describe(i));
  const int l = checkedLabel(i, p.header, p.labels);
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(p.data_offset));
  return l;
}

void RecordIODataset::read(size_t i, std::vector<uint8_t>& bytes) const { readSample(i, bytes); }

const std::vector<std::string>& RecordIODataset::classNames() const {
  std::call_once(names_once_, [this] {
    class_names_.reserve(num_classes_);
    for (int c = 0; c < num_classes_; ++c) class_names_.push_back(std::to_string(c));
  });
  return class_names_;
}

}  // namespace l2face::data
