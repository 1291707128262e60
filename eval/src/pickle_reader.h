// A minimal, safe pickle reader for insightface .bin sets: builds plain values, never runs code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace l2face::eval::detail {

// A value built by the reader: only what verification .bin files contain. Python objects of any
// other type are refused by the reader, so a consumer switches over these kinds only.
struct PyValue {
  enum class Kind { kNone, kBool, kInt, kBytes, kText, kList, kTuple, kGlobal, kDtype, kArray };
  Kind kind = Kind::kNone;
  uint64_t offset = 0;  // byte offset of the opcode that made the value, for messages
  int64_t integer = 0;  // kBool (0 or 1), kInt
  // kBytes: the bytes; kArray: the array's raw data (shared, e.g. with the bytes it came from).
  std::shared_ptr<const std::vector<uint8_t>> bytes;
  std::string text;                             // kText: UTF-8; kGlobal: "module.name"
  std::vector<std::shared_ptr<PyValue>> items;  // kList, kTuple
  // kList, kTuple: nesting depth (1 + the deepest item's; 0 for values without items), and
  // whether a list lies inside (tuples). A list never holds a list or a tuple holding one, so
  // no value can come to contain itself (see unpickle).
  uint32_t depth = 0;
  bool holds_list = false;
  // kDtype: numpy type code without byte order ("u1", "b1", "i8", ...) and the byte order
  // ('|' not applicable, '<' little, '>' big, '=' native).
  std::string dtype_code;
  char byte_order = '|';
  // kArray: shape, element type, and whether the data has been set (numpy's _reconstruct makes
  // an empty array that a later BUILD fills).
  std::vector<int64_t> shape;
  std::shared_ptr<PyValue> dtype;
  bool has_data = false;
};
using PyRef = std::shared_ptr<PyValue>;

// Decodes one pickle (protocols 1-5) from data[0, size) and returns its value. Supported: the
// opcodes of lists, tuples, byte strings (Python 2 str, Python 3 bytes and bytearray), text,
// ints, bools, None, the memo and framing; and, through a fixed list of globals that are
// recognised by name and interpreted here (nothing is imported or called), bytes pickled by
// Python 3 at protocol 2 (_codecs.encode(text, 'latin1')) and numpy 1-D bool/integer arrays,
// scalars and dtypes. Anything else throws EvalError naming `source`, the opcode and its byte
// offset. Every length is checked against the bytes that remain, and the number of values and
// memo entries is capped, so a hostile file cannot make the reader allocate much more than the
// file's own size. Trailing bytes after STOP are an error. Values nest at most kMaxNesting deep,
// and a list may not hold a list (or a tuple holding one): .bin files need neither, and without
// these rules a hostile file could build a list that contains itself (through the memo), which
// shared ownership never frees, or nest values so deep that destroying them overflows the stack.
constexpr uint32_t kMaxNesting = 100;
PyRef unpickle(const uint8_t* data, size_t size, const std::string& source);

// The globals a .bin may name (pickle_globals.cpp): their names, and the REDUCE / BUILD of the
// values they make, interpreted without importing or calling anything. Errors throw EvalError
// naming `source` and the opcode's byte `offset`.
bool allowedGlobal(const std::string& module_dot_name);
PyRef reduceGlobal(const PyRef& callable, const PyRef& args, const std::string& source,
                   uint64_t offset);
void buildValue(PyValue& target, const PyValue& state, const std::string& source, uint64_t offset);

// "list", "bytes", "numpy array", ... for messages.
std::string describe(const PyValue& value);

// Size in bytes of one element of a kDtype value, or 0 when its type is not a bool/integer type.
int dtypeItemSize(const PyValue& dtype);

// Element i of an integer/bool kArray (bounds and dtype checked by the caller), as an int64.
int64_t arrayElement(const PyValue& array, size_t i);

}  // namespace l2face::eval::detail
