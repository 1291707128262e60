// The job's TCP store as a shared handle, and a host communicator whose collectives travel on it.
#pragma once

#include <memory>
#include <string>

#include "l2face/comm/communicator.h"
#include "l2face/comm/tcp_store.h"

namespace l2face::comm {

// The store of a job launched without MPI: rank 0 serves it, every rank holds one client (the
// server admits one connection per rank, so whatever else talks to the store shares the client).
// Members are destroyed client first, then the server.
struct JobStore {
  std::unique_ptr<TcpStoreServer> server;  // rank 0 only
  std::shared_ptr<TcpStoreClient> client;
};

// Serves the store on rank 0 (L2FACE_MASTER_PORT, L2FACE_JOB_TOKEN) and connects to it
// (L2FACE_MASTER_ADDR), requests waiting at most timeout_seconds.
std::shared_ptr<JobStore> openJobStore(const RunContext& ctx, double timeout_seconds);

// A host-memory communicator of `size` ranks over a shared store, for small control-plane
// collectives (flags, sums, votes, short strings) when there is no MPI. Collective #s posts this
// rank's bytes under "<prefix>/<s>/<rank>", then polls until every rank's key of #s is there and
// computes the result locally, reducing in rank order (bit-identical on every rank). Every kind
// reads every rank's key, so a rank that completed #s knows all ranks completed #s−1: it then
// removes its own key of #s−1, and the store holds at most two keys per rank and prefix. Each
// collective is complete when launch returns. A rank missing after timeout_seconds makes the
// collective throw CommError naming the ranks that did not arrive (the watchdog's report).
// Thread-safety: as Communicator; the client may be shared with other threads.
std::unique_ptr<Communicator> makeStoreCommunicator(std::shared_ptr<JobStore> store, int rank,
                                                    int size, double timeout_seconds,
                                                    std::string prefix = "l2face/ctl",
                                                    std::string host = "");

}  // namespace l2face::comm
