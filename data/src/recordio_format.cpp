// RecordIO framing (split records, padding), IRHeader payloads, the pread-based RecordFile and
// the RecordWriter / FaceRecordWriter.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "file_util.h"
#include "le_bytes.h"
#include "l2face/data/errors.h"
#include "l2face/data/recordio.h"

namespace l2face::data {
namespace {

using le::bitsFloat, le::floatBits, le::get32, le::get64, le::put32, le::put64;

constexpr size_t kWriteBufferBytes = size_t{4} << 20;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

void appendPart(uint32_t cflag, const uint8_t* data, uint32_t length, std::vector<uint8_t>& out) {
  const size_t at = out.size();
  out.resize(at + 8 + length);
  put32(out.data() + at, kRecordMagic);
  put32(out.data() + at + 4, (cflag << 29) | length);
  if (length > 0) std::memcpy(out.data() + at + 8, data, length);
}

void writeAll(int fd, const void* data, size_t n, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      throw DataError("cannot write '" + path + "': " + std::strerror(errno) + " (disk full?)");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

std::vector<uint8_t> packPayload(IRHeader header, const std::vector<float>& labels,
                                 const uint8_t* data, size_t size) {
  if (!labels.empty()) {
    header.flag = static_cast<uint32_t>(labels.size());
    header.label = 0.0f;
  } else {
    header.flag = 0;
  }
  std::vector<uint8_t> out(kIRHeaderBytes + 4 * labels.size() + size);
  put32(out.data(), header.flag);
  put32(out.data() + 4, floatBits(header.label));
  put64(out.data() + 8, header.id);
  put64(out.data() + 16, header.id2);
  for (size_t k = 0; k < labels.size(); ++k) {
    put32(out.data() + kIRHeaderBytes + 4 * k, floatBits(labels[k]));
  }
  if (size > 0) std::memcpy(out.data() + kIRHeaderBytes + 4 * labels.size(), data, size);
  return out;
}

ParsedPayload parsePayload(const uint8_t* payload, size_t size, const std::string& what) {
  if (size < kIRHeaderBytes) {
    throw DataError("RecordIO " + what + ": payload of " + std::to_string(size) +
                    " bytes is shorter than the 24-byte IRHeader; not an image record");
  }
  ParsedPayload r;
  r.header.flag = get32(payload);
  r.header.label = bitsFloat(get32(payload + 4));
  r.header.id = get64(payload + 8);
  r.header.id2 = get64(payload + 16);
  const uint64_t label_bytes = uint64_t{4} * r.header.flag;
  if (label_bytes > size - kIRHeaderBytes) {
    throw DataError("RecordIO " + what + ": header flag " + std::to_string(r.header.flag) +
                    " announces more labels than the " + std::to_string(size) +
                    "-byte payload holds; the record is corrupt");
  }
  r.labels.resize(r.header.flag);
  for (uint32_t k = 0; k < r.header.flag; ++k) {
    r.labels[k] = bitsFloat(get32(payload + kIRHeaderBytes + 4 * k));
  }
  r.data_offset = kIRHeaderBytes + static_cast<size_t>(label_bytes);
  return r;
}

void appendFramedRecord(const uint8_t* payload, size_t size, std::vector<uint8_t>& out) {
  // dmlc-core's RecordIOWriter::WriteRecord: look for the magic at aligned positions only; the
  // parts between occurrences are then multiples of 4 long and need no padding of their own.
  size_t start = 0;
  const size_t aligned_end = size & ~size_t{3};
  for (size_t i = 0; i < aligned_end; i += 4) {
    if (get32(payload + i) != kRecordMagic) continue;
    if (i - start > kMaxRecordPartBytes) {
      throw std::invalid_argument("RecordIO: record part of " + std::to_string(i - start) +
                                  " bytes exceeds the 2^29 - 1 byte limit of the format");
    }
    appendPart(start == 0 ? 1U : 2U, payload + start, static_cast<uint32_t>(i - start), out);
    start = i + 4;
  }
  if (size - start > kMaxRecordPartBytes) {
    throw std::invalid_argument("RecordIO: record of " + std::to_string(size - start) +
                                " bytes exceeds the 2^29 - 1 byte limit of the format");
  }
  appendPart(start == 0 ? 0U : 3U, payload + start, static_cast<uint32_t>(size - start), out);
  out.resize((out.size() + 3) & ~size_t{3}, 0);  // zero padding to a 4-byte boundary
}

// ---------------------------------------------------------------------------------------------

RecordFile::RecordFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw DataError("RecordIO '" + path + "': cannot open: " + std::strerror(errno));
  }
  const off_t end = ::lseek(fd_, 0, SEEK_END);
  if (end < 0) {
    const std::string msg = std::strerror(errno);
    ::close(fd_);
    throw DataError("RecordIO '" + path + "': cannot determine the size: " + msg);
  }
  size_ = static_cast<uint64_t>(end);
}

RecordFile::~RecordFile() {
  if (fd_ >= 0) ::close(fd_);
}

void RecordFile::preadExact(uint64_t offset, void* dst, size_t n, const char* what) const {
  auto* p = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      throw DataError("RecordIO '" + path_ + "': read error at offset " + std::to_string(offset) +
                      " (" + what + "): " + std::strerror(errno));
    }
    if (r == 0) {
      throw DataError("RecordIO '" + path_ + "': unexpected end of file at offset " +
                      std::to_string(offset) + " (" + what +
                      "); the .rec was truncated or changed while reading");
    }
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

void RecordFile::readInto(uint64_t offset, size_t max_bytes, std::vector<uint8_t>& payload) const {
  payload.clear();
  uint64_t pos = offset;
  const std::string where = "RecordIO '" + path_ + "': record at offset " + std::to_string(offset);
  for (bool first = true;; first = false) {
    if (pos > size_ || size_ - pos < 8) {
      throw DataError(where + ": part header at offset " + std::to_string(pos) +
                      " lies past the end of the file (" + std::to_string(size_) +
                      " bytes); the .rec is truncated or the .idx belongs to another file");
    }
    uint8_t head[8];
    preadExact(pos, head, 8, "record header");
    const uint32_t magic = get32(head);
    if (magic != kRecordMagic) {
      throw DataError(where + ": bad magic " + hex32(magic) + " at offset " + std::to_string(pos) +
                      " (expected 0xced7230a); the .idx does not match this .rec, or the file "
                      "is corrupt");
    }
    const uint32_t lrec = get32(head + 4);
    const uint32_t cflag = lrec >> 29;
    const uint32_t length = lrec & kMaxRecordPartBytes;
    const bool ok_flag = first ? (cflag == 0 || cflag == 1) : (cflag == 2 || cflag == 3);
    if (!ok_flag) {
      throw DataError(where + ": unexpected continuation flag " + std::to_string(cflag) +
                      " at offset " + std::to_string(pos) +
                      (first ? " (a record starts with flag 0 or 1; the offset points into the "
                               "middle of a split record)"
                             : " (a split record continues with flag 2 or 3)"));
    }
    if (length > size_ - pos - 8) {
      throw DataError(where + ": part of " + std::to_string(length) + " bytes at offset " +
                      std::to_string(pos) + " runs past the end of the file (" +
                      std::to_string(size_) + " bytes); the .rec is truncated");
    }
    const size_t want = std::min<size_t>(length, max_bytes - payload.size());
    if (want > 0) {
      const size_t at = payload.size();
      payload.resize(at + want);
      preadExact(pos + 8, payload.data() + at, want, "record payload");
    }
    pos += 8 + ((uint64_t{length} + 3) & ~uint64_t{3});
    if (cflag == 0 || cflag == 3 || payload.size() >= max_bytes) break;
    // The writer dropped the magic where it split the payload; put it back.
    const size_t at = payload.size();
    payload.resize(at + 4);
    put32(payload.data() + at, kRecordMagic);
  }
  if (payload.size() > max_bytes) payload.resize(max_bytes);
}

void RecordFile::read(uint64_t offset, std::vector<uint8_t>& payload) const {
  readInto(offset, std::numeric_limits<size_t>::max(), payload);
}

void RecordFile::readPrefix(uint64_t offset, size_t max_bytes,
                            std::vector<uint8_t>& payload) const {
  readInto(offset, max_bytes, payload);
}

// ---------------------------------------------------------------------------------------------

RecordWriter::RecordWriter(const std::string& rec_path, const std::string& idx_path)
    : rec_path_(rec_path), idx_path_(idx_path) {
  const std::string rec_tmp = rec_path_ + ".tmp", idx_tmp = idx_path_ + ".tmp";
  rec_fd_ = ::open(rec_tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (rec_fd_ < 0) {
    throw DataError("RecordIO: cannot create '" + rec_tmp + "': " + std::strerror(errno));
  }
  idx_fd_ = ::open(idx_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (idx_fd_ < 0) {
    const std::string msg = std::strerror(errno);
    ::close(rec_fd_);
    std::remove(rec_tmp.c_str());
    rec_fd_ = -1;
    throw DataError("RecordIO: cannot create '" + idx_tmp + "': " + msg);
  }
}

RecordWriter::~RecordWriter() {
  if (rec_fd_ < 0) return;  // closed
  ::close(rec_fd_);
  ::close(idx_fd_);
  std::remove((rec_path_ + ".tmp").c_str());
  std::remove((idx_path_ + ".tmp").c_str());
}

void RecordWriter::flush() {
  if (!buffer_.empty()) writeAll(rec_fd_, buffer_.data(), buffer_.size(), rec_path_ + ".tmp");
  buffer_.clear();
  if (!idx_buffer_.empty()) {
    writeAll(idx_fd_, idx_buffer_.data(), idx_buffer_.size(), idx_path_ + ".tmp");
  }
  idx_buffer_.clear();
}

uint64_t RecordWriter::write(uint64_t key, const uint8_t* payload, size_t size) {
  if (rec_fd_ < 0) throw std::logic_error("RecordWriter::write after close()");
  const uint64_t at = offset_;
  const size_t before = buffer_.size();
  appendFramedRecord(payload, size, buffer_);
  offset_ += buffer_.size() - before;
  idx_buffer_ += std::to_string(key) + "\t" + std::to_string(at) + "\n";
  if (buffer_.size() >= kWriteBufferBytes) flush();
  return at;
}

void RecordWriter::rewrite(uint64_t offset, const uint8_t* payload, size_t size) {
  if (rec_fd_ < 0) throw std::logic_error("RecordWriter::rewrite after close()");
  flush();
  // Length of the framed record now at `offset`: walk its parts.
  uint64_t pos = offset;
  for (;;) {
    uint8_t head[8];
    if (pos + 8 > offset_ || ::pread(rec_fd_, head, 8, static_cast<off_t>(pos)) != 8) {
      throw std::invalid_argument("RecordWriter::rewrite: no record at offset " +
                                  std::to_string(offset));
    }
    const uint32_t lrec = get32(head + 4);
    pos += 8 + ((uint64_t{lrec & kMaxRecordPartBytes} + 3) & ~uint64_t{3});
    const uint32_t cflag = lrec >> 29;
    if (cflag == 0 || cflag == 3) break;
  }
  frame_.clear();
  appendFramedRecord(payload, size, frame_);
  if (frame_.size() != pos - offset) {
    throw std::invalid_argument("RecordWriter::rewrite: the new record (" +
                                std::to_string(frame_.size()) + " bytes framed) must have the "
                                "length of the old one (" + std::to_string(pos - offset) + ")");
  }
  for (size_t done = 0; done < frame_.size();) {
    const ssize_t w = ::pwrite(rec_fd_, frame_.data() + done, frame_.size() - done,
                               static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw DataError("cannot write '" + rec_path_ + ".tmp': " + std::strerror(errno));
    done += static_cast<size_t>(w);
  }
}

void RecordWriter::close() {
  if (rec_fd_ < 0) return;
  flush();
  const bool synced = ::fsync(rec_fd_) == 0 && ::fsync(idx_fd_) == 0;
  const bool rec_closed = ::close(rec_fd_) == 0;  // both close, whatever the first returns
  const bool closed = (::close(idx_fd_) == 0) && rec_closed;
  rec_fd_ = idx_fd_ = -1;
  if (!synced || !closed) {
    throw DataError("RecordIO: cannot flush '" + rec_path_ + "': " + std::strerror(errno));
  }
  for (const auto* p : {&rec_path_, &idx_path_}) {
    std::error_code ec;
    std::filesystem::rename(*p + ".tmp", *p, ec);
    if (ec) throw DataError("RecordIO: cannot rename '" + *p + ".tmp': " + ec.message());
  }
}

// ---------------------------------------------------------------------------------------------

std::string idxPathFor(const std::string& rec_path) {
  std::filesystem::path p(rec_path);
  if (p.extension() == ".rec") return p.replace_extension(".idx").string();
  return rec_path + ".idx";
}

FaceRecordWriter::FaceRecordWriter(const std::string& rec_path, int image_width,
                                   int image_height)
    : rec_path_(rec_path),
      width_(image_width),
      height_(image_height),
      writer_(rec_path, idxPathFor(rec_path)) {
  // Placeholder meta record with the final record's length; rewritten by finish().
  const auto meta = packPayload({}, {0.0f, 0.0f}, nullptr, 0);
  meta_offset_ = writer_.write(0, meta.data(), meta.size());
}

uint64_t FaceRecordWriter::add(int label, const uint8_t* data, size_t size) {
  if (label < 0 || label >= (1 << 24)) {
    // Labels are stored as float32, exact only below 2^24.
    throw std::invalid_argument("FaceRecordWriter: label " + std::to_string(label) +
                                " outside [0, 2^24)");
  }
  if (static_cast<size_t>(label) + 1 < first_key_.size()) {
    throw std::invalid_argument("FaceRecordWriter: label " + std::to_string(label) +
                                " after label " + std::to_string(first_key_.size() - 1) +
                                "; add images grouped by identity in label order");
  }
  while (first_key_.size() <= static_cast<size_t>(label)) first_key_.push_back(next_key_);
  IRHeader h;
  h.label = static_cast<float>(label);
  h.id = next_key_;
  const auto payload = packPayload(h, {}, data, size);
  writer_.write(next_key_, payload.data(), payload.size());
  return next_key_++;
}

void FaceRecordWriter::finish(int num_classes) {
  if (num_classes < static_cast<int>(first_key_.size()) || num_classes < 1) {
    throw std::invalid_argument("FaceRecordWriter::finish: num_classes " +
                                std::to_string(num_classes) + " but labels up to " +
                                std::to_string(static_cast<int>(first_key_.size()) - 1) +
                                " were added");
  }
  while (first_key_.size() < static_cast<size_t>(num_classes)) first_key_.push_back(next_key_);
  const uint64_t images_end = next_key_;
  uint64_t key = images_end;
  for (int c = 0; c < num_classes; ++c, ++key) {
    const uint64_t end = c + 1 < num_classes ? first_key_[c + 1] : images_end;
    const auto rec = packPayload({}, {static_cast<float>(first_key_[c]), static_cast<float>(end)},
                                 nullptr, 0);
    writer_.write(key, rec.data(), rec.size());
  }
  const auto meta = packPayload(
      {}, {static_cast<float>(images_end), static_cast<float>(images_end + num_classes)}, nullptr,
      0);
  writer_.rewrite(meta_offset_, meta.data(), meta.size());
  writer_.close();
  const std::string property =
      (std::filesystem::path(rec_path_).parent_path() / "property").string();
  const std::string text = std::to_string(num_classes) + "," + std::to_string(height_) + "," +
                           std::to_string(width_) + "\n";
  writeFileAtomic(property, text);
}

}  // namespace l2face::data
