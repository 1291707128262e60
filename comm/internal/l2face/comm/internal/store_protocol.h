// Wire protocol of the TCP rendezvous store: frames, commands, and their encoding.
//
// All integers are little-endian. frame := u32 length, then length bytes of payload, with
// length <= max_message_bytes. payload := u8 command, then its fields; str := u32 length, bytes.
//
// A connection goes through these steps:
//  1. The client connects and sends HELLO(str token, i32 rank).
//  2. The server compares the token with the job's in constant time. A wrong token is logged with
//     the peer's address, answered with ERROR and the connection closed; so is a connection whose
//     first frame is anything else, and one that says nothing within the hello timeout.
//  3. Requests follow, each answered in order by exactly one reply:
//       SET(key, value)                      -> OK
//       GET(key)                             -> VALUE(value) | NOT_FOUND
//       ADD(key, i64 delta)                  -> VALUE(new value as decimal text)
//       WAIT(u32 n, n × key, u64 timeout_ms) -> OK | TIMEOUT(u32 n, n × missing key)
//       DELETE(key)                          -> OK | NOT_FOUND
//  4. A frame longer than the maximum, or one that does not parse (unknown command, a field past
//     its end, bytes left after the last field), is logged and closes that connection; the server
//     goes on serving the others. Before the hello the maximum is kMaxHelloBytes: an
//     unauthenticated peer cannot make the server allocate more than that per connection.
//  5. With a known world size, the hello's rank must lie in [0, world size) and be the first
//     hello of that rank. Once every rank has said hello (the rendezvous is complete), a new
//     connection gets ERROR("rendezvous complete") and is closed without being read.
//  6. At most max_pending_connections connections may be waiting for their hello; a new one
//     beyond that closes the oldest of them (a flood of silent connections cannot lock ranks out,
//     and a rank whose connection was closed before the hello's reply connects again).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace l2face::comm::store {

enum class Command : uint8_t {
  kHello = 1,
  kSet = 2,
  kGet = 3,
  kAdd = 4,
  kWait = 5,
  kDelete = 6,
  kOk = 100,
  kValue = 101,
  kNotFound = 102,
  kTimeout = 103,
  kError = 104,
};

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds a payload (the frame header is added by frame()).
class Writer {
 public:
  explicit Writer(Command c) { out_.push_back(static_cast<char>(c)); }
  Writer& u32(uint32_t v) { return raw(v, 4); }
  Writer& i32(int32_t v) { return raw(static_cast<uint32_t>(v), 4); }
  Writer& u64(uint64_t v) { return raw(v, 8); }
  Writer& i64(int64_t v) { return raw(static_cast<uint64_t>(v), 8); }
  Writer& str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    out_ += s;
    return *this;
  }
  // The payload with its u32 length in front.
  std::string frame() const;

 private:
  Writer& raw(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  std::string out_;
};

// Parses a payload; every read is bounds-checked and throws ProtocolError past the end.
class Reader {
 public:
  Reader(const char* data, size_t size) : p_(data), end_(data + size) {}
  Command command() { return static_cast<Command>(raw(1)); }
  uint32_t u32() { return static_cast<uint32_t>(raw(4)); }
  int32_t i32() { return static_cast<int32_t>(static_cast<uint32_t>(raw(4))); }
  uint64_t u64() { return raw(8); }
  int64_t i64() { return static_cast<int64_t>(raw(8)); }
  std::string str();
  bool atEnd() const { return p_ == end_; }

 private:
  uint64_t raw(int bytes);
  const char* p_;
  const char* end_;
};

uint32_t decodeLength(const unsigned char header[4]);

// The largest hello frame accepted (a command byte, a token, a rank: tokens are short).
constexpr size_t kMaxHelloBytes = 64 * 1024;
// Longest WAIT the server arms a timer for; longer ones are clamped (the client gives up sooner).
constexpr uint64_t kMaxWaitMilliseconds = uint64_t{7} * 24 * 3600 * 1000;

// The largest frame payload a connection may send next: kMaxHelloBytes (or less, when the
// configured maximum is smaller) before its hello, max_message_bytes after it.
size_t frameLimit(bool hello_done, size_t max_message_bytes);

// One decoded request (the fields its command carries; the others keep their defaults).
struct Request {
  Command command = Command::kHello;
  std::string token;              // kHello
  int32_t rank = -1;              // kHello
  std::string key;                // kSet, kGet, kAdd, kDelete
  std::string value;              // kSet
  int64_t delta = 0;              // kAdd
  std::vector<std::string> keys;  // kWait
  uint64_t timeout_ms = 0;        // kWait
};

// Decodes a request payload (step 3's commands and the hello). ProtocolError for an unknown or
// reply command, a field that runs past the payload, or bytes left after the last field.
Request parseRequest(const char* data, size_t size);

// The key-value state and the requests that only touch it (SET, GET, ADD, DELETE): the reply to
// send, with `changed` set when a key was set (waits may complete). ProtocolError for an ADD on a
// value that is not a decimal int64, or whose sum overflows int64; std::invalid_argument for
// the other commands.
using Data = std::map<std::string, std::string>;
Writer applyRequest(Data& data, const Request& request, bool& changed);

// WAIT's timeout as a timer duration, clamped to kMaxWaitMilliseconds (no overflow downstream).
std::chrono::milliseconds waitDuration(uint64_t timeout_ms);

// Equal strings, in time independent of where they differ.
bool constantTimeEqual(const std::string& a, const std::string& b);

}  // namespace l2face::comm::store
