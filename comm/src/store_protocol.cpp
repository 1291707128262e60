// Encoding and decoding of the store's frames.
#include "l2face/comm/internal/store_protocol.h"

#include <algorithm>
#include <charconv>

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

size_t frameLimit(bool hello_done, size_t max_message_bytes) {
  return hello_done ? max_message_bytes : std::min(max_message_bytes, kMaxHelloBytes);
}

Request parseRequest(const char* data, size_t size) {
  Reader r(data, size);
  Request q;
  q.command = r.command();
  switch (q.command) {
    case Command::kHello:
      q.token = r.str();
      q.rank = r.i32();
      break;
    case Command::kSet:
    case Command::kGet:
    case Command::kDelete:
    case Command::kAdd:  // a key, then SET's value or ADD's delta
      q.key = r.str();
      if (q.command == Command::kSet) q.value = r.str();
      if (q.command == Command::kAdd) q.delta = r.i64();
      break;
    case Command::kWait: {
      const uint32_t n = r.u32();
      // Each key takes at least its 4-byte length: a count the payload cannot hold is refused
      // before anything is allocated for it.
      if (n > size / 4)
        throw ProtocolError("WAIT for " + std::to_string(n) + " keys in a " + std::to_string(size) +
                            "-byte message");
      q.keys.reserve(n);
      for (uint32_t i = 0; i < n; ++i) q.keys.push_back(r.str());
      q.timeout_ms = r.u64();
      break;
    }
    default:
      throw ProtocolError("unknown command " + std::to_string(static_cast<int>(q.command)));
  }
  if (!r.atEnd()) throw ProtocolError("bytes after the last field of the message");
  return q;
}

Writer applyRequest(Data& data, const Request& q, bool& changed) {
  changed = false;
  switch (q.command) {
    case Command::kSet:
      data[q.key] = q.value;
      changed = true;
      return Writer(Command::kOk);
    case Command::kGet: {
      auto it = data.find(q.key);
      if (it == data.end()) return Writer(Command::kNotFound);
      return Writer(Command::kValue).str(it->second);
    }
    case Command::kAdd: {
      int64_t v = 0;
      auto it = data.find(q.key);
      if (it != data.end()) {
        const std::string& text = it->second;
        const char* end = text.data() + text.size();
        auto [p, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || p != end || text.empty()) {
          throw ProtocolError("ADD on key '" + q.key + "' whose value is not an integer");
        }
      }
      if (__builtin_add_overflow(v, q.delta, &v)) {
        throw ProtocolError("ADD of " + std::to_string(q.delta) + " to key '" + q.key +
                            "' overflows a 64-bit integer");
      }
      data[q.key] = std::to_string(v);
      changed = true;
      return Writer(Command::kValue).str(std::to_string(v));
    }
    case Command::kDelete:
      return Writer(data.erase(q.key) > 0 ? Command::kOk : Command::kNotFound);
    default:
      throw std::invalid_argument("applyRequest: command " +
                                  std::to_string(static_cast<int>(q.command)) +
                                  " is not a data request");
  }
}

std::chrono::milliseconds waitDuration(uint64_t timeout_ms) {
  return std::chrono::milliseconds(
      static_cast<std::chrono::milliseconds::rep>(std::min(timeout_ms, kMaxWaitMilliseconds)));
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
