// libFuzzer target: the metrics exposer's request handling: the Beast request parser with the
// exposer's limits and read buffer, fed in chunks, then the exposer's routing and response, for
// every pipelined request of a keep-alive connection.
//
// Input: one byte choosing the chunk size (1-64 bytes per read), then the bytes a client sends.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "l2face/monitoring/exposer.h"
#include "l2face/monitoring/internal/http_request.h"
#include "l2face/monitoring/metrics.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using namespace l2face::monitoring;

// A SyncReadStream / SyncWriteStream over the input: reads return at most `chunk` bytes, then
// end of stream; writes are counted.
class InputStream {
 public:
  InputStream(const uint8_t* data, size_t size, size_t chunk)
      : p_(data), end_(data + size), chunk_(chunk) {}
  template <class Buffers>
  size_t read_some(const Buffers& buffers, beast::error_code& ec) {
    ec = {};
    if (p_ == end_) {
      ec = asio::error::eof;
      return 0;
    }
    const size_t n = asio::buffer_copy(
        buffers, asio::buffer(p_, std::min<size_t>(chunk_, static_cast<size_t>(end_ - p_))));
    p_ += n;
    return n;
  }
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers, beast::error_code& ec) {
    ec = {};
    const size_t n = asio::buffer_size(buffers);
    written += n;
    return n;
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers) {
    beast::error_code ec;
    return write_some(buffers, ec);
  }
  size_t written = 0;

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  size_t chunk_;
};

const Registry& registry() {
  static const std::shared_ptr<Registry> r = [] {
    auto reg = std::make_shared<Registry>();
    BuildCounter()
        .Name("l2face_steps_total")
        .Help("steps")
        .Register(*reg)
        .Add({{"rank", "0"}})
        .Increment(3);
    BuildGauge()
        .Name("l2face_loss")
        .Help("loss \\ \"quoted\"\nnext")
        .Register(*reg)
        .Add({{"set", "a\"b"}})
        .Set(1.5);
    BuildHistogram()
        .Name("l2face_step_seconds")
        .Help("step")
        .Register(*reg)
        .Add({}, Histogram::BucketBoundaries{0.1, 1.0})
        .Observe(0.5);
    return reg;
  }();
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ExposerOptions defaults;  // the limits the exposer serves with
  InputStream stream(data + 1, size - 1, 1 + data[0] % 64);
  beast::flat_buffer buffer(l2face::monitoring::detail::readBufferBytes(defaults.max_header_bytes));
  for (int request = 0; request < 16; ++request) {
    l2face::monitoring::detail::RequestParser parser;
    l2face::monitoring::detail::limitParser(parser, defaults.max_header_bytes);
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec) {
      if (auto answer = l2face::monitoring::detail::answerReadError(ec)) {
        auto res = l2face::monitoring::detail::makeResponse(*answer);
        http::write(stream, res, ec);
      }
      break;
    }
    if (parser.get().target().size() + parser.get().body().size() >
        defaults.max_header_bytes + l2face::monitoring::detail::kMaxBodyBytes) {
      std::abort();  // the limits did not hold
    }
    const auto answer = l2face::monitoring::detail::answerRequest(parser.get(), registry(),
                                                                  [&] { return request % 2 == 0; });
    auto res = l2face::monitoring::detail::makeResponse(answer);
    http::write(stream, res, ec);
    if (ec || !answer.keep_alive) break;
  }
  return 0;
}
