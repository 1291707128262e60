// The exposer's handling of one HTTP request, without sockets: parser limits, routing, answers.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "l2face/monitoring/metrics.h"

namespace l2face::monitoring::detail {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using RequestParser = http::request_parser<http::string_body>;
using Response = http::response<http::string_body>;

// A scrape has no body; a small one is read (and ignored) so that a client sending one still
// gets its answer.
constexpr uint64_t kMaxBodyBytes = 4096;

// Bytes the read buffer may hold: a whole request within the limits, no more.
inline size_t readBufferBytes(uint32_t max_header_bytes) {
  return static_cast<size_t>(max_header_bytes) + kMaxBodyBytes;
}

// Applies the exposer's limits to a fresh parser: headers (request line included) of at most
// max_header_bytes, a body of at most kMaxBodyBytes. Beyond them the read fails with
// http::error::header_limit / body_limit.
void limitParser(RequestParser& parser, uint32_t max_header_bytes);

// What to send back, and whether it counts as served (200) or rejected (4xx/5xx).
struct Answer {
  http::status status = http::status::ok;
  std::string body;
  const char* content_type = "text/plain";
  bool keep_alive = false;
  bool served = false;
  bool head = false;  // HEAD: the headers of the answer (Content-Length included), no body
};

// Routes a parsed request: GET/HEAD on /metrics (the registry's text) and /healthz (`healthy`
// decides 200 or 503); 405 for other methods, 404 for other paths. The query string is ignored.
Answer answerRequest(const Request& request, const Registry& registry,
                     const std::function<bool()>& healthy);

// The answer to a failed read: 400 (connection closed after it) when the bytes were not a
// request within the limits (an HTTP parse error, an oversized header or body); nullopt when
// the connection should just be closed (end of stream, timeout, socket errors).
std::optional<Answer> answerReadError(const boost::beast::error_code& ec);

// The response for an answer (Server, Content-Type, Allow on 405, keep-alive, length).
Response makeResponse(const Answer& answer, unsigned version = 11);

}  // namespace l2face::monitoring::detail
