// Reading insightface .bin sets: the pickle reader's value checked and turned into a BinSet.
#include "l2face/eval/bin_set.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "l2face/eval/errors.h"
#include "pickle_reader.h"

namespace l2face::eval {
namespace {

using detail::PyRef;
using detail::PyValue;
using Kind = PyValue::Kind;

std::string at(const PyValue& v) {
  return " (pickle byte offset " + std::to_string(v.offset) + ")";
}

bool isSequence(const PyValue& v) { return v.kind == Kind::kList || v.kind == Kind::kTuple; }

// An encoded image: a byte string, or a numpy array of single bytes.
std::shared_ptr<const std::vector<uint8_t>> imageBytes(const PyValue& v, const std::string& where) {
  if (v.kind == Kind::kBytes) return v.bytes;
  if (v.kind == Kind::kArray && v.has_data && detail::dtypeItemSize(*v.dtype) == 1 &&
      v.dtype->dtype_code != "b1") {
    return v.bytes;
  }
  throw EvalError(where + " is a " + detail::describe(v) + at(v) +
                  "; expected the bytes of an encoded image");
}

std::vector<bool> flags(const PyValue& v, const std::string& source) {
  std::vector<bool> out;
  auto flag = [&](int64_t value, size_t i, const PyValue& holder) {
    if (value != 0 && value != 1) {
      throw EvalError(source + ": flags[" + std::to_string(i) + "] is " + std::to_string(value) +
                      at(holder) + "; expected a boolean (same identity or not)");
    }
    out.push_back(value == 1);
  };
  if (v.kind == Kind::kArray) {
    if (!v.has_data || detail::dtypeItemSize(*v.dtype) == 0) {
      throw EvalError(source + ": the flags are a " + detail::describe(v) + at(v) +
                      "; expected booleans");
    }
    const size_t n = v.bytes->size() / static_cast<size_t>(detail::dtypeItemSize(*v.dtype));
    for (size_t i = 0; i < n; ++i) flag(detail::arrayElement(v, i), i, v);
    return out;
  }
  if (!isSequence(v)) {
    throw EvalError(source + ": the flags are a " + detail::describe(v) + at(v) +
                    "; expected a list of booleans");
  }
  for (size_t i = 0; i < v.items.size(); ++i) {
    const PyValue& item = *v.items[i];
    if (item.kind != Kind::kBool && item.kind != Kind::kInt) {
      throw EvalError(source + ": flags[" + std::to_string(i) + "] is a " + detail::describe(item) +
                      at(item) + "; expected a boolean");
    }
    flag(item.integer, i, item);
  }
  return out;
}

}  // namespace

BinSet parseBin(const uint8_t* data, size_t size, const std::string& source) {
  const PyRef root = detail::unpickle(data, size, source);
  if (!isSequence(*root) || root->items.size() != 2) {
    throw EvalError(source + ": the pickle holds a " + detail::describe(*root) +
                    "; a verification .bin holds the pair (images, same/different flags)");
  }
  const PyValue& images = *root->items[0];
  if (!isSequence(images)) {
    throw EvalError(source + ": the images are a " + detail::describe(images) + at(images) +
                    "; expected a list of encoded images");
  }
  BinSet set;
  set.path = source;
  set.name = std::filesystem::path(source).stem().string();
  set.same = flags(*root->items[1], source);
  if (set.same.empty()) throw EvalError(source + ": no pairs (the flag list is empty)");
  if (images.items.size() != 2 * set.same.size()) {
    throw EvalError(source + ": " + std::to_string(images.items.size()) + " images for " +
                    std::to_string(set.same.size()) + " pairs; a .bin holds two images per pair (" +
                    std::to_string(2 * set.same.size()) + ")");
  }
  set.images.reserve(images.items.size());
  for (size_t i = 0; i < images.items.size(); ++i) {
    const std::string where =
        source + ": images[" + std::to_string(i) + "] (pair " + std::to_string(i / 2) + ")";
    auto bytes = imageBytes(*images.items[i], where);
    if (bytes->empty()) throw EvalError(where + " is empty" + at(*images.items[i]));
    set.images.push_back(std::move(bytes));
  }
  return set;
}

BinSet readBin(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw EvalError(path + ": cannot open .bin set: " + std::strerror(errno));
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw EvalError(path + ": cannot stat .bin set: " + ec.message());
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) {
    throw EvalError(path + ": read " + std::to_string(in.gcount()) + " of " + std::to_string(size) +
                    " bytes");
  }
  return parseBin(bytes.data(), bytes.size(), path);
}

}  // namespace l2face::eval
