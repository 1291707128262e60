// The collective commit protocol: begin (rank 0 creates .tmp), agreement, commit, outcome.
#include "l2face/checkpoint/collective.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "publish.h"

namespace fs = std::filesystem;

namespace l2face::checkpoint {
namespace {

using Clock = std::chrono::steady_clock;
using comm::DType;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void requireHost(const comm::Communicator& comm) {
  if (comm.memoryKind() != comm::MemoryKind::kHost) {
    throw CheckpointError(
        "checkpoint collectives need a host-memory communicator (local or mpi), "
        "got the " +
        comm.backend() + " backend");
  }
}

// Rank 0's values on every rank: {code, number} and a text, in two broadcasts (one when the text
// is empty; every rank learns that from the first).
struct RootResult {
  int64_t code = 0;
  int64_t number = 0;
  std::string text;
};

RootResult broadcastFromRoot(comm::Communicator& comm, RootResult r) {
  int64_t head[3] = {r.code, r.number, static_cast<int64_t>(r.text.size())};
  comm.broadcast(head, 3, DType::kInt64, 0);
  r.code = head[0];
  r.number = head[1];
  if (head[2] > 0) {
    std::vector<uint8_t> buf(static_cast<size_t>(head[2]));
    if (comm.rank() == 0) std::memcpy(buf.data(), r.text.data(), buf.size());
    comm.broadcast(buf.data(), buf.size(), DType::kUInt8, 0);
    r.text.assign(reinterpret_cast<const char*>(buf.data()), buf.size());
  } else {
    r.text.clear();
  }
  return r;
}

std::string failureText(int64_t step, const std::vector<std::pair<int, std::string>>& failures) {
  constexpr size_t kListed = 8;
  std::string s = "checkpoint step " + std::to_string(step) + " failed: ";
  for (size_t i = 0; i < failures.size() && i < kListed; ++i) {
    if (i > 0) s += "; ";
    s += failures[i].first >= 0 ? "rank " + std::to_string(failures[i].first) + ": " : "";
    s += failures[i].second;
  }
  if (failures.size() > kListed) {
    s += "; and " + std::to_string(failures.size() - kListed) + " more failures";
  }
  return s;
}

nlohmann::json payloadJson(const LocalSave& s) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [name, e] : s.files)
    files[name] = {{"size_bytes", e.size_bytes}, {"xxh64", e.xxh64}};
  return {{"ok", s.ok}, {"error", s.error}, {"files", files}};
}

}  // namespace

const char* saveStatusName(SaveStatus s) {
  switch (s) {
    case SaveStatus::kIdle:
      return "idle";
    case SaveStatus::kPending:
      return "pending";
    case SaveStatus::kCommitted:
      return "committed";
    case SaveStatus::kFailed:
      return "failed";
  }
  return "?";
}

fs::path beginCollectiveSave(comm::Communicator& comm, const fs::path& run_dir, int64_t step) {
  requireHost(comm);
  // 1. Rank 0 prepares step_<N>.tmp; the broadcast of its result is the barrier before writing.
  const fs::path tmp = detail::tmpDir(run_dir, step);
  RootResult r;
  if (comm.rank() == 0) {
    try {
      detail::prepareTmp(tmp);
    } catch (const std::exception& e) {
      r.code = 1;
      r.text = e.what();
    }
  }
  r = broadcastFromRoot(comm, r);
  if (r.code != 0) {
    throw CheckpointError("checkpoint step " + std::to_string(step) + ": rank 0: " + r.text);
  }
  return tmp;
}

LocalSave sealFiles(const fs::path& dir, const std::vector<std::string>& names) {
  LocalSave out;
  const auto t0 = Clock::now();
  // 2. fsync and checksum each file of this rank.
  for (const auto& name : names) {
    try {
      detail::checkFileName(name);
      out.files[name] = detail::sealFile(dir / name);
    } catch (const std::exception& e) {
      out.ok = false;
      out.error = e.what();
      out.files.clear();
      break;
    }
  }
  out.seconds = secondsSince(t0);
  return out;
}

SaveOutcome agreeAndCommit(comm::Communicator& comm, const fs::path& run_dir, int64_t step,
                           const LocalSave& mine, const nlohmann::json& meta,
                           const CommitOptions& options) {
  return detail::agreeAndCommit(comm, run_dir, step, mine, meta, options, nullptr);
}

