// HTTP/1.1 server for /metrics and /healthz: limits on headers, time, connections; never throws out.
#include "l2face/monitoring/exposer.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <optional>
#include <thread>

namespace l2face::monitoring {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Exposer::Impl {
  ExposerOptions opt;
  std::shared_ptr<const Registry> registry;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<int> connections{0};
  std::atomic<uint64_t> requests{0}, rejected{0};
  std::mutex health_mutex;
  std::function<bool()> healthy;

  bool isHealthy() {
    std::lock_guard<std::mutex> lock(health_mutex);
    return !healthy || healthy();
  }
  void accept();
};

namespace {

// One connection: read a request with limits, answer, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Exposer::Impl& server)
      : stream_(std::move(socket)), server_(server) {}
  ~Session() { server_.connections.fetch_sub(1); }

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(server_.opt.max_header_bytes);
    parser_->body_limit(4096);
    stream_.expires_after(std::chrono::milliseconds(server_.opt.read_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return close();
    if (ec) {
      // Oversized header, timeout, garbage: answer 400 where the stream still allows it.
      server_.rejected.fetch_add(1);
      if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        respond(http::status::bad_request, "bad request\n", "text/plain", false);
      } else {
        close();
      }
      return;
    }
    const auto& req = parser_->get();
    const bool keep = req.keep_alive();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      server_.rejected.fetch_add(1);
      return respond(http::status::method_not_allowed, "method not allowed\n", "text/plain", keep);
    }
    std::string target(req.target());
    target = target.substr(0, target.find('?'));
    if (target == "/metrics") {
      server_.requests.fetch_add(1);
      return respond(http::status::ok, server_.registry->Serialize(), kContentType, keep);
    }
    if (target == "/healthz") {
      bool ok = server_.isHealthy();
      if (ok) server_.requests.fetch_add(1); else server_.rejected.fetch_add(1);
      return respond(ok ? http::status::ok : http::status::service_unavailable,
                     ok ? "ok\n" : "unhealthy\n", "text/plain", keep);
    }
    server_.rejected.fetch_add(1);
    respond(http::status::not_found, "not found\n", "text/plain", keep);
  }

  void respond(http::status status, std::string body, const char* type, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "l2face");
    res->set(http::field::content_type, type);
    if (status == http::status::method_not_allowed) res->set(http::field::allow, "GET, HEAD");
    res->keep_alive(keep_alive);
    res->body() = std::move(body);
    res->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(server_.opt.read_timeout_ms));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::string_body>> parser_;
  Exposer::Impl& server_;
};

}  // namespace

void Exposer::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (connections.fetch_add(1) >= opt.max_connections) {
        connections.fetch_sub(1);
        rejected.fetch_add(1);
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Session>(std::move(socket), *this)->start();
      }
    }
    accept();
  });
}

Exposer::Exposer(const ExposerOptions& opt, std::shared_ptr<const Registry> registry)
    : impl_(std::make_unique<Impl>()) {
  impl_->opt = opt;
  impl_->registry = std::move(registry);
  if (opt.port < 0 || opt.port > 65535) throw MetricsError("metrics port out of range");
  beast::error_code ec;
  auto addr = asio::ip::make_address(opt.bind, ec);
  if (ec) throw MetricsError("invalid metrics bind address '" + opt.bind + "'");
  auto tryBind = [&](int port) {
    beast::error_code e;
    impl_->acceptor = tcp::acceptor(impl_->io);
    impl_->acceptor.open(addr.is_v6() ? tcp::v6() : tcp::v4(), e);
    if (!e) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), e);
    if (!e) impl_->acceptor.bind(tcp::endpoint(addr, static_cast<unsigned short>(port)), e);
    if (!e) impl_->acceptor.listen(asio::socket_base::max_listen_connections, e);
    return e;
  };
  ec = tryBind(opt.port);
  if (ec && opt.port != 0 && opt.fallback_to_ephemeral) ec = tryBind(0);
  if (ec) {
    throw MetricsError("cannot serve metrics on " + opt.bind + ":" + std::to_string(opt.port) +
                       ": " + ec.message() +
                       " (set monitoring.port to a free port, or 0 for an ephemeral one)");
  }
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

Exposer::~Exposer() {
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int Exposer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string Exposer::address() const {
  auto ep = impl_->acceptor.local_endpoint();
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

ExposerStats Exposer::stats() const {
  return {impl_->requests.load(), impl_->rejected.load()};
}

void Exposer::setHealthCheck(std::function<bool()> healthy) {
  std::lock_guard<std::mutex> lock(impl_->health_mutex);
  impl_->healthy = std::move(healthy);
}

}  // namespace l2face::monitoring
