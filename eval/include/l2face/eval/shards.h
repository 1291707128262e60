// EmbedShards: how the ranks of a job share the embedding of a set's images.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace l2face::eval {

// Rank r of `world` embeds the contiguous range of whole batches shardRange gives it, and
// `gather` makes every rank's rows everyone's: called once per set on every rank with this rank's
// rows (shardRange's count × dim floats), it returns all ranks' rows concatenated in rank order.
// Batches are the single-process batches (same boundaries, same sizes), so a backbone whose
// output depends on the batch composition still gives the features of one process. Only rank 0
// scores and reports; the run* functions return a report holding only the name elsewhere.
struct EmbedShards {
  int rank = 0;
  int world = 1;
  std::function<std::vector<float>(const std::vector<float>& local)> gather;  // unused at world 1

  bool scores() const { return rank == 0; }
};

// The items [begin, end) rank `rank` of `world` embeds out of `count`, cut into batches of
// batch_size: the batches are dealt out contiguously, the first (batches mod world) ranks one more.
// Ranks beyond the batches get an empty range.
std::pair<size_t, size_t> shardRange(size_t count, int batch_size, int rank, int world);

}  // namespace l2face::eval
