// Options of the checkpoint module.
#pragma once

namespace l2face::checkpoint {

struct CheckpointOptions {
  int every_steps = 0;  // 0 = only the final save at the end of training
  int keep_last = 3;    // committed checkpoints kept (older ones are deleted); 0 = keep all
};

}  // namespace l2face::checkpoint
