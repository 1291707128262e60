// Encoding and decoding of the store's frames.
#include "store_protocol.h"

namespace l2face::comm::store {

std::string Writer::frame() const {
  std::string f;
  uint32_t n = static_cast<uint32_t>(out_.size());
  for (int i = 0; i < 4; ++i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return f + out_;
}

uint64_t Reader::raw(int bytes) {
  if (end_ - p_ < bytes) throw ProtocolError("truncated message");
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p_[i])) << (8 * i);
  }
  p_ += bytes;
  return v;
}

std::string Reader::str() {
  uint32_t n = u32();
  if (static_cast<size_t>(end_ - p_) < n) throw ProtocolError("string longer than its message");
  std::string s(p_, n);
  p_ += n;
  return s;
}

uint32_t decodeLength(const unsigned char header[4]) {
  return static_cast<uint32_t>(header[0]) | (static_cast<uint32_t>(header[1]) << 8) |
         (static_cast<uint32_t>(header[2]) << 16) | (static_cast<uint32_t>(header[3]) << 24);
}

bool constantTimeEqual(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

}  // namespace l2face::comm::store
