// The rendezvous store's server: Boost.Asio on one thread, sessions that must say hello first.
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "l2face/comm/errors.h"
#include "l2face/comm/tcp_store.h"
#include "store_protocol.h"

namespace l2face::comm {

namespace asio = boost::asio;
using asio::ip::tcp;
using store::Command;
using store::Reader;
using store::Writer;

class Session;

// All state below is touched only on the io thread (handlers), except the counters.
class ServerCore {
 public:
  explicit ServerCore(StoreServerOptions options);
  ~ServerCore();

  void accept();
  void onChange();  // a key was set: complete the waits it satisfies
  void reject(Session& s, const std::string& why);

  StoreServerOptions options_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> accepted_{0};
  std::map<std::string, std::string> data_;
  std::set<std::shared_ptr<Session>> sessions_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerCore& server)
      : socket_(std::move(socket)), server_(server), timer_(server.io_) {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? "unknown peer" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void start() {
    auto self = shared_from_this();
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
  int rank() const { return rank_; }

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
  void readHeader() {
    if (!open_) return;
    auto self = shared_from_this();
    asio::async_read(
        socket_, asio::buffer(header_, 4), [self](const boost::system::error_code& ec, size_t) {
          if (ec) return self->close();
          uint32_t n = store::decodeLength(self->header_);
          if (n == 0 || n > self->server_.options_.max_message_bytes) {
            return self->server_.reject(
                *self, "message of " + std::to_string(n) + " bytes (limit " +
                           std::to_string(self->server_.options_.max_message_bytes) + ")");
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

  void handle() {
    Reader r(body_.data(), body_.size());
    Command cmd = r.command();
    if (!hello_done_) {
      if (cmd != Command::kHello) return server_.reject(*this, "first message is not a hello");
      std::string token = r.str();
      rank_ = r.i32();
      if (!store::constantTimeEqual(token, server_.options_.token)) {
        server_.rejected_++;
        std::cerr << "[l2face] store: rejected connection from " << peer_ << " (claims rank "
                  << rank_ << "): wrong job token\n";
        return reply(Writer(Command::kError).str("wrong job token"), /*close_after=*/true);
      }
      hello_done_ = true;
      timer_.cancel();
      server_.accepted_++;
      return reply(Writer(Command::kOk));
    }
    auto& data = server_.data_;
    switch (cmd) {
      case Command::kSet: {
        std::string key = r.str();
        data[key] = r.str();
        reply(Writer(Command::kOk));
        return server_.onChange();
      }
      case Command::kGet: {
        auto it = data.find(r.str());
        if (it == data.end()) return reply(Writer(Command::kNotFound));
        return reply(Writer(Command::kValue).str(it->second));
      }
      case Command::kAdd: {
        std::string key = r.str();
        int64_t delta = r.i64();
        int64_t v = 0;
        auto it = data.find(key);
        if (it != data.end()) {
          try {
            v = std::stoll(it->second);
          } catch (const std::exception&) {
            throw store::ProtocolError("ADD on key '" + key + "' whose value is not an integer");
          }
        }
        v += delta;
        data[key] = std::to_string(v);
        reply(Writer(Command::kValue).str(std::to_string(v)));
        return server_.onChange();
      }
      case Command::kWait: {
        uint32_t n = r.u32();
        wait_keys_.clear();
        for (uint32_t i = 0; i < n; ++i) wait_keys_.push_back(r.str());
        uint64_t timeout_ms = r.u64();
        waiting_ = true;
        if (tryCompleteWait()) return;
        auto self = shared_from_this();
        timer_.expires_after(std::chrono::milliseconds(timeout_ms));
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
      case Command::kDelete: {
        bool erased = data.erase(r.str()) > 0;
        return reply(Writer(erased ? Command::kOk : Command::kNotFound));
      }
      default:
        throw store::ProtocolError("unknown command " + std::to_string(static_cast<int>(cmd)));
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
  std::vector<std::string> wait_keys_;
  unsigned char header_[4] = {0, 0, 0, 0};
  std::string body_;
};

ServerCore::ServerCore(StoreServerOptions options) : options_(std::move(options)), acceptor_(io_) {
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
  thread_ = std::thread([this] { io_.run(); });
}

ServerCore::~ServerCore() {
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    auto open = sessions_;  // close() erases from sessions_
    for (const auto& s : open) s->close();
    io_.stop();
  });
  thread_.join();
  sessions_.clear();
}

void ServerCore::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
    } else {
      auto s = std::make_shared<Session>(std::move(socket), *this);
      sessions_.insert(s);
      s->start();
    }
    accept();
  });
}

void ServerCore::onChange() {
  auto open = sessions_;
  for (const auto& s : open) s->tryCompleteWait();
}

void ServerCore::reject(Session& s, const std::string& why) {
  rejected_++;
  std::cerr << "[l2face] store: closed connection from " << s.peer() << ": " << why << "\n";
  s.close();
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
