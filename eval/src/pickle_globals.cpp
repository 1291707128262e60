// Interpreting the globals a .bin may name (bytes, numpy arrays, scalars, dtypes), by name only.
#include <cstring>
#include <limits>

#include "l2face/eval/errors.h"
#include "pickle_reader.h"

namespace l2face::eval::detail {
namespace {

using Kind = PyValue::Kind;

bool endsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Decodes UTF-8 into code points; false on malformed input.
bool decodeUtf8(const std::string& s, std::vector<uint32_t>& out) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t extra = 0;
    uint32_t cp = c;
    if (c >= 0x80) {
      if ((c & 0xE0) == 0xC0) {
        extra = 1, cp = c & 0x1F;
      } else if ((c & 0xF0) == 0xE0) {
        extra = 2, cp = c & 0x0F;
      } else if ((c & 0xF8) == 0xF0) {
        extra = 3, cp = c & 0x07;
      } else {
        return false;
      }
    }
    if (extra >= s.size() - i) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    out.push_back(cp);
    i += extra + 1;
  }
  return true;
}

// The REDUCE and BUILD semantics of the allowed globals, for one opcode at `offset`.
class Interpreter {
 public:
  Interpreter(const std::string& source, uint64_t offset) : source_(source), offset_(offset) {}

  PyRef reduce(const PyRef& callable, const PyRef& args);
  void build(PyValue& target, const PyValue& state);

 private:
  [[noreturn]] void fail(uint64_t offset, const std::string& what) const {
    throw EvalError(source_ + ": pickle byte offset " + std::to_string(offset) + ": " + what);
  }

  PyRef make(Kind kind) const {
    auto v = std::make_shared<PyValue>();
    v->kind = kind;
    v->offset = offset_;
    return v;
  }

  std::string textOf(const PyValue& v, const char* what) const {
    if (v.kind == Kind::kText) return v.text;
    if (v.kind == Kind::kBytes) return std::string(v.bytes->begin(), v.bytes->end());
    fail(v.offset, std::string(what) + " is a " + describe(v) + ", expected a string");
  }

  const std::string& source_;
  uint64_t offset_;
};

