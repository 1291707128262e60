// The rendezvous store's server: Boost.Asio on one thread, sessions that must say hello first.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <iostream>
#include <list>
#include <memory>
#include <set>
#include <thread>

#include "l2face/comm/errors.h"
#include "l2face/comm/internal/store_protocol.h"
#include "l2face/comm/tcp_store.h"

namespace l2face::comm {

namespace asio = boost::asio;
using asio::ip::tcp;
using store::Command;
using store::Writer;

class Session;

// At most this many "[l2face] store:" lines per window; a flood of hostile connections must not
// flood the job's log (the rest are counted and reported in the next window).
constexpr int kLogLinesPerWindow = 20;
constexpr auto kLogWindow = std::chrono::seconds(10);
// After a failed accept (out of descriptors: EMFILE, ENFILE), wait this long before the next one
// instead of spinning on the error.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

std::string peerOf(const tcp::socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  return ec ? "unknown peer" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

// All state below is touched only on the io thread (handlers), except the counters.
class ServerCore {
 public:
  explicit ServerCore(StoreServerOptions options);
  ~ServerCore();

  void accept();
  void onAccepted(tcp::socket socket);
  void onChange();  // a key was set: complete the waits it satisfies
  void reject(Session& s, const std::string& why);
  void log(const std::string& line);  // rate-limited (kLogLinesPerWindow)
  void reportSuppressed();
  bool rendezvousComplete() const {
    return options_.world_size > 0 && ranks_seen_ == options_.world_size;
  }

  StoreServerOptions options_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> accepted_{0};
  store::Data data_;
  std::set<std::shared_ptr<Session>> sessions_;
  std::list<Session*> pending_;         // sessions waiting for their hello, oldest first
  std::vector<std::string> rank_peer_;  // with a world size: who said hello as each rank
  int ranks_seen_ = 0;
  std::chrono::steady_clock::time_point log_window_start_{};
  int log_lines_ = 0;
  uint64_t log_suppressed_ = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerCore& server)
      : socket_(std::move(socket)), server_(server), timer_(server.io_) {
    peer_ = peerOf(socket_);
  }

  void start() {
    auto self = shared_from_this();
    pending_it_ = server_.pending_.insert(server_.pending_.end(), this);
    is_pending_ = true;
    timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(server_.options_.hello_timeout_seconds)));
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (!ec && !self->hello_done_ && self->open_) {
        self->server_.reject(*self, "no hello within the hello timeout");
      }
    });
    readHeader();
  }

  void close() {
    if (!open_) return;
    open_ = false;
    waiting_ = false;
    notPending();
    boost::system::error_code ec;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    server_.sessions_.erase(shared_from_this());
  }

  // Replies to a pending WAIT when its keys are all set; true when it did.
  bool tryCompleteWait() {
    if (!waiting_) return false;
    for (const auto& k : wait_keys_) {
      if (!server_.data_.count(k)) return false;
    }
    waiting_ = false;
    timer_.cancel();
    reply(Writer(Command::kOk));
    return true;
  }

  const std::string& peer() const { return peer_; }

  // Sends the reply, then reads the next request, or closes when close_after is set.
  void reply(const Writer& w, bool close_after = false) {
    auto self = shared_from_this();
    auto frame = std::make_shared<std::string>(w.frame());
    asio::async_write(socket_, asio::buffer(*frame),
                      [self, frame, close_after](const boost::system::error_code& ec, size_t) {
                        if (ec || close_after) {
                          self->close();
                        } else {
                          self->readHeader();
                        }
                      });
  }

 private:
  void notPending() {
    if (!is_pending_) return;
    server_.pending_.erase(pending_it_);
    is_pending_ = false;
  }

  void readHeader() {
    if (!open_) return;
    auto self = shared_from_this();
    asio::async_read(
        socket_, asio::buffer(header_, 4), [self](const boost::system::error_code& ec, size_t) {
          if (ec) return self->close();
          const uint32_t n = store::decodeLength(self->header_);
          const size_t limit =
              store::frameLimit(self->hello_done_, self->server_.options_.max_message_bytes);
          if (n == 0 || n > limit) {
            return self->server_.reject(*self, "message of " + std::to_string(n) +
                                                   " bytes (limit " + std::to_string(limit) +
                                                   (self->hello_done_ ? "" : " before the hello") +
                                                   ")");
          }
          self->body_.resize(n);
          self->readBody();
        });
  }

  void readBody() {
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(body_),
                     [self](const boost::system::error_code& ec, size_t) {
                       if (ec) return self->close();
                       try {
                         self->handle();
                       } catch (const store::ProtocolError& e) {
                         self->server_.reject(*self, std::string("malformed message: ") + e.what());
                       }
                     });
  }

  // Refuses a hello: logged, answered with ERROR(why), closed.
  void refuseHello(const std::string& why) {
    server_.rejected_++;
    server_.log("rejected connection from " + peer_ + " (claims rank " + std::to_string(rank_) +
                "): " + why);
    notPending();
    timer_.cancel();
    reply(Writer(Command::kError).str(why), /*close_after=*/true);
  }

  void hello(const store::Request& q) {
    rank_ = q.rank;
    if (!store::constantTimeEqual(q.token, server_.options_.token)) {
      return refuseHello(q.token.empty() ? "missing job token" : "wrong job token");
    }
    const int world = server_.options_.world_size;
    if (world > 0) {
      if (rank_ < 0 || rank_ >= world) {
        return refuseHello("rank " + std::to_string(rank_) + " outside the job's [0, " +
                           std::to_string(world) + ")");
      }
      std::string& seen = server_.rank_peer_[static_cast<size_t>(rank_)];
      if (!seen.empty()) {
        return refuseHello("rank " + std::to_string(rank_) + " already connected from " + seen);
      }
      seen = peer_;
      ++server_.ranks_seen_;
    }
    hello_done_ = true;
    notPending();
    timer_.cancel();
    server_.accepted_++;
    reply(Writer(Command::kOk));
  }

  void handle() {
    const store::Request q = store::parseRequest(body_.data(), body_.size());
    // The payload may be up to max_message_bytes: do not keep it past its request.
    std::string().swap(body_);
    if (!hello_done_) {
      if (q.command != Command::kHello) {
        return server_.reject(*this, "first message is not a hello");
      }
      return hello(q);
    }
    switch (q.command) {
      case Command::kSet:
      case Command::kGet:
      case Command::kAdd:
      case Command::kDelete: {
        bool changed = false;
        reply(store::applyRequest(server_.data_, q, changed));
        if (changed) server_.onChange();
        return;
      }
      case Command::kWait: {
        wait_keys_ = q.keys;
        waiting_ = true;
        if (tryCompleteWait()) return;
        auto self = shared_from_this();
        timer_.expires_after(store::waitDuration(q.timeout_ms));
        timer_.async_wait([self](const boost::system::error_code& ec) {
          if (ec || !self->waiting_ || !self->open_) return;
          self->waiting_ = false;
          Writer w(Command::kTimeout);
          std::vector<std::string> missing;
          for (const auto& k : self->wait_keys_) {
            if (!self->server_.data_.count(k)) missing.push_back(k);
          }
          w.u32(static_cast<uint32_t>(missing.size()));
          for (const auto& k : missing) w.str(k);
          self->reply(w);
        });
        return;  // the next request is read after the reply
      }
      default:
        throw store::ProtocolError("a second hello");
    }
  }

  tcp::socket socket_;
  ServerCore& server_;
  asio::steady_timer timer_;
  std::string peer_;
  int rank_ = -1;
  bool open_ = true;
  bool hello_done_ = false;
  bool waiting_ = false;
  bool is_pending_ = false;
  std::list<Session*>::iterator pending_it_;
  std::vector<std::string> wait_keys_;
  unsigned char header_[4] = {0, 0, 0, 0};
  std::string body_;
};

