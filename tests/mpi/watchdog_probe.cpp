// A job that goes wrong on purpose, for the watchdog tests (driven by expect_job_end.cmake).
//
//   watchdog_probe stuck     the last rank never enters allreduce #3 (it sleeps outside MPI)
//   watchdog_probe mismatch  the last rank calls barrier as #3 while the others call allreduce
//   watchdog_probe die       the last rank is killed by SIGKILL before allreduce #3
//
// The watchdog timeout is 2 s; the expected ends are in tests/mpi/CMakeLists.txt.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "l2face/comm/communicator.h"
#include "l2face/comm/mpi_session.h"
#include "l2face/comm/run_context.h"

using namespace l2face::comm;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: watchdog_probe stuck|mismatch|die\n");
    return 2;
  }
  const std::string mode = argv[1];
  MpiSession mpi(&argc, &argv);
  CommOptions o;
  o.backend = Backend::kMpi;
  o.timeout_seconds = mode == "die" ? 600 : 2;  // "die": mpirun, not the watchdog, ends the job
  auto comm = makeCommunicator(o, runContextFromEnvironment());
  const bool culprit = comm->rank() == comm->size() - 1;
  float x[4] = {1, 2, 3, 4};
  comm->allReduce(x, 4, DType::kFloat32, ReduceOp::kSum);  // #1
  comm->barrier();                                         // #2
  if (culprit) {
    if (mode == "stuck") std::this_thread::sleep_for(std::chrono::seconds(60));
    if (mode == "die") std::raise(SIGKILL);
    if (mode == "mismatch") comm->barrier();
  } else {
    comm->allReduce(x, 4, DType::kFloat32, ReduceOp::kSum);  // #3
  }
  std::fprintf(stderr, "rank %d: the job was not ended\n", comm->rank());
  return 0;
}
