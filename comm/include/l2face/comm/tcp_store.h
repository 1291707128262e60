// TCP rendezvous store: a key-value server and its client, for jobs launched without MPI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace l2face::comm {

struct StoreServerOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 0;  // 0: any free port (see TcpStoreServer::port())
  // Every client must present this token in its hello; anything else is rejected and logged.
  // Required: the server refuses to start without one.
  std::string token;
  size_t max_message_bytes = size_t{64} << 20;  // after the hello; before it, 64 KiB
  double hello_timeout_seconds = 10;  // a connection silent this long after connecting is closed
  // The job's number of ranks, or 0 (any number of clients, any rank). When set, each rank in
  // [0, world_size) may say hello once, and once all have, new connections are refused.
  int world_size = 0;
  // Connections still owing their hello; one more closes the oldest of them (0 = no cap).
  size_t max_pending_connections = 64;
};

// The rendezvous server: one thread running Boost.Asio, state in memory. Wire protocol and its
// steps are documented in comm/src/store_protocol.h. Thread-safety: all methods thread-safe.
class TcpStoreServer {
 public:
  // Binds and starts serving; throws CommError when the address cannot be bound.
  explicit TcpStoreServer(StoreServerOptions options);
  ~TcpStoreServer();  // stops serving, closes every connection, joins the thread
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  uint16_t port() const;
  // Connections closed for a wrong or missing token, a malformed or oversized message, no hello,
  // a rank outside the world or said twice, the pending cap, or arriving after the rendezvous.
  // Rejections are logged on stderr ("[l2face] store: ...", at most 20 lines per 10 s).
  uint64_t rejectedConnections() const;
  uint64_t acceptedClients() const;  // connections that passed the hello

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

struct StoreClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string token;
  int rank = -1;                 // for the server's log lines
  double timeout_seconds = 300;  // connecting (retried while the server starts) and requests
  size_t max_message_bytes = size_t{64} << 20;
};

// A connection to the store. Requests are synchronous. Thread-safety: all methods thread-safe
// (serialised on the one connection).
class TcpStoreClient {
 public:
  // Connects (retrying until timeout_seconds, since rank 0's server may start later or close the
  // connection before answering, under a flood of other connections) and sends the hello. Throws
  // CommError on timeout or when the server refuses the hello (its reason in the message).
  explicit TcpStoreClient(StoreClientOptions options);
  ~TcpStoreClient();
  TcpStoreClient(const TcpStoreClient&) = delete;
  TcpStoreClient& operator=(const TcpStoreClient&) = delete;

  void set(const std::string& key, const std::string& value);
  // The value, waiting up to timeout_seconds for the key to be set.
  std::string get(const std::string& key);
  std::optional<std::string> tryGet(const std::string& key);
  // Adds delta to the integer at key (absent counts as 0) and returns the new value.
  int64_t add(const std::string& key, int64_t delta);
  // Returns once every key is set; throws CommError naming the missing keys after timeout_seconds.
  void wait(const std::vector<std::string>& keys, double timeout_seconds);
  // Removes key; false when it was not set.
  bool remove(const std::string& key);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The store settings of a job launched without MPI, from L2FACE_MASTER_ADDR, L2FACE_MASTER_PORT
// and L2FACE_JOB_TOKEN (all required; CommError names the missing one).
StoreClientOptions storeClientOptionsFromEnvironment(int rank, double timeout_seconds);

}  // namespace l2face::comm
