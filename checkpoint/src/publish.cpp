// Commit steps shared by CheckpointWriter and ShardedCheckpointWriter: seal, manifest, rename,
// LATEST, retention.
#include "publish.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace l2face::checkpoint::detail {
namespace {

constexpr off_t kOverlapSyncBytes = off_t{32} << 20;  // below this a helper thread is not worth it

std::string errnoText() { return std::strerror(errno); }

// Rethrows filesystem errors of `f` as CheckpointError, so callers see one exception type.
template <typename F>
auto checked(const std::string& what, F&& f) {
  try {
    return f();
  } catch (const fs::filesystem_error& e) {
    throw CheckpointError(what + ": " + e.what());
  }
}

// What retention removes after the commit of `latest`: the committed checkpoints `r` does not keep,
// orphans and stale .tmp directories. `previous`: the step LATEST named before this commit (-1:
// none). A committed directory newer than it, other than `latest`, is an orphan: a save that
// crashed between its rename and LATEST (never loaded, see openCheckpoint). Without a previous
// LATEST nothing counts as an orphan.
std::vector<fs::path> retentionVictims(const fs::path& run_dir, const Retention& r, int64_t latest,
                                       int64_t previous) {
  std::vector<int64_t> steps;
  std::vector<fs::path> victims;
  for (const auto& p : listCheckpoints(run_dir)) {
    const int64_t s = parseStep(p.filename().string());
    if (previous >= 0 && s > previous && s != latest) {
      victims.push_back(p);
    } else {
      steps.push_back(s);
    }
  }
  for (int64_t s : stepsToDelete(steps, r, latest))
    victims.push_back(checkpointsDir(run_dir) / stepName(s));
  // Only one save runs per run directory, and its own .tmp has just been renamed: any other
  // step_*.tmp is what a crashed or failed save left behind.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpointsDir(run_dir), ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("step_", 0) == 0 && n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
      victims.push_back(e.path());
    }
  }
  return victims;
}

}  // namespace

std::string stepName(int64_t step) { return "step_" + std::to_string(step); }

int64_t parseStep(const std::string& name) {
  if (name.rfind("step_", 0) != 0 || name.size() == 5 || name.size() > 24) return -1;
  int64_t v = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

fs::path checkpointsDir(const fs::path& run_dir) { return run_dir / "checkpoints"; }

fs::path tmpDir(const fs::path& run_dir, int64_t step) {
  return checkpointsDir(run_dir) / (stepName(step) + ".tmp");
}

void fsyncPath(const fs::path& p, bool directory) {
  int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw CheckpointError("cannot open " + p.string() + " to fsync: " + errnoText());
  int rc = ::fsync(fd);
  const std::string err = rc != 0 ? errnoText() : "";
  ::close(fd);
  if (rc != 0) throw CheckpointError("fsync failed for " + p.string() + ": " + err);
}

void checkFileName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == kManifest || name == "." ||
      name == "..") {
    throw CheckpointError("invalid checkpoint file name '" + name + "'");
  }
}

void prepareTmp(const fs::path& tmp) {
  std::error_code ec;
  fs::remove_all(tmp, ec);  // leftovers of a save that crashed
  ec.clear();
  fs::create_directories(tmp, ec);
  if (ec) throw CheckpointError("cannot create " + tmp.string() + ": " + ec.message());
}

FileEntry sealFile(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) {
    throw CheckpointError(file.string() + ": cannot open to checksum (" + errnoText() +
                          "; was it written?)");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st_buf {};
  if (::fstat(fd, &st_buf) != 0) {
    throw CheckpointError(file.string() + ": stat failed: " + errnoText());
  }
  // The disk write-back (fsync) and the checksum (a read of the page cache) overlap: for a large
  // file the seal then costs about the longer of the two instead of their sum.
  int sync_errno = 0;
  std::thread syncer;
  const bool overlap = st_buf.st_size >= kOverlapSyncBytes;
  auto doSync = [&] { sync_errno = ::fsync(fd) == 0 ? 0 : errno; };
  if (overlap) syncer = std::thread(doSync);
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  std::vector<char> buf(size_t{8} << 20);
  uint64_t size = 0;
  std::string read_error;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      read_error = errnoText();
      break;
    }
    if (n == 0) break;
    XXH64_update(st, buf.data(), static_cast<size_t>(n));
    size += static_cast<uint64_t>(n);
  }
  const uint64_t h = XXH64_digest(st);
  XXH64_freeState(st);
  if (overlap) {
    syncer.join();
  } else {
    doSync();
  }
  if (!read_error.empty()) {
    throw CheckpointError(file.string() + ": read failed while checksumming: " + read_error);
  }
  if (sync_errno != 0) {
    throw CheckpointError("fsync failed for " + file.string() + ": " + std::strerror(sync_errno));
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return FileEntry{size, hex};
}

void removePaths(const std::vector<fs::path>& paths) {
  std::error_code ec;
  for (const auto& p : paths) fs::remove_all(p, ec);
}

fs::path publish(const fs::path& run_dir, int64_t step, int world_size,
                 const std::map<std::string, FileEntry>& files, const nlohmann::json& meta,
                 const Retention& retention, const FaultPlan& faults, int rank,
                 std::vector<fs::path>* deferred_removals) {
  const fs::path cdir = checkpointsDir(run_dir);
  const fs::path tmp = tmpDir(run_dir, step);
  const fs::path final_dir = cdir / stepName(step);
  // 3. The manifest, atomically (temp, fsync, rename, fsync of the directory).
  faults.crashPoint("checkpoint.crash_before_manifest", rank, step);
  nlohmann::json jf = nlohmann::json::object();
  for (const auto& [name, e] : files) jf[name] = {{"size_bytes", e.size_bytes}, {"xxh64", e.xxh64}};
  nlohmann::json j = {{"format_version", kFormatVersion},
                      {"step", step},
                      {"world_size", world_size},
                      {"files", jf},
                      {"meta", meta}};
  writeFileAtomic(tmp / kManifest, j.dump(2) + "\n");
  // 4. Rename the directory into place; fsync the parent so that the rename is durable. An older
  //    save of the same step (a rerun) is replaced.
  checked("cannot move " + tmp.string() + " to " + final_dir.string(), [&] {
    std::error_code ec;
    fs::remove_all(final_dir, ec);
    fs::rename(tmp, final_dir);
  });
  fsyncPath(cdir, true);
  // 5. LATEST names it: the commit point.
  const int64_t previous = latestStep(run_dir);
  faults.crashPoint("checkpoint.crash_before_latest", rank, step);
  try {
    writeFileAtomic(cdir / kLatest, stepName(step) + "\n");
  } catch (const std::exception&) {
    std::error_code ec;
    fs::remove_all(final_dir, ec);  // not named by LATEST: never loaded anyway; leave no clutter
    throw;
  }
  // 6. Retention (never the checkpoint LATEST names), orphans and stale .tmp directories: now, or
  //    by the caller (deleting a large checkpoint takes a while; the asynchronous checkpointer
  //    does it on its background thread).
  std::vector<fs::path> victims = retentionVictims(run_dir, retention, step, previous);
  if (deferred_removals != nullptr) {
    deferred_removals->insert(deferred_removals->end(), victims.begin(), victims.end());
  } else {
    removePaths(victims);
  }
  return final_dir;
}

}  // namespace l2face::checkpoint::detail
