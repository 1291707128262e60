// MPI's lifetime: MPI_Init_thread / MPI_Finalize, and ending the whole job with MPI_Abort.
#include "l2face/comm/mpi_session.h"

#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <string>

#include "l2face/comm/errors.h"

#ifdef L2FACE_HAVE_MPI
#include <mpi.h>
#endif

namespace l2face::comm {

bool launchedUnderMpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return true;
  }
  return false;
}

#ifdef L2FACE_HAVE_MPI

MpiSession::MpiSession(int* argc, char*** argv) : uncaught_at_start_(std::uncaught_exceptions()) {
  if (active()) throw CommError("MpiSession: MPI is already initialised in this process");
  // Threads: every MPI call is made by one comm thread at a time, so SERIALIZED would do; ask for
  // MULTIPLE so that the watchdog may also read the arrival board while a collective runs.
  int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_);
  if (rc != MPI_SUCCESS)
    throw CommError("MPI_Init_thread failed (code " + std::to_string(rc) + ")");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (std::uncaught_exceptions() > uncaught_at_start_ && size_ > 1) {
    // Unwinding from a failure: finalising would wait for ranks that are waiting for us.
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
}

void MpiSession::abort(int exit_code) const { abortJob(exit_code); }

bool MpiSession::builtWithMpi() { return true; }

bool MpiSession::active() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void abortJob(int exit_code) noexcept {
  if (MpiSession::active()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  _exit(exit_code);
}

#else  // built without MPI: a session cannot exist, and ending the job ends this process

MpiSession::MpiSession(int*, char***) {
  throw CommError("this l2face was built without MPI; rebuild with OpenMPI installed");
}
MpiSession::~MpiSession() = default;
void MpiSession::abort(int exit_code) const { abortJob(exit_code); }
bool MpiSession::builtWithMpi() { return false; }
bool MpiSession::active() { return false; }
void abortJob(int exit_code) noexcept { _exit(exit_code); }

#endif

}  // namespace l2face::comm
