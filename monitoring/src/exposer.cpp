// HTTP/1.1 server for /metrics and /healthz: limits on headers, time, connections; never throws
// out.
//
// Limits, and why each holds under hostile clients:
//  1. A request (request line and headers) is at most max_header_bytes, its body at most 4 KiB,
//     and the read buffer holds no more than that: anything larger is answered 400 and closed.
//  2. A request must arrive complete within read_timeout_ms of the connection becoming ready for
//     it (accepted, or its previous answer sent); a client that sends a byte a second is dropped.
//     Answers are written under the same deadline.
//  3. At most max_connections connections are open. One more closes the connection that has
//     waited longest for its request (a slowloris army holds no slot a scraper needs: a scraper
//     sends its request at once and is answered within the same turn of the event loop); when
//     every connection is busy answering, the new one is closed at once.
//  4. A failed accept (out of descriptors) is retried after 100 ms, not in a busy loop.
//  5. The serving thread runs at the lowest CPU priority (nice 19): however many requests arrive,
//     answering them takes only a small share of a core that training keeps busy.
// So memory is bounded by max_connections × (read buffer + one answer), whatever the clients do,
// and so is the CPU time taken from training.
#include "l2face/monitoring/exposer.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "l2face/monitoring/internal/http_request.h"

namespace l2face::monitoring {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
class Session;
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

// Lowers the calling thread's CPU priority to nice 19 (scheduling attributes are per thread on
// Linux). Measured against SCHED_IDLE (bench/hostile): under a flood, an idle-class thread on a
// core that training keeps busy was too starved to answer a scrape within Prometheus' 10 s,
// while nice 19 answers in about a second and still leaves the step time within noise.
void lowerThisThreadsPriority() {
  // Best effort: a thread may always lower its own priority, so this does not fail in practice.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
}
}  // namespace

struct Exposer::Impl {
  ExposerOptions opt;
  std::shared_ptr<const Registry> registry;
  // Declared before io: sessions still queued in io unregister themselves when io is destroyed.
  std::atomic<uint64_t> requests{0}, rejected{0}, evicted{0};
  std::list<Session*> sessions;  // open sessions, longest-waiting for a request first (io thread)
  std::mutex health_mutex;
  std::function<bool()> healthy;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::thread thread;

  bool isHealthy() {
    std::lock_guard<std::mutex> lock(health_mutex);
    return !healthy || healthy();
  }
  void accept();
  void admit(tcp::socket socket);
};

namespace {

// One connection: read a request with limits, answer, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Exposer::Impl& server)
      : stream_(std::move(socket)),
        buffer_(detail::readBufferBytes(server.opt.max_header_bytes)),
        server_(server) {
    it_ = server_.sessions.insert(server_.sessions.end(), this);
  }
  ~Session() { unlist(); }

  void start() { read(); }

  bool waitingForRequest() const { return reading_; }

  // Closes the connection now to make room for another (limit 3).
  void evict() {
    unlist();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  void unlist() {
    if (!listed_) return;
    server_.sessions.erase(it_);
    listed_ = false;
  }

  void read() {
    if (!listed_) return;
    reading_ = true;
    // The longest-waiting session sits first: move this one to the back.
    server_.sessions.splice(server_.sessions.end(), server_.sessions, it_);
    parser_.emplace();
    detail::limitParser(*parser_, server_.opt.max_header_bytes);
    stream_.expires_after(std::chrono::milliseconds(server_.opt.read_timeout_ms));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    reading_ = false;
    if (ec == http::error::end_of_stream || !listed_) return close();
    if (ec) {
      // Oversized header, timeout, garbage: answer 400 where the stream still allows it.
      server_.rejected.fetch_add(1);
      if (auto answer = detail::answerReadError(ec)) return respond(*answer);
      return close();
    }
    detail::Answer answer = detail::answerRequest(parser_->get(), *server_.registry,
                                                  [this] { return server_.isHealthy(); });
    (answer.served ? server_.requests : server_.rejected).fetch_add(1);
    parser_.reset();
    respond(answer);
  }

  void respond(const detail::Answer& answer) {
    auto res = std::make_shared<detail::Response>(detail::makeResponse(answer));
    const bool keep_alive = answer.keep_alive;
    stream_.expires_after(std::chrono::milliseconds(server_.opt.read_timeout_ms));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) return self->close();
                        self->read();
                      });
  }

  void close() {
    unlist();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<detail::RequestParser> parser_;
  Exposer::Impl& server_;
  std::list<Session*>::iterator it_;
  bool listed_ = true;
  bool reading_ = false;
};

}  // namespace

void Exposer::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE and the like: the pending connection stays in the backlog, so accepting again at
      // once would spin. Try again shortly.
      accept_retry.expires_after(kAcceptRetry);
      accept_retry.async_wait([this](beast::error_code e) {
        if (!e) accept();
      });
      return;
    }
    admit(std::move(socket));
    accept();
  });
}

void Exposer::Impl::admit(tcp::socket socket) {
  if (sessions.size() >= static_cast<size_t>(opt.max_connections)) {
    Session* oldest = nullptr;
    for (Session* s : sessions) {
      if (s->waitingForRequest()) {
        oldest = s;
        break;
      }
    }
    if (!oldest) {
      rejected.fetch_add(1);
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    evicted.fetch_add(1);
    rejected.fetch_add(1);
    oldest->evict();
  }
  std::make_shared<Session>(std::move(socket), *this)->start();
}

Exposer::Exposer(const ExposerOptions& opt, std::shared_ptr<const Registry> registry)
    : impl_(std::make_unique<Impl>()) {
  impl_->opt = opt;
  impl_->registry = std::move(registry);
  if (opt.port < 0 || opt.port > 65535) throw MetricsError("metrics port out of range");
  if (opt.max_connections < 1 || opt.read_timeout_ms < 1 || opt.max_header_bytes < 64) {
    throw MetricsError("metrics exposer limits must be positive (max_connections " +
                       std::to_string(opt.max_connections) + ", read_timeout_ms " +
                       std::to_string(opt.read_timeout_ms) + ", max_header_bytes " +
                       std::to_string(opt.max_header_bytes) + " >= 64)");
  }
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
  impl_->thread = std::thread([this] {
    if (impl_->opt.background_priority) lowerThisThreadsPriority();
    impl_->io.run();
  });
}

Exposer::~Exposer() {
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->accept_retry.cancel();
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
  return {impl_->requests.load(), impl_->rejected.load(), impl_->evicted.load()};
}

void Exposer::setHealthCheck(std::function<bool()> healthy) {
  std::lock_guard<std::mutex> lock(impl_->health_mutex);
  impl_->healthy = std::move(healthy);
}

}  // namespace l2face::monitoring
