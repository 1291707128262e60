// The rendezvous store's client: synchronous requests on one connection, each with a deadline.
#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "l2face/comm/errors.h"
#include "l2face/comm/internal/store_protocol.h"
#include "l2face/comm/tcp_store.h"

namespace l2face::comm {

namespace asio = boost::asio;
using asio::ip::tcp;
using store::Command;
using store::Reader;
using store::Writer;

namespace {

std::chrono::steady_clock::duration toDuration(double seconds) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(seconds));
}

// Extra time a WAIT's reply may take beyond the wait itself before the client gives up.
constexpr double kWaitGraceSeconds = 5;

}  // namespace

class TcpStoreClient::Impl {
 public:
  explicit Impl(StoreClientOptions options) : o_(std::move(options)), socket_(io_) {
    where_ = o_.host + ":" + std::to_string(o_.port);
    const auto deadline = std::chrono::steady_clock::now() + toDuration(o_.timeout_seconds);
    for (;;) {
      connect(deadline);
      const double left =
          std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      Reply r;
      try {
        r = request(Writer(Command::kHello).str(o_.token).i32(o_.rank), std::max(left, 0.1));
      } catch (const CommError& e) {
        // Closed before the reply (the server dropped it among a flood of connections, or is
        // restarting): connect again while time is left. No reply in time is final.
        if (!closed_by_peer_ || std::chrono::steady_clock::now() > deadline) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (r.cmd == Command::kError) {
        Reader rd(r.body.data(), r.body.size());
        rd.command();
        throw CommError("store at " + where_ + " refused this process: " + rd.str() +
                        " (check L2FACE_JOB_TOKEN, L2FACE_RANK and L2FACE_WORLD_SIZE)");
      }
      expect(r, Command::kOk, "hello");
      return;
    }
  }

  struct Reply {
    Command cmd = Command::kError;
    std::string body;  // the whole payload, command byte included
  };

  Reply request(const Writer& w, double timeout_seconds) {
    closed_by_peer_ = false;
    if (!socket_.is_open()) throw CommError("store at " + where_ + ": connection is closed");
    std::string frame = w.frame();
    unsigned char header[4];
    Reply reply{Command::kError, {}};
    boost::system::error_code error;
    bool done = false;
    asio::async_write(
        socket_, asio::buffer(frame), [&](const boost::system::error_code& ec, size_t) {
          if (ec) {
            error = ec;
            done = true;
            return;
          }
          asio::async_read(socket_, asio::buffer(header, 4),
                           [&](const boost::system::error_code& ec2, size_t) {
                             if (ec2) {
                               error = ec2;
                               done = true;
                               return;
                             }
                             uint32_t n = store::decodeLength(header);
                             if (n == 0 || n > o_.max_message_bytes) {
                               error = asio::error::message_size;
                               done = true;
                               return;
                             }
                             reply.body.resize(n);
                             asio::async_read(socket_, asio::buffer(reply.body),
                                              [&](const boost::system::error_code& ec3, size_t) {
                                                error = ec3;
                                                done = true;
                                              });
                           });
        });
    io_.restart();
    io_.run_for(toDuration(timeout_seconds));
    if (!done) {
      // Abandon the connection: a late reply would be taken for the next request's.
      boost::system::error_code ignored;
      socket_.close(ignored);
      io_.restart();
      io_.run();  // lets the cancelled handlers, which reference this frame, finish
      throw CommError("store at " + where_ + ": no reply within " +
                      std::to_string(timeout_seconds) + " s");
    }
    if (error) {
      closed_by_peer_ = error == asio::error::eof || error == asio::error::connection_reset ||
                        error == asio::error::broken_pipe;
      boost::system::error_code ignored;
      socket_.close(ignored);
      throw CommError("store at " + where_ + ": " + error.message());
    }
    reply.cmd = static_cast<Command>(static_cast<unsigned char>(reply.body[0]));
    return reply;
  }

  void expect(const Reply& r, Command want, const char* what) {
    if (r.cmd != want) {
      throw CommError("store at " + where_ + ": unexpected reply " +
                      std::to_string(static_cast<int>(r.cmd)) + " to " + what);
    }
  }

  StoreClientOptions o_;
  std::string where_;
  std::mutex mutex_;
  asio::io_context io_;
  tcp::socket socket_;
  bool closed_by_peer_ = false;  // the last request failed because the server closed the socket

 private:
  // Retries until the deadline: rank 0's server may not be listening yet.
  void connect(std::chrono::steady_clock::time_point deadline) {
    std::string last = "no attempt";
    for (;;) {
      boost::system::error_code ec;
      tcp::resolver resolver(io_);
      auto endpoints = resolver.resolve(o_.host, std::to_string(o_.port), ec);
      if (!ec) {
        asio::connect(socket_, endpoints, ec);
        if (!ec) {
          socket_.set_option(tcp::no_delay(true), ec);
          return;
        }
      }
      last = ec.message();
      boost::system::error_code ignored;
      socket_.close(ignored);
      if (std::chrono::steady_clock::now() > deadline) {
        throw CommError("store at " + where_ + ": cannot connect within " +
                        std::to_string(o_.timeout_seconds) + " s (" + last + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
};

TcpStoreClient::TcpStoreClient(StoreClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
TcpStoreClient::~TcpStoreClient() = default;

void TcpStoreClient::set(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  auto r = impl_->request(Writer(Command::kSet).str(key).str(value), impl_->o_.timeout_seconds);
  impl_->expect(r, Command::kOk, "set");
}

std::optional<std::string> TcpStoreClient::tryGet(const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  auto r = impl_->request(Writer(Command::kGet).str(key), impl_->o_.timeout_seconds);
  if (r.cmd == Command::kNotFound) return std::nullopt;
  impl_->expect(r, Command::kValue, "get");
  Reader rd(r.body.data(), r.body.size());
  rd.command();
  return rd.str();
}

std::string TcpStoreClient::get(const std::string& key) {
  wait({key}, impl_->o_.timeout_seconds);
  auto v = tryGet(key);
  if (!v) throw CommError("store at " + impl_->where_ + ": key '" + key + "' vanished");
  return *v;
}

int64_t TcpStoreClient::add(const std::string& key, int64_t delta) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  auto r = impl_->request(Writer(Command::kAdd).str(key).i64(delta), impl_->o_.timeout_seconds);
  impl_->expect(r, Command::kValue, "add");
  Reader rd(r.body.data(), r.body.size());
  rd.command();
  return std::stoll(rd.str());
}

void TcpStoreClient::wait(const std::vector<std::string>& keys, double timeout_seconds) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  Writer w(Command::kWait);
  w.u32(static_cast<uint32_t>(keys.size()));
  for (const auto& k : keys) w.str(k);
  w.u64(static_cast<uint64_t>(timeout_seconds * 1000.0));
  auto r = impl_->request(w, timeout_seconds + kWaitGraceSeconds);
  if (r.cmd == Command::kTimeout) {
    Reader rd(r.body.data(), r.body.size());
    rd.command();
    uint32_t n = rd.u32();
    std::string missing;
    for (uint32_t i = 0; i < n; ++i) missing += (i ? ", " : "") + rd.str();
    throw CommError("store at " + impl_->where_ + ": keys [" + missing + "] not set within " +
                    std::to_string(timeout_seconds) + " s");
  }
  impl_->expect(r, Command::kOk, "wait");
}

bool TcpStoreClient::remove(const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  auto r = impl_->request(Writer(Command::kDelete).str(key), impl_->o_.timeout_seconds);
  return r.cmd == Command::kOk;
}

StoreClientOptions storeClientOptionsFromEnvironment(int rank, double timeout_seconds) {
  auto need = [](const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') {
      throw CommError(std::string("environment variable ") + name +
                      " is not set (a job launched without mpirun needs L2FACE_MASTER_ADDR, "
                      "L2FACE_MASTER_PORT and L2FACE_JOB_TOKEN)");
    }
    return std::string(v);
  };
  StoreClientOptions o;
  o.host = need("L2FACE_MASTER_ADDR");
  std::string port = need("L2FACE_MASTER_PORT");
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (*end != '\0' || p <= 0 || p > 65535) {
    throw CommError("L2FACE_MASTER_PORT='" + port + "' is not a port number");
  }
  o.port = static_cast<uint16_t>(p);
  o.token = need("L2FACE_JOB_TOKEN");
  o.rank = rank;
  o.timeout_seconds = timeout_seconds;
  return o;
}

}  // namespace l2face::comm
