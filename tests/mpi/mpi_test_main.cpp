// gtest main for multi-rank tests: MPI first, rank 0 prints, every rank exits with the worst, or
// with kAllSkippedExit when every case skipped on every rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "l2face/comm/mpi_session.h"

namespace {

// The exit status of a run whose every case skipped: SKIP_RETURN_CODE of l2face_mpi_test
// (tests/CMakeLists.txt, L2FACE_ALL_SKIPPED_EXIT), so that ctest reports it as skipped.
constexpr int kAllSkippedExit = 77;

// 1 when cases ran and every one of them skipped.
int allSkipped() {
  const auto& u = *::testing::UnitTest::GetInstance();
  return u.test_to_run_count() > 0 && u.skipped_test_count() == u.test_to_run_count() ? 1 : 0;
}

// On ranks other than 0: print only failures, prefixed with the rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }
  void OnTestEnd(const ::testing::TestInfo& t) override {
    if (t.result()->Failed()) {
      std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, t.test_suite_name(), t.name());
    }
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  l2face::comm::MpiSession mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (mpi.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(mpi.rank()));
  }
  int local = RUN_ALL_TESTS();
  int global = 0;
  // Every rank exits with the same status, so that a failure on any rank fails the job.
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (mpi.rank() == 0 && global != 0 && local == 0) {
    std::fprintf(stderr, "FAILED on another rank (see the [rank N] lines)\n");
  }
  int skipped_here = allSkipped(), skipped_everywhere = 0;
  MPI_Allreduce(&skipped_here, &skipped_everywhere, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (global == 0 && skipped_everywhere == 1) {
    if (mpi.rank() == 0) std::fprintf(stderr, "every case skipped: exit %d\n", kAllSkippedExit);
    return kAllSkippedExit;
  }
  return global;
}
