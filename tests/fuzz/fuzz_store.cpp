// libFuzzer target: the TCP store's message decoding, as the server runs it on one connection:
// frames cut from the byte stream with the server's size limits (before and after the hello),
// requests decoded, data requests applied to a store, WAIT timeouts turned into timer durations,
// and every reply decoded again the way the client reads it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "l2face/comm/internal/store_protocol.h"

namespace {

using namespace l2face::comm::store;

// The client's reading of a reply (tcp_store_client.cpp): the fields each reply carries.
void decodeReply(const std::string& frame) {
  if (frame.size() < 5) std::abort();
  const unsigned char* h = reinterpret_cast<const unsigned char*>(frame.data());
  if (decodeLength(h) != frame.size() - 4) std::abort();
  Reader r(frame.data() + 4, frame.size() - 4);
  switch (r.command()) {
    case Command::kOk:
    case Command::kNotFound:
      break;
    case Command::kValue:
    case Command::kError:
      r.str();
      break;
    case Command::kTimeout: {
      const uint32_t n = r.u32();
      for (uint32_t i = 0; i < n; ++i) r.str();
      break;
    }
    default:
      std::abort();  // the server never sends anything else
  }
  if (!r.atEnd()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  const char* end = p + size;
  constexpr size_t kMaxMessage = size_t{64} << 20;  // the server's default
  Data store;
  bool hello_done = false;
  try {
    while (end - p >= 4) {
      const uint32_t n = decodeLength(reinterpret_cast<const unsigned char*>(p));
      p += 4;
      if (n == 0 || n > frameLimit(hello_done, kMaxMessage)) return 0;  // the server closes
      if (static_cast<size_t>(end - p) < n) return 0;                   // waits for more bytes
      const Request q = parseRequest(p, n);
      p += n;
      if (!hello_done) {
        if (q.command != Command::kHello) return 0;
        const bool ok = constantTimeEqual(q.token, "job-token");
        decodeReply(ok ? Writer(Command::kOk).frame()
                       : Writer(Command::kError).str("wrong job token").frame());
        if (!ok) return 0;
        hello_done = true;
        continue;
      }
      switch (q.command) {
        case Command::kWait: {
          const auto d = waitDuration(q.timeout_ms);
          if (d.count() < 0 || static_cast<uint64_t>(d.count()) > kMaxWaitMilliseconds)
            std::abort();
          Writer w(Command::kTimeout);
          w.u32(static_cast<uint32_t>(q.keys.size()));
          for (const auto& k : q.keys) w.str(k);
          decodeReply(w.frame());
          break;
        }
        case Command::kHello:
          return 0;  // a second hello: the server closes the connection
        default: {
          bool changed = false;
          decodeReply(applyRequest(store, q, changed).frame());
        }
      }
    }
  } catch (const ProtocolError&) {
    // Logged and the connection closed by the server.
  }
  return 0;
}