ServerCore::ServerCore(StoreServerOptions options)
    : options_(std::move(options)), acceptor_(io_), accept_retry_(io_) {
  if (options_.token.empty()) {
    throw CommError("store: refusing to serve without a job token (set L2FACE_JOB_TOKEN)");
  }
  if (options_.world_size < 0) throw CommError("store: negative world size");
  rank_peer_.resize(static_cast<size_t>(options_.world_size));
  try {
    tcp::endpoint ep(asio::ip::make_address(options_.bind_address), options_.port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    throw CommError("store: cannot listen on " + options_.bind_address + ":" +
                    std::to_string(options_.port) + ": " + e.what());
  }
  accept();
  thread_ = std::thread([this] {
    // nice 19: on rank 0 the server shares the cores with training; whatever clients send, it
    // takes only a small share of a busy core (best effort: lowering one's priority never fails).
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
    io_.run();
  });
}

ServerCore::~ServerCore() {
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
    auto open = sessions_;  // close() erases from sessions_
    for (const auto& s : open) s->close();
    reportSuppressed();
    io_.stop();
  });
  thread_.join();
  sessions_.clear();
}

void ServerCore::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      log("accept failed: " + ec.message() + "; retrying");
      accept_retry_.expires_after(kAcceptRetry);
      accept_retry_.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    onAccepted(std::move(socket));
    accept();
  });
}