PyRef Interpreter::reduce(const PyRef& callable, const PyRef& args) {
  if (callable->kind != Kind::kGlobal) fail(offset_, "REDUCE on a " + describe(*callable));
  if (args->kind != Kind::kTuple) fail(offset_, "REDUCE with " + describe(*args) + " arguments");
  const std::string& fn = callable->text;
  const auto& a = args->items;
  auto bad = [&](const char* expected) -> PyRef {
    fail(offset_, fn + " called with " + std::to_string(a.size()) +
                      " unexpected argument(s); expected " + expected);
  };

  if (fn == "_codecs.encode" || endsWith(fn, ".bytes") || endsWith(fn, ".bytearray")) {
    PyRef v = make(Kind::kBytes);
    if (a.empty()) {  // bytes(): the empty byte string
      v->bytes = std::make_shared<const std::vector<uint8_t>>();
      return v;
    }
    if (a.size() == 1 && a[0]->kind == Kind::kBytes) {
      v->bytes = a[0]->bytes;
      return v;
    }
    // Python 3 pickles bytes at protocol <= 2 as encode(bytes.decode('latin1'), 'latin1'):
    // each code point of the text is one byte.
    if (a.size() != 2 || a[0]->kind != Kind::kText || a[1]->kind != Kind::kText) {
      return bad("(text, 'latin1')");
    }
    const std::string& enc = a[1]->text;
    if (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1" && enc != "iso8859-1") {
      fail(offset_, fn + " with encoding '" + enc + "': only latin1 byte strings are supported");
    }
    std::vector<uint32_t> cps;
    if (!decodeUtf8(a[0]->text, cps)) fail(a[0]->offset, "malformed UTF-8 in a string");
    auto out = std::make_shared<std::vector<uint8_t>>();
    out->reserve(cps.size());
    for (uint32_t cp : cps) {
      if (cp > 0xFF) fail(a[0]->offset, "latin1 byte string holds code point > 255");
      out->push_back(static_cast<uint8_t>(cp));
    }
    v->bytes = std::move(out);
    return v;
  }
  if (fn == "numpy.dtype") {
    if (a.empty()) return bad("(type code, align, copy)");
    PyRef v = make(Kind::kDtype);
    std::string code = textOf(*a[0], "numpy dtype code");
    if (!code.empty() && std::strchr("<>|=", code[0])) {
      v->byte_order = code[0];
      code.erase(0, 1);
    }
    v->dtype_code = code;
    return v;
  }
  if (endsWith(fn, "._reconstruct")) {  // empty array; BUILD supplies shape, dtype and data
    if (a.size() != 3 || a[0]->kind != Kind::kGlobal || a[0]->text != "numpy.ndarray") {
      return bad("(numpy.ndarray, shape, typecode)");
    }
    return make(Kind::kArray);
  }
  if (endsWith(fn, "._frombuffer")) {  // protocol 5: (buffer, dtype, shape, order)
    if (a.size() != 4) return bad("(buffer, dtype, shape, order)");
    PyRef v = make(Kind::kArray);
    PyValue state;
    state.kind = Kind::kTuple;
    state.items = {a[2], a[1], make(Kind::kNone), a[0]};  // (shape, dtype, fortran, data)
    build(*v, state);
    return v;
  }
  if (endsWith(fn, ".scalar")) {  // numpy scalar: (dtype, raw bytes)
    if (a.size() != 2 || a[0]->kind != Kind::kDtype || a[1]->kind != Kind::kBytes) {
      return bad("(dtype, bytes)");
    }
    const int item = dtypeItemSize(*a[0]);
    if (item == 0) {
      fail(offset_, "numpy scalar of type '" + a[0]->dtype_code +
                        "': only bool and integer scalars are supported");
    }
    if (a[1]->bytes->size() != static_cast<size_t>(item))
      fail(offset_, "numpy scalar with the wrong number of bytes");
    PyValue array;
    array.kind = Kind::kArray;
    array.dtype = a[0];
    array.bytes = a[1]->bytes;
    array.shape = {1};
    array.has_data = true;
    PyRef v = make(a[0]->dtype_code == "b1" ? Kind::kBool : Kind::kInt);
    v->integer = arrayElement(array, 0);
    return v;
  }
  return bad("nothing (this global cannot be called)");  // numpy.ndarray alone
}

void Interpreter::build(PyValue& target, const PyValue& state) {
  if (state.kind != Kind::kTuple) fail(offset_, "BUILD with a " + describe(state) + " state");
  const auto& s = state.items;
  if (target.kind == Kind::kDtype) {
    // (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata])
    if (s.size() < 5)
      fail(offset_, "numpy dtype state with " + std::to_string(s.size()) + " items");
    const std::string order = textOf(*s[1], "numpy dtype byte order");
    if (order.size() != 1 || !std::strchr("<>|=", order[0])) {
      fail(offset_, "numpy dtype byte order '" + order + "'");
    }
    if (s[2]->kind != Kind::kNone || s[3]->kind != Kind::kNone || s[4]->kind != Kind::kNone) {
      fail(offset_, "structured or sub-array numpy dtype: not supported");
    }
    target.byte_order = order[0];
    return;
  }
  if (target.kind != Kind::kArray) fail(offset_, "BUILD on a " + describe(target));
  // (version, shape, dtype, is_fortran, data), or without the version (older numpy).
  if (s.size() != 5 && s.size() != 4) {
    fail(offset_, "numpy array state with " + std::to_string(s.size()) + " items");
  }
  const size_t base = s.size() - 4;
  const PyValue& shape = *s[base];
  const PyRef& dtype = s[base + 1];
  const PyValue& data = *s[base + 3];
  if (shape.kind != Kind::kTuple) fail(offset_, "numpy array shape is a " + describe(shape));
  if (dtype->kind != Kind::kDtype) fail(offset_, "numpy array dtype is a " + describe(*dtype));
  const int item = dtypeItemSize(*dtype);
  if (item == 0) {
    fail(offset_, "numpy array of type '" + dtype->dtype_code +
                      "': only bool and integer arrays are supported");
  }
  if (data.kind != Kind::kBytes) {
    fail(offset_, "numpy array data is a " + describe(data) + " (object arrays are not supported)");
  }
  uint64_t count = 1;
  int long_dims = 0;
  target.shape.clear();
  for (const PyRef& d : shape.items) {
    if (d->kind != Kind::kInt || d->integer < 0)
      fail(offset_, "numpy array shape holds a non-size");
    const auto n = static_cast<uint64_t>(d->integer);
    if (n != 0 && count > std::numeric_limits<uint64_t>::max() / n / 8)
      fail(offset_, "numpy array shape overflows");
    count *= n;
    long_dims += n > 1;
    target.shape.push_back(d->integer);
  }
  // One dimension longer than 1 at most: then C and Fortran order hold the same byte sequence.
  if (long_dims > 1) fail(offset_, "numpy array with more than one dimension: not supported");
  if (count * static_cast<uint64_t>(item) != data.bytes->size()) {
    fail(offset_, "numpy array data has " + std::to_string(data.bytes->size()) +
                      " bytes, its shape and dtype need " + std::to_string(count * item));
  }
  target.dtype = dtype;
  target.bytes = data.bytes;
  target.has_data = true;
}

}  // namespace

