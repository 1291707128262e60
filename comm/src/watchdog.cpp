// The watchdog's report: which ranks did not arrive at a stuck collective, and ending the job.
#include "watchdog.h"

#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "l2face/comm/errors.h"
#include "l2face/comm/mpi_session.h"

namespace l2face::comm {

const char* opKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kAllReduce:
      return "allreduce";
    case OpKind::kBroadcast:
      return "broadcast";
    case OpKind::kAllGather:
      return "allgather";
    case OpKind::kReduceScatter:
      return "reducescatter";
    case OpKind::kBarrier:
      return "barrier";
  }
  return "?";
}

std::vector<int> ranksNotArrived(uint64_t sequence, const std::vector<Arrival>& arrivals) {
  std::vector<int> out;
  for (const Arrival& a : arrivals) {
    if (!a.responsive || a.sequence < sequence) out.push_back(a.rank);
  }
  return out;
}

namespace {

std::string rankList(const std::vector<int>& ranks) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < ranks.size(); ++i) s << (i ? ", " : "") << ranks[i];
  s << "]";
  return s.str();
}

}  // namespace

std::string formatTimeoutMessage(int rank, const std::string& host, OpKind op, uint64_t sequence,
                                 double timeout_seconds, const std::vector<Arrival>& arrivals) {
  std::ostringstream s;
  s << "[l2face] rank " << rank << " (" << host << "): collective " << opKindName(op) << " #"
    << sequence << " did not complete within " << timeout_seconds
    << " s; ranks that did not arrive: ";
  if (arrivals.empty()) {
    s << "unknown";
    return s.str();
  }
  s << rankList(ranksNotArrived(sequence, arrivals));
  std::vector<int> unresponsive;
  std::ostringstream mismatched;
  for (const Arrival& a : arrivals) {
    if (!a.responsive) {
      unresponsive.push_back(a.rank);
    } else if (a.sequence == sequence && a.op != static_cast<int>(op)) {
      mismatched << (mismatched.tellp() > 0 ? ", " : "") << a.rank << " ("
                 << opKindName(static_cast<OpKind>(a.op)) << ")";
    }
  }
  if (!unresponsive.empty()) s << "; not responding (outside MPI): " << rankList(unresponsive);
  if (mismatched.tellp() > 0) {
    s << "; ranks that entered a different collective as #" << sequence << ": " << mismatched.str();
  }
  return s.str();
}

void endJob(const std::string& message) {
  std::string line = message + "\n";
  // One write so that lines from several ranks do not interleave mid-line.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  abortJob(kCommFailureExitCode);
}

}  // namespace l2face::comm