namespace {

// What the agreement decided: the committed files (by name) and who wrote each, or the failures.
struct Verdict {
  std::vector<std::pair<int, std::string>> failures;
  std::map<std::string, FileEntry> files;
  std::map<std::string, int> owner;
};

// 3. Agreement: every rank's ok flag, error and file entries, on every rank. The verdict is a pure
// function of the gathered data, hence the same on every rank.
Verdict agree(comm::Communicator& comm, const LocalSave& mine) {
  const int world = comm.size();
  const std::string payload = payloadJson(mine).dump();
  int64_t len = static_cast<int64_t>(payload.size());
  comm.allReduce(&len, 1, DType::kInt64, comm::ReduceOp::kMax);
  std::vector<uint8_t> send(static_cast<size_t>(len), 0);
  std::memcpy(send.data(), payload.data(), payload.size());
  std::vector<uint8_t> all(static_cast<size_t>(len) * static_cast<size_t>(world), 0);
  comm.allGather(send.data(), all.data(), static_cast<size_t>(len), DType::kUInt8);

  Verdict v;
  for (int r = 0; r < world; ++r) {
    const char* block = reinterpret_cast<const char*>(all.data()) + static_cast<size_t>(r) * len;
    const std::string text(block, strnlen(block, static_cast<size_t>(len)));
    try {
      const nlohmann::json j = nlohmann::json::parse(text);
      if (!j.at("ok").get<bool>()) {
        v.failures.push_back({r, j.at("error").get<std::string>()});
        continue;
      }
      for (const auto& [name, e] : j.at("files").items()) {
        auto [it, fresh] = v.owner.emplace(name, r);
        if (!fresh) {
          v.failures.push_back({r, "file " + name + " is also written by rank " +
                                       std::to_string(it->second) + " (names must be unique)"});
          continue;
        }
        v.files[name] =
            FileEntry{e.at("size_bytes").get<uint64_t>(), e.at("xxh64").get<std::string>()};
      }
    } catch (const nlohmann::json::exception& e) {
      v.failures.push_back({r, std::string("unreadable agreement message: ") + e.what()});
    }
  }
  return v;
}

// 4. On rank 0: checks that every agreed file is visible with its size, then publishes (manifest,
// rename, LATEST, retention); or removes step_<N>.tmp when the save failed anywhere.
RootResult commitOnRoot(const fs::path& run_dir, int64_t step, int world, Verdict& v,
                        const nlohmann::json& meta, const CommitOptions& options,
                        std::vector<fs::path>* deferred_removals) {
  RootResult result;
  const fs::path tmp = detail::tmpDir(run_dir, step);
  if (v.failures.empty()) {
    uint64_t bytes = 0;
    for (const auto& [name, e] : v.files) {
      std::error_code ec;
      const uint64_t seen = fs::file_size(tmp / name, ec);
      if (ec || seen != e.size_bytes) {
        v.failures.push_back({v.owner[name], "its file " + (tmp / name).string() + " is " +
                                                 (ec ? "not visible" : "of a different size") +
                                                 " on rank 0 (RUN_DIR must be on a filesystem "
                                                 "shared by every rank)"});
      }
      bytes += e.size_bytes;
    }
    if (v.failures.empty()) {
      try {
        detail::publish(run_dir, step, world, v.files, meta, options.retention, options.faults, 0,
                        deferred_removals);
        result.number = static_cast<int64_t>(bytes);
      } catch (const std::exception& e) {
        v.failures.push_back({0, std::string("commit: ") + e.what()});
      }
    }
  }
  if (!v.failures.empty()) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    result.code = 1;
    result.text = failureText(step, v.failures);
  }
  return result;
}

}  // namespace

SaveOutcome detail::agreeAndCommit(comm::Communicator& comm, const fs::path& run_dir, int64_t step,
                                   const LocalSave& mine_in, const nlohmann::json& meta,
                                   const CommitOptions& options,
                                   std::vector<fs::path>* deferred_removals) {
  requireHost(comm);
  const auto t0 = Clock::now();
  const int rank = comm.rank();
  LocalSave mine = mine_in;
  if (mine.ok && options.faults.has("checkpoint.write_fail", rank, step)) {
    mine = LocalSave{false, "injected fault checkpoint.write_fail", {}, mine.seconds};
  }
  Verdict verdict = agree(comm, mine);  // 3.

  // 4. Rank 0 commits, or removes step_<N>.tmp when the save failed anywhere.
  if (verdict.failures.empty()) {
    options.faults.crashPoint("checkpoint.crash_before_manifest", rank, step);
  }
  RootResult result;
  if (rank == 0) {
    result = commitOnRoot(run_dir, step, comm.size(), verdict, meta, options, deferred_removals);
  }

  // 5. Rank 0's outcome on every rank.
  result = broadcastFromRoot(comm, result);
  SaveOutcome out;
  out.step = step;
  out.write_seconds = mine.seconds;
  if (result.code == 0) {
    out.status = SaveStatus::kCommitted;
    out.dir = detail::checkpointsDir(run_dir) / detail::stepName(step);
    out.bytes = static_cast<uint64_t>(result.number);
  } else {
    out.status = SaveStatus::kFailed;
    out.error = result.text;
  }
  out.commit_seconds = secondsSince(t0);
  return out;
}

ShardedCheckpointWriter::ShardedCheckpointWriter(comm::Communicator& comm, fs::path run_dir,
                                                 int64_t step, CommitOptions options)
    : comm_(comm), run_dir_(std::move(run_dir)), step_(step), options_(std::move(options)) {
  tmp_ = beginCollectiveSave(comm_, run_dir_, step_);
}

fs::path ShardedCheckpointWriter::path(const std::string& name) {
  detail::checkFileName(name);
  if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
  return tmp_ / name;
}

void ShardedCheckpointWriter::fail(const std::string& message) {
  if (failure_.empty()) failure_ = message;
}

SaveOutcome ShardedCheckpointWriter::commitOutcome(const nlohmann::json& meta) {
  if (done_) throw std::logic_error("ShardedCheckpointWriter::commit called twice");
  done_ = true;
  LocalSave mine = failure_.empty() ? sealFiles(tmp_, names_) : LocalSave{false, failure_, {}, 0};
  return agreeAndCommit(comm_, run_dir_, step_, mine, meta, options_);
}

fs::path ShardedCheckpointWriter::commit(const nlohmann::json& meta) {
  SaveOutcome o = commitOutcome(meta);
  if (!o.committed()) throw CheckpointError(o.error);
  return o.dir;
}

}  // namespace l2face::checkpoint