void ServerCore::onAccepted(tcp::socket socket) {
  if (rendezvousComplete()) {
    // Every rank is connected: nobody else has business here. The reason goes out in one
    // non-blocking write (a fresh socket's buffer takes it), then the socket is closed.
    rejected_++;
    log("refused connection from " + peerOf(socket) + ": the rendezvous is complete (all " +
        std::to_string(options_.world_size) + " ranks connected)");
    boost::system::error_code ec;
    socket.non_blocking(true, ec);
    const std::string frame = Writer(Command::kError).str("rendezvous complete").frame();
    socket.write_some(asio::buffer(frame), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    return;
  }
  if (options_.max_pending_connections > 0 && pending_.size() >= options_.max_pending_connections) {
    reject(*pending_.front(), "the oldest of " + std::to_string(pending_.size()) +
                                  " connections without a hello, closed for a new one");
  }
  auto s = std::make_shared<Session>(std::move(socket), *this);
  sessions_.insert(s);
  s->start();
}

void ServerCore::onChange() {
  auto open = sessions_;
  for (const auto& s : open) s->tryCompleteWait();
}

void ServerCore::reject(Session& s, const std::string& why) {
  rejected_++;
  log("closed connection from " + s.peer() + ": " + why);
  s.close();
}

void ServerCore::log(const std::string& line) {
  const auto now = std::chrono::steady_clock::now();
  if (now - log_window_start_ >= kLogWindow) {
    reportSuppressed();
    log_window_start_ = now;
    log_lines_ = 0;
  }
  if (log_lines_ < kLogLinesPerWindow) {
    ++log_lines_;
    std::cerr << "[l2face] store: " << line << "\n";
    return;
  }
  if (log_suppressed_++ == 0) {
    std::cerr << "[l2face] store: more than " << kLogLinesPerWindow
              << " rejections in 10 s; the next ones are counted, not logged\n";
  }
}

void ServerCore::reportSuppressed() {
  if (log_suppressed_ == 0) return;
  std::cerr << "[l2face] store: " << log_suppressed_
            << " more rejected connections were not logged\n";
  log_suppressed_ = 0;
}

class TcpStoreServer::Impl : public ServerCore {
 public:
  using ServerCore::ServerCore;
};

TcpStoreServer::TcpStoreServer(StoreServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
TcpStoreServer::~TcpStoreServer() = default;
uint16_t TcpStoreServer::port() const { return impl_->port_; }
uint64_t TcpStoreServer::rejectedConnections() const { return impl_->rejected_.load(); }
uint64_t TcpStoreServer::acceptedClients() const { return impl_->accepted_.load(); }

}  // namespace l2face::comm
