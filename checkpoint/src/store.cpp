// The single-process CheckpointWriter, retention rules, and verified loading with fallback.
#include "l2face/checkpoint/store.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "publish.h"

namespace fs = std::filesystem;

namespace l2face::checkpoint {

using detail::kLatest;
using detail::kManifest;
using detail::parseStep;
using detail::stepName;

namespace {

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
      m.files[name] =
          FileEntry{e.at("size_bytes").get<uint64_t>(), e.at("xxh64").get<std::string>()};
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
      throw CheckpointError(f.string() + ": size " + std::to_string(size) +
                            " bytes, manifest says " + std::to_string(entry.size_bytes) +
                            " (truncated or overwritten)");
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
  detail::fsyncPath(tmp, false);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    throw CheckpointError("cannot rename " + tmp.string() + " to " + path.string() + ": " +
                          ec.message());
  detail::fsyncPath(path.parent_path().empty() ? fs::path(".") : path.parent_path(), true);
}

std::string shardFileName(const std::string& stem, int rank, const std::string& extension) {
  char digits[16];
  std::snprintf(digits, sizeof(digits), "%05d", rank);
  return stem + ".shard-" + digits + extension;
}

std::vector<int64_t> stepsToDelete(std::vector<int64_t> steps, const Retention& r, int64_t latest) {
  if (r.keep_last <= 0) return {};
  std::sort(steps.begin(), steps.end());
  steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
  std::vector<int64_t> out;
  const size_t newest_from = steps.size() > static_cast<size_t>(r.keep_last)
                                 ? steps.size() - static_cast<size_t>(r.keep_last)
                                 : 0;
  for (size_t i = 0; i < newest_from; ++i) {
    const int64_t s = steps[i];
    if (s == latest || (r.keep_every > 0 && s % r.keep_every == 0)) continue;
    out.push_back(s);
  }
  return out;
}

CheckpointWriter::CheckpointWriter(fs::path run_dir, int64_t step, int world_size, FaultPlan faults)
    : run_dir_(std::move(run_dir)),
      step_(step),
      world_size_(world_size),
      faults_(std::move(faults)) {
  tmp_ = detail::tmpDir(run_dir_, step);
  detail::prepareTmp(tmp_);
}

CheckpointWriter::~CheckpointWriter() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

fs::path CheckpointWriter::path(const std::string& name) {
  detail::checkFileName(name);
  if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
  return tmp_ / name;
}

fs::path CheckpointWriter::commit(const nlohmann::json& meta, int keep_last) {
  return commit(meta, Retention{keep_last, 0});
}

fs::path CheckpointWriter::commit(const nlohmann::json& meta, const Retention& retention) {
  if (faults_.has("checkpoint.write_fail", 0, step_)) {
    throw CheckpointError("checkpoint step " + std::to_string(step_) +
                          ": injected fault checkpoint.write_fail");
  }
  // 2. fsync and checksum every file.
  std::map<std::string, FileEntry> files;
  for (const auto& name : names_) files[name] = detail::sealFile(tmp_ / name);
  // 3.–6. manifest, rename, LATEST, retention.
  fs::path dir = detail::publish(run_dir_, step_, world_size_, files, meta, retention, faults_, 0);
  committed_ = true;
  return dir;
}

fs::path LoadedCheckpoint::file(const std::string& name) const {
  if (manifest.files.count(name) == 0) {
    throw CheckpointError(dir.string() + ": has no file '" + name + "'");
  }
  return dir / name;
}

std::vector<fs::path> listCheckpoints(const fs::path& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  fs::path cdir = detail::checkpointsDir(run_dir);
  std::error_code ec;
  if (!fs::is_directory(cdir, ec)) return {};
  for (const auto& e : fs::directory_iterator(cdir, ec)) {
    int64_t s = parseStep(e.path().filename().string());
    if (s >= 0 && e.is_directory() && fs::exists(e.path() / kManifest))
      found.push_back({s, e.path()});
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

int64_t latestStep(const fs::path& run_dir) {
  std::ifstream latest(detail::checkpointsDir(run_dir) / kLatest);
  std::string name;
  if (!(latest >> name)) return -1;
  return parseStep(name);
}

LoadedCheckpoint openCheckpoint(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw CheckpointError(path.string() + ": no such checkpoint or run directory");
  if (fs::exists(path / kManifest)) {  // a checkpoint directory itself
    LoadedCheckpoint c{path, readManifest(path)};
    verify(path, c.manifest);
    return c;
  }
  // A run directory: LATEST (the commit point) first, then the older committed ones.
  auto all = listCheckpoints(path);
  if (all.empty()) {
    throw CheckpointError(path.string() + ": no committed checkpoint (expected " +
                          (detail::checkpointsDir(path) / "step_<N>" / kManifest).string() + ")");
  }
  const int64_t latest = latestStep(path);
  std::string errors;
  if (latest >= 0) {  // LATEST names a directory that lost its manifest (damaged by hand or disk)
    const fs::path named = detail::checkpointsDir(path) / stepName(latest);
    if (!fs::exists(named / kManifest, ec)) {
      errors += "\n  " + named.string() + ": named by LATEST but has no " + kManifest +
                (fs::exists(named, ec) ? " (damaged or incomplete)" : " (directory missing)");
    }
  }
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const int64_t step = parseStep(it->filename().string());
    if (latest >= 0 && step > latest) {
      errors += "\n  " + it->string() + ": newer than LATEST (" + stepName(latest) +
                "): its commit did not finish";
      continue;
    }
    try {
      LoadedCheckpoint c{*it, readManifest(*it)};
      verify(*it, c.manifest);
      if (!errors.empty()) std::cerr << "[l2face] skipped checkpoints:" << errors << "\n";
      return c;
    } catch (const CheckpointError& e) {
      errors += std::string("\n  ") + e.what();
    }
  }
  throw CheckpointError(path.string() + ": no valid checkpoint:" + errors);
}

}  // namespace l2face::checkpoint
