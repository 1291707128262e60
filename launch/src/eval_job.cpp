// makeEvalJob: the run context, the host communicator and the gather of sharded embeddings.
#include "eval_job.h"

#include <algorithm>
#include <stdexcept>

#include "l2face/comm/mpi_session.h"

namespace l2face::launch {
namespace {

// All ranks' float rows in rank order: the counts first, then one all-gather of equal blocks.
std::vector<float> gatherRows(comm::Communicator& comm, const std::vector<float>& local) {
  const size_t world = static_cast<size_t>(comm.size());
  const int64_t mine = static_cast<int64_t>(local.size());
  std::vector<int64_t> counts(world);
  comm.allGather(&mine, counts.data(), 1, comm::DType::kInt64);
  const size_t block = static_cast<size_t>(*std::max_element(counts.begin(), counts.end()));
  std::vector<float> send(block, 0.0f);
  std::copy(local.begin(), local.end(), send.begin());
  std::vector<float> all(block * world);
  if (block > 0) comm.allGather(send.data(), all.data(), block, comm::DType::kFloat32);
  std::vector<float> out;
  for (size_t r = 0; r < world; ++r) {
    const auto begin = all.begin() + static_cast<std::ptrdiff_t>(r * block);
    out.insert(out.end(), begin, begin + counts[r]);
  }
  return out;
}

}  // namespace

EvalJob makeEvalJob() {
  EvalJob job;
  job.ctx = comm::runContextFromEnvironment();
  job.shards.rank = job.ctx.rank;
  job.shards.world = job.ctx.world_size;
  if (job.ctx.world_size == 1) return job;
  if (!comm::MpiSession::active()) {
    throw std::invalid_argument("eval over " + std::to_string(job.ctx.world_size) +
                                " ranks (found by " + job.ctx.source +
                                ") needs mpirun or srun --mpi=pmix");
  }
  comm::CommOptions options;
  options.backend = comm::Backend::kMpi;
  job.comm = comm::makeCommunicator(options, job.ctx);
  comm::Communicator* c = job.comm.get();
  job.shards.gather = [c](const std::vector<float>& local) { return gatherRows(*c, local); };
  return job;
}

}  // namespace l2face::launch
