// The watchdog's report: which ranks did not arrive at a stuck collective, and ending the job.
#include "l2face/comm/internal/watchdog.h"

#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "l2face/comm/errors.h"
#include "l2face/comm/mpi_session.h"

namespace l2face::comm {

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

// The name of an op number read from another rank (which may be garbage after a crash).
std::string opName(int op) {
  try {
    return collectiveName(static_cast<CollectiveKind>(op));
  } catch (const CommError&) {
    return "?";
  }
}

}  // namespace

std::string formatTimeoutMessage(int rank, const std::string& host, CollectiveKind op,
                                 uint64_t sequence, double timeout_seconds,
                                 const std::vector<Arrival>& arrivals) {
  std::ostringstream s;
  s << "[l2face] rank " << rank << " (" << host << "): collective " << collectiveName(op) << " #"
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
      mismatched << (mismatched.tellp() > 0 ? ", " : "") << a.rank << " (" << opName(a.op) << ")";
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
