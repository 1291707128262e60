// The checks of `l2face doctor`: what one rank sees (rankReport) and what all ranks' reports say
// together (summarise). Reports are JSON so that they travel between ranks as text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "l2face/comm/run_context.h"

namespace l2face::launch {

// Exit code of `l2face doctor` when a check failed on any rank (docs/operations.md). Every rank
// returns it: the verdict is computed from the same gathered reports everywhere.
inline constexpr int kExitDoctorProblem = 4;

struct DoctorOptions {
  std::string run_dir;  // "" = no run-directory checks
  int port = 9400;      // metrics port of local rank 0; 0 = no port check
  std::string bind = "127.0.0.1";
  double min_free_gb = 10;       // warn below this much free space in the run directory
  std::string backend = "auto";  // comm.backend to resolve
  std::string device = "auto";   // run.device: auto's backend follows where the tensors live
  int threads = 0;               // run.threads (0 = cores / local ranks)
};

// One rank's report: geometry and how it was found, host, devices, versions, network interfaces,
// run directory (writable, free space, sees rank 0's marker file `shared_marker` unless empty),
// metrics port, backend, threads; with "problems" and "warnings" (lists of sentences). The run
// directory probe file is created and removed again.
nlohmann::json rankReport(const DoctorOptions& options, const comm::RunContext& ctx,
                          const std::string& shared_marker);

// The checks that need every rank's report (indexed by rank or not; any order): all ranks present
// once, the same world, source, versions and backend; local ranks 0..n-1 with local size n on each
// host; distinct GPUs per host; the run directory shared (every rank saw rank 0's marker). Returns
// {"problems": [...], "warnings": [...]} including each rank's own, prefixed with the rank.
nlohmann::json summarise(const std::vector<nlohmann::json>& reports);

// Human-readable text: one line per rank, the details of the ranks asked for, the verdict.
std::string formatReports(const std::vector<nlohmann::json>& reports, const nlohmann::json& verdict,
                          bool details_for_all);

// Creates the marker file rank 0 leaves in the run directory for the others to look for; returns
// its name ("" when it could not be written: the run directory check reports why).
std::string createSharedMarker(const std::string& run_dir, const std::string& token);
void removeSharedMarker(const std::string& run_dir, const std::string& name);

// The directories of run_dir's path that do not exist yet, deepest first (what the checks will
// create), and their removal afterwards: only directories still empty are removed.
std::vector<std::string> missingDirectories(const std::string& run_dir);
void removeEmptyDirectories(const std::vector<std::string>& deepest_first);

}  // namespace l2face::launch
