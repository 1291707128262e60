// Embedding a list of items in batches into L2-normalised rows (private to the module).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace l2face::eval::detail {

// Calls embed_batch(begin, end, out) for consecutive batches [begin, end) of at most batch_size
// of `count` items; each call must leave (end - begin) × dim floats in out. Returns count × dim
// floats, each row L2-normalised. A wrong float count, or a zero or non-finite row, throws
// EvalError prefixed by `context` and naming the item (name(i)).
std::vector<float> embedNormalised(
    size_t count, int dim, int batch_size,
    const std::function<void(size_t begin, size_t end, std::vector<float>& out)>& embed_batch,
    const std::function<std::string(size_t)>& name, const std::string& context);

// Dot product of two rows of length dim, accumulated in double.
inline double dot(const float* a, const float* b, int dim) {
  double sum = 0.0;
  for (int k = 0; k < dim; ++k) sum += static_cast<double>(a[k]) * b[k];
  return sum;
}

// Checks the arguments shared by the run* functions; throws EvalError prefixed by `context`.
void checkRunArguments(const std::string& context, size_t pairs, int dim, int batch_size,
                       bool has_embedder);

}  // namespace l2face::eval::detail