// Each is interpreted by Interpreter above; none is imported or called.
bool allowedGlobal(const std::string& name) {
  static const char* const kAllowed[] = {
      "_codecs.encode",
      "__builtin__.bytes",
      "builtins.bytes",
      "__builtin__.bytearray",
      "builtins.bytearray",
      "numpy.dtype",
      "numpy.ndarray",
      "numpy.core.multiarray._reconstruct",
      "numpy._core.multiarray._reconstruct",
      "numpy.core.multiarray.scalar",
      "numpy._core.multiarray.scalar",
      "numpy.core.numeric._frombuffer",
      "numpy._core.numeric._frombuffer",
  };
  for (const char* allowed : kAllowed) {
    if (name == allowed) return true;
  }
  return false;
}

PyRef reduceGlobal(const PyRef& callable, const PyRef& args, const std::string& source,
                   uint64_t offset) {
  return Interpreter(source, offset).reduce(callable, args);
}

void buildValue(PyValue& target, const PyValue& state, const std::string& source, uint64_t offset) {
  Interpreter(source, offset).build(target, state);
}

std::string describe(const PyValue& value) {
  switch (value.kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kBytes:
      return "byte string";
    case Kind::kText:
      return "text string";
    case Kind::kList:
      return "list of " + std::to_string(value.items.size());
    case Kind::kTuple:
      return "tuple of " + std::to_string(value.items.size());
    case Kind::kGlobal:
      return "global " + value.text;
    case Kind::kDtype:
      return "numpy dtype";
    case Kind::kArray:
      return "numpy array" +
             (value.dtype ? " of '" + value.dtype->dtype_code + "'" : std::string());
  }
  return "value";
}

int dtypeItemSize(const PyValue& dtype) {
  const std::string& c = dtype.dtype_code;
  if (c == "b1" || c == "u1" || c == "i1") return 1;
  if (c == "u2" || c == "i2") return 2;
  if (c == "u4" || c == "i4") return 4;
  if (c == "u8" || c == "i8") return 8;
  return 0;
}

int64_t arrayElement(const PyValue& array, size_t i) {
  const PyValue& dtype = *array.dtype;
  const int item = dtypeItemSize(dtype);
  const uint8_t* p = array.bytes->data() + i * static_cast<size_t>(item);
  const bool big = dtype.byte_order == '>';
  uint64_t v = 0;
  for (int k = 0; k < item; ++k) v = (v << 8) | p[big ? k : item - 1 - k];
  if (dtype.dtype_code[0] == 'i' && item < 8 && (v >> (8 * item - 1)) & 1) {
    v |= ~uint64_t{0} << (8 * item);  // sign-extend
  }
  return static_cast<int64_t>(v);
}

}  // namespace l2face::eval::detail
