// Parser limits, routing and answers of the metrics endpoint (no sockets: see exposer.cpp).
#include "l2face/monitoring/internal/http_request.h"

namespace l2face::monitoring::detail {

void limitParser(RequestParser& parser, uint32_t max_header_bytes) {
  parser.header_limit(max_header_bytes);
  parser.body_limit(kMaxBodyBytes);
}

Answer answerRequest(const Request& request, const Registry& registry,
                     const std::function<bool()>& healthy) {
  Answer a;
  a.keep_alive = request.keep_alive();
  a.head = request.method() == http::verb::head;
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    a.status = http::status::method_not_allowed;
    a.body = "method not allowed\n";
    return a;
  }
  const auto target = request.target();
  const auto path = target.substr(0, target.find('?'));
  if (path == "/metrics") {
    a.served = true;
    a.body = registry.Serialize();
    a.content_type = kContentType;
    return a;
  }
  if (path == "/healthz") {
    const bool ok = !healthy || healthy();
    a.served = ok;
    a.status = ok ? http::status::ok : http::status::service_unavailable;
    a.body = ok ? "ok\n" : "unhealthy\n";
    return a;
  }
  a.status = http::status::not_found;
  a.body = "not found\n";
  return a;
}

std::optional<Answer> answerReadError(const boost::beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_target).category()) {
    return std::nullopt;
  }
  if (ec == http::error::end_of_stream) return std::nullopt;
  Answer a;
  a.status = http::status::bad_request;
  a.body = "bad request\n";
  a.keep_alive = false;
  return a;
}

Response makeResponse(const Answer& answer, unsigned version) {
  Response res(answer.status, version);
  res.set(http::field::server, "l2face");
  res.set(http::field::content_type, answer.content_type);
  if (answer.status == http::status::method_not_allowed) res.set(http::field::allow, "GET, HEAD");
  res.keep_alive(answer.keep_alive);
  if (answer.head) {
    res.content_length(answer.body.size());
  } else {
    res.body() = answer.body;
    res.prepare_payload();
  }
  return res;
}

}  // namespace l2face::monitoring::detail
