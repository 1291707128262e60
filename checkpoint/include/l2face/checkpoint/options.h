// Options of the checkpoint module.
#pragma once

#include <cstdint>

namespace l2face::checkpoint {

struct CheckpointOptions {
  int every_steps = 0;         // save every N optimizer steps; 0 = off
  double every_seconds = 0;    // also save when this much time passed since the last save; 0 = off
  int keep_last = 3;           // committed checkpoints kept (older ones are deleted); 0 = keep all
  int64_t keep_every = 0;      // also keep every checkpoint whose step is a multiple; 0 = off
  bool async = true;           // write on a background thread while training continues
  bool fail_on_error = false;  // a failed save ends the run (default: logged, counted, skipped)
};

}  // namespace l2face::checkpoint
