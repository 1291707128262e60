// Atomic checkpoint commit (write, fsync, checksum, manifest, rename, LATEST) and verified loading.
#include "l2face/checkpoint/store.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;

namespace l2face::checkpoint {
namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kLatest = "LATEST";

void fsyncPath(const fs::path& p, bool directory) {
  int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw CheckpointError("cannot open " + p.string() + " to fsync");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw CheckpointError("fsync failed for " + p.string());
}

std::string stepName(int64_t step) { return "step_" + std::to_string(step); }

// step_<N> -> N; -1 for anything else (including step_<N>.tmp).
int64_t parseStep(const std::string& name) {
  if (name.rfind("step_", 0) != 0 || name.size() == 5) return -1;
  int64_t v = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

Manifest readManifest(const fs::path& dir) {
  fs::path mp = dir / kManifest;
  std::ifstream in(mp);
  if (!in) throw CheckpointError(mp.string() + ": missing (checkpoint not committed)");
  nlohmann::json j;
  try {
    in >> j;
    Manifest m;
    m.format_version = j.at("format_version").get<int>();
    if (m.format_version > kFormatVersion) {
      throw CheckpointError(mp.string() + ": format version " + std::to_string(m.format_version) +
                            " is newer than this l2face reads (" + std::to_string(kFormatVersion) +
                            ")");
    }
    m.step = j.at("step").get<int64_t>();
    m.world_size = j.at("world_size").get<int>();
    for (auto& [name, e] : j.at("files").items()) {
      m.files[name] = FileEntry{e.at("size_bytes").get<uint64_t>(), e.at("xxh64").get<std::string>()};
    }
    m.meta = j.value("meta", nlohmann::json::object());
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(mp.string() + ": malformed manifest: " + e.what());
  }
}

void verify(const fs::path& dir, const Manifest& m) {
  for (const auto& [name, entry] : m.files) {
    fs::path f = dir / name;
    std::error_code ec;
    uint64_t size = fs::file_size(f, ec);
    if (ec) throw CheckpointError(f.string() + ": listed in the manifest but missing");
    if (size != entry.size_bytes) {
      throw CheckpointError(f.string() + ": size " + std::to_string(size) + " bytes, manifest says " +
                            std::to_string(entry.size_bytes) + " (truncated or overwritten)");
    }
    std::string h = fileXxh64(f);
    if (h != entry.xxh64) {
      throw CheckpointError(f.string() + ": checksum " + h + " does not match the manifest's " +
                            entry.xxh64 + " (corrupted)");
    }
  }
}

}  // namespace

std::string fileXxh64(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CheckpointError("cannot read " + file.string());
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    XXH64_update(st, buf.data(), static_cast<size_t>(in.gcount()));
  }
  uint64_t h = XXH64_digest(st);
  XXH64_freeState(st);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

void writeFileAtomic(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw CheckpointError("cannot write " + tmp.string());
    out << text;
    out.flush();
    if (!out) throw CheckpointError("write failed for " + tmp.string() + " (disk full?)");
  }
  fsyncPath(tmp, false);
  fs::rename(tmp, path);
  fsyncPath(path.parent_path().empty() ? fs::path(".") : path.parent_path(), true);
}

CheckpointWriter::CheckpointWriter(fs::path run_dir, int64_t step, int world_size)
    : checkpoints_(std::move(run_dir) / "checkpoints"), step_(step), world_size_(world_size) {
  tmp_ = checkpoints_ / (stepName(step) + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp_, ec);  // leftovers of a save that crashed
  fs::create_directories(tmp_, ec);
  if (ec) throw CheckpointError("cannot create " + tmp_.string() + ": " + ec.message());
}

CheckpointWriter::~CheckpointWriter() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

fs::path CheckpointWriter::path(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == kManifest) {
    throw CheckpointError("invalid checkpoint file name '" + name + "'");
  }
  if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
  return tmp_ / name;
}

fs::path CheckpointWriter::commit(const nlohmann::json& meta, int keep_last) {
  // 2. fsync and checksum every file.
  nlohmann::json files = nlohmann::json::object();
  for (const auto& name : names_) {
    fs::path f = tmp_ / name;
    std::error_code ec;
    uint64_t size = fs::file_size(f, ec);
    if (ec) throw CheckpointError(f.string() + ": the caller did not write it");
    fsyncPath(f, false);
    files[name] = {{"size_bytes", size}, {"xxh64", fileXxh64(f)}};
  }
  // 3. The manifest, atomically.
  nlohmann::json j = {{"format_version", kFormatVersion}, {"step", step_},
                      {"world_size", world_size_}, {"files", files}, {"meta", meta}};
  writeFileAtomic(tmp_ / kManifest, j.dump(2) + "\n");
  // 4. Rename the directory into place; fsync the parent so the rename is durable.
  fs::path final_dir = checkpoints_ / stepName(step_);
  std::error_code ec;
  fs::remove_all(final_dir, ec);  // an older save of the same step (a rerun) is replaced
  fs::rename(tmp_, final_dir);
  fsyncPath(checkpoints_, true);
  committed_ = true;
  // 5. LATEST points at it.
  writeFileAtomic(checkpoints_ / kLatest, stepName(step_) + "\n");
  // 6. Retention.
  if (keep_last > 0) {
    auto all = listCheckpoints(checkpoints_.parent_path());
    for (size_t i = 0; i + static_cast<size_t>(keep_last) < all.size(); ++i) {
      if (all[i] != final_dir) fs::remove_all(all[i], ec);
    }
  }
  return final_dir;
}

fs::path LoadedCheckpoint::file(const std::string& name) const {
  if (manifest.files.count(name) == 0) {
    throw CheckpointError(dir.string() + ": has no file '" + name + "'");
  }
  return dir / name;
}

std::vector<fs::path> listCheckpoints(const fs::path& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  fs::path cdir = run_dir / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(cdir, ec)) return {};
  for (const auto& e : fs::directory_iterator(cdir, ec)) {
    int64_t s = parseStep(e.path().filename().string());
    if (s >= 0 && e.is_directory() && fs::exists(e.path() / kManifest)) found.push_back({s, e.path()});
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

LoadedCheckpoint openCheckpoint(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw CheckpointError(path.string() + ": no such checkpoint or run directory");
  if (fs::exists(path / kManifest)) {  // a checkpoint directory itself
    LoadedCheckpoint c{path, readManifest(path)};
    verify(path, c.manifest);
    return c;
  }
  // A run directory: LATEST first, then every committed checkpoint from newest to oldest.
  auto all = listCheckpoints(path);
  if (all.empty()) {
    throw CheckpointError(path.string() + ": no committed checkpoint (expected " +
                          (path / "checkpoints" / "step_<N>" / kManifest).string() + ")");
  }
  std::ifstream latest(path / "checkpoints" / kLatest);
  std::string name;
  if (latest >> name) {
    fs::path p = path / "checkpoints" / name;
    auto it = std::find(all.begin(), all.end(), p);
    if (it != all.end()) std::rotate(it, it + 1, all.end());  // try LATEST first
  }
  std::string errors;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      LoadedCheckpoint c{*it, readManifest(*it)};
      verify(*it, c.manifest);
      if (!errors.empty()) std::cerr << "[l2face] skipped broken checkpoints:" << errors << "\n";
      return c;
    } catch (const CheckpointError& e) {
      errors += std::string("\n  ") + e.what();
    }
  }
  throw CheckpointError(path.string() + ": no valid checkpoint:" + errors);
}

}  // namespace l2face::checkpoint
