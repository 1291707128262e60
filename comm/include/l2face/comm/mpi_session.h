// MpiSession: MPI's lifetime in this process (init with threads, finalize or abort), owned by main.
#pragma once

namespace l2face::comm {

// True when the environment shows a launch by mpirun/mpiexec or srun with PMI/PMIx, i.e. when
// main should create an MpiSession.
bool launchedUnderMpi();

// MPI_Init_thread(MPI_THREAD_MULTIPLE) in the constructor, MPI_Finalize in the destructor. At
// most one per process, created by main before any communicator and destroyed after all of them.
// Destroyed during stack unwinding (an exception escaping main's scope) it calls MPI_Abort with
// exit code 1 instead of finalising, because MPI_Finalize would wait for ranks that may be stuck
// in a collective. Thread-safety: construct, destroy and abort() from the main thread.
class MpiSession {
 public:
  // argc/argv may be null. Throws CommError when built without MPI or when MPI cannot start.
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The thread level MPI granted (MPI_THREAD_SINGLE = 0 ... MPI_THREAD_MULTIPLE = 3).
  int threadLevel() const { return thread_level_; }
  // Ends every rank of the job with exit_code (MPI_Abort). For main's error path when size() > 1:
  // returning non-zero and finalising would leave the other ranks waiting in a collective.
  [[noreturn]] void abort(int exit_code) const;

  static bool builtWithMpi();
  // MPI initialised and not yet finalised in this process.
  static bool active();

 private:
  int rank_ = 0;
  int size_ = 1;
  int thread_level_ = 0;
  int uncaught_at_start_ = 0;
};

// Ends the whole job now: MPI_Abort on MPI_COMM_WORLD when MPI is active, else _exit. For fatal
// communication failures; never returns, never throws.
[[noreturn]] void abortJob(int exit_code) noexcept;

}  // namespace l2face::comm
