// The pickle reader behind .bin sets: a stack machine over the opcode subset in pickle_reader.h.
#include "pickle_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "l2face/eval/errors.h"

namespace l2face::eval::detail {
namespace {

using Kind = PyValue::Kind;

// Real .bin sets need a few hundred thousand values (about 20 per image when the images are numpy
// arrays). Each value costs ~200 bytes and each memo entry ~64 whatever its opcode's size, so
// these caps, not the file size, bound what a hostile file can make the reader allocate beyond
// copies of its own bytes: about half a gigabyte.
constexpr uint64_t kMaxValues = 2'000'000;
constexpr uint64_t kMaxMemo = 2'000'000;
constexpr size_t kMaxGlobalName = 256;

const char* opcodeName(uint8_t op) {
  switch (op) {
    case 0x80:
      return "PROTO";
    case 0x95:
      return "FRAME";
    case '.':
      return "STOP";
    case '(':
      return "MARK";
    case ']':
      return "EMPTY_LIST";
    case ')':
      return "EMPTY_TUPLE";
    case 'l':
      return "LIST";
    case 'a':
      return "APPEND";
    case 'e':
      return "APPENDS";
    case 't':
      return "TUPLE";
    case 0x85:
      return "TUPLE1";
    case 0x86:
      return "TUPLE2";
    case 0x87:
      return "TUPLE3";
    case 'N':
      return "NONE";
    case 0x88:
      return "NEWTRUE";
    case 0x89:
      return "NEWFALSE";
    case 'I':
      return "INT";
    case 'J':
      return "BININT";
    case 'K':
      return "BININT1";
    case 'M':
      return "BININT2";
    case 0x8a:
      return "LONG1";
    case 'T':
      return "BINSTRING";
    case 'U':
      return "SHORT_BINSTRING";
    case 'B':
      return "BINBYTES";
    case 'C':
      return "SHORT_BINBYTES";
    case 0x8e:
      return "BINBYTES8";
    case 0x96:
      return "BYTEARRAY8";
    case 'X':
      return "BINUNICODE";
    case 0x8c:
      return "SHORT_BINUNICODE";
    case 0x8d:
      return "BINUNICODE8";
    case 'q':
      return "BINPUT";
    case 'r':
      return "LONG_BINPUT";
    case 0x94:
      return "MEMOIZE";
    case 'h':
      return "BINGET";
    case 'j':
      return "LONG_BINGET";
    case 'c':
      return "GLOBAL";
    case 0x93:
      return "STACK_GLOBAL";
    case 'R':
      return "REDUCE";
    case 'b':
      return "BUILD";
    // Recognised for the message only: refused.
    case 'S':
      return "STRING";
    case 'V':
      return "UNICODE";
    case 'F':
      return "FLOAT";
    case 'G':
      return "BINFLOAT";
    case 'L':
      return "LONG";
    case 0x8b:
      return "LONG4";
    case '}':
      return "EMPTY_DICT";
    case 'd':
      return "DICT";
    case 's':
      return "SETITEM";
    case 'u':
      return "SETITEMS";
    case 0x8f:
      return "EMPTY_SET";
    case 0x90:
      return "ADDITEMS";
    case 0x91:
      return "FROZENSET";
    case 'o':
      return "OBJ";
    case 'i':
      return "INST";
    case 0x81:
      return "NEWOBJ";
    case 0x92:
      return "NEWOBJ_EX";
    case 'P':
      return "PERSID";
    case 'Q':
      return "BINPERSID";
    case 0x82:
      return "EXT1";
    case 0x83:
      return "EXT2";
    case 0x84:
      return "EXT4";
    case 0x97:
      return "NEXT_BUFFER";
    case 0x98:
      return "READONLY_BUFFER";
    case 'p':
      return "PUT";
    case 'g':
      return "GET";
    case '0':
      return "POP";
    case '1':
      return "POP_MARK";
    case '2':
      return "DUP";
    default:
      return nullptr;
  }
}

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& source)
      : data_(data), size_(size), source_(source) {
    none_ = std::make_shared<PyValue>();
  }

  PyRef run() {
    if (size_ == 0) throw EvalError(source_ + ": empty file (expected a pickle)");
    while (true) {
      if (pos_ >= size_) fail(pos_, "file ends before the pickle's STOP opcode (truncated?)");
      op_offset_ = pos_;
      const uint8_t op = data_[pos_++];
      if (op == '.') break;
      step(op);
    }
    if (!marks_.empty()) fail(op_offset_, "STOP with an unclosed MARK");
    if (stack_.size() != 1) {
      fail(op_offset_, "STOP with " + std::to_string(stack_.size()) + " values on the stack");
    }
    if (pos_ != size_) {
      fail(pos_, std::to_string(size_ - pos_) + " bytes after the pickle's STOP opcode");
    }
    return stack_.back();
  }

 private:
  [[noreturn]] void fail(uint64_t offset, const std::string& what) const {
    throw EvalError(source_ + ": pickle byte offset " + std::to_string(offset) + ": " + what);
  }

  std::string opText(uint8_t op) const {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", op);
    const char* name = opcodeName(op);
    return name ? std::string(name) + " (" + hex + ")" : std::string(hex);
  }

  const uint8_t* take(uint64_t n, const char* what) {
    if (n > size_ - pos_) {
      fail(op_offset_, std::string(what) + " needs " + std::to_string(n) + " bytes but only " +
                           std::to_string(size_ - pos_) + " remain (truncated or corrupt file)");
    }
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  uint64_t readUnsigned(int bytes, const char* what) {
    const uint8_t* p = take(static_cast<uint64_t>(bytes), what);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];  // little-endian
    return v;
  }

  // A newline-terminated argument (GLOBAL, INT).
  std::string readLine(const char* what) {
    const size_t limit = std::min<size_t>(size_ - pos_, kMaxGlobalName + 1);
    const void* nl = std::memchr(data_ + pos_, '\n', limit);
    if (!nl)
      fail(op_offset_,
           std::string(what) + ": no newline within " + std::to_string(limit) + " bytes");
    const size_t n = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    std::string line(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n + 1;
    return line;
  }

  PyRef make(Kind kind) {
    auto v = std::make_shared<PyValue>();
    v->kind = kind;
    v->offset = op_offset_;
    return v;
  }

  void push(PyRef v) {
    if (++values_ > kMaxValues) {
      fail(op_offset_, "more than " + std::to_string(kMaxValues) +
                           " values: not a verification .bin (refusing to use more memory)");
    }
    stack_.push_back(std::move(v));
  }

  PyRef pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) {
      fail(op_offset_, "stack underflow (corrupt pickle)");
    }
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }

  PyRef& top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) {
      fail(op_offset_, "stack underflow (corrupt pickle)");
    }
    return stack_.back();
  }

  // The values above the newest MARK, which is removed.
  std::vector<PyRef> popMark() {
    if (marks_.empty()) fail(op_offset_, "no MARK on the stack (corrupt pickle)");
    const size_t start = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(
        std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(start)),
        std::make_move_iterator(stack_.end()));
    stack_.resize(start);
    return items;
  }

  void memoPut(uint64_t index) {
    if (memo_.size() >= kMaxMemo && !memo_.count(index)) {
      fail(op_offset_, "more than " + std::to_string(kMaxMemo) + " memo entries");
    }
    memo_[index] = top();
  }

  void memoGet(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end())
      fail(op_offset_, "memo entry " + std::to_string(index) + " was never stored");
    push(it->second);
  }

  void pushBytes(const uint8_t* p, uint64_t n) {
    PyRef v = make(Kind::kBytes);
    v->bytes = std::make_shared<const std::vector<uint8_t>>(p, p + n);
    push(std::move(v));
  }

  void pushText(const uint8_t* p, uint64_t n) {
    PyRef v = make(Kind::kText);
    v->text.assign(reinterpret_cast<const char*>(p), n);
    push(std::move(v));
  }

  void pushInt(int64_t value, Kind kind = Kind::kInt) {
    PyRef v = make(kind);
    v->integer = value;
    push(std::move(v));
  }

  void pushGlobal(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!allowedGlobal(full)) {
      fail(op_offset_, "refusing global '" + full +
                           "': a verification .bin holds only byte strings, bools and numpy "
                           "arrays (no other Python objects are rebuilt)");
    }
    PyRef v = make(Kind::kGlobal);
    v->text = full;
    push(std::move(v));
  }

  // A list's items: neither lists nor tuples holding lists (no value can reach itself).
  void checkListItem(const PyValue& item) {
    if (item.kind == Kind::kList || item.holds_list) {
      fail(op_offset_, "a list inside a list: not part of a verification .bin (the images and "
                       "the flags are flat lists)");
    }
  }

  void appendTo(PyRef& list, std::vector<PyRef> items) {
    if (list->kind != Kind::kList) {
      fail(op_offset_, "APPEND(S) to a " + describe(*list) + ", expected a list");
    }
    for (auto& item : items) {
      checkListItem(*item);
      list->depth = std::max(list->depth, item->depth + 1);
      list->items.push_back(std::move(item));
    }
  }

  PyRef makeList(std::vector<PyRef> items) {
    PyRef v = make(Kind::kList);
    v->depth = 1;
    appendTo(v, std::move(items));
    return v;
  }

  // Tuples are immutable: their depth and whether they hold a list are final here.
  PyRef makeTuple(std::vector<PyRef> items) {
    PyRef v = make(Kind::kTuple);
    v->depth = 1;
    for (const auto& item : items) {
      v->depth = std::max(v->depth, item->depth + 1);
      v->holds_list = v->holds_list || item->kind == Kind::kList || item->holds_list;
    }
    if (v->depth > kMaxNesting) {
      fail(op_offset_, "values nested more than " + std::to_string(kMaxNesting) +
                           " deep: not a verification .bin");
    }
    v->items = std::move(items);
    return v;
  }

  void step(uint8_t op);

  const uint8_t* data_;
  size_t size_;
  std::string source_;
  size_t pos_ = 0;
  size_t op_offset_ = 0;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::unordered_map<uint64_t, PyRef> memo_;
  uint64_t values_ = 0;
  PyRef none_;
};

void Reader::step(uint8_t op) {
  switch (op) {
    case 0x80: {  // PROTO
      const uint64_t proto = readUnsigned(1, "PROTO");
      if (proto > 5)
        fail(op_offset_, "pickle protocol " + std::to_string(proto) + " is newer than 5");
      return;
    }
    case 0x95: {  // FRAME: a length prefix only; check it, then read on.
      const uint64_t n = readUnsigned(8, "FRAME");
      if (n > size_ - pos_)
        fail(op_offset_, "FRAME of " + std::to_string(n) + " bytes but only " +
                             std::to_string(size_ - pos_) + " remain");
      return;
    }
    case '(':
      marks_.push_back(stack_.size());
      return;
    case ']':
      push(makeList({}));
      return;
    case ')':
      push(makeTuple({}));
      return;
    case 'l':
      push(makeList(popMark()));
      return;
    case 'a': {
      PyRef item = pop();
      appendTo(top(), {std::move(item)});
      return;
    }
    case 'e': {
      std::vector<PyRef> items = popMark();
      appendTo(top(), std::move(items));
      return;
    }
    case 't':
      push(makeTuple(popMark()));
      return;
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1..3
      const int n = op - 0x84;
      std::vector<PyRef> items(static_cast<size_t>(n));
      for (int i = n - 1; i >= 0; --i) items[static_cast<size_t>(i)] = pop();
      push(makeTuple(std::move(items)));
      return;
    }
    case 'N':
      push(none_);
      return;
    case 0x88:
      pushInt(1, Kind::kBool);
      return;
    case 0x89:
      pushInt(0, Kind::kBool);
      return;
    case 'I': {  // protocol 0/1 int; "01"/"00" are True/False
      const std::string line = readLine("INT");
      if (line == "01" || line == "00") return pushInt(line == "01", Kind::kBool);
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(line.c_str(), &end, 10);
      if (line.empty() || errno != 0 || *end != '\0')
        fail(op_offset_, "INT '" + line + "' is not an integer");
      return pushInt(v);
    }
    case 'J':
      return pushInt(static_cast<int32_t>(readUnsigned(4, "BININT")));
    case 'K':
      return pushInt(static_cast<int64_t>(readUnsigned(1, "BININT1")));
    case 'M':
      return pushInt(static_cast<int64_t>(readUnsigned(2, "BININT2")));
    case 0x8a: {  // LONG1: two's complement little-endian, up to 8 bytes here
      const uint64_t n = readUnsigned(1, "LONG1");
      if (n > 8) fail(op_offset_, "LONG1 of " + std::to_string(n) + " bytes: integer too large");
      if (n == 0) return pushInt(0);
      uint64_t v = readUnsigned(static_cast<int>(n), "LONG1");
      if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
      return pushInt(static_cast<int64_t>(v));
    }
    case 'T': {  // BINSTRING: Python 2 str, a signed 4-byte length; read as bytes
      const auto n = static_cast<int32_t>(readUnsigned(4, "BINSTRING"));
      if (n < 0) fail(op_offset_, "BINSTRING with negative length " + std::to_string(n));
      const uint8_t* p = take(static_cast<uint64_t>(n), "BINSTRING");
      return pushBytes(p, static_cast<uint64_t>(n));
    }
    case 'U':
    case 'C': {  // SHORT_BINSTRING, SHORT_BINBYTES
      const uint64_t n = readUnsigned(1, opcodeName(op));
      return pushBytes(take(n, opcodeName(op)), n);
    }
    case 'B': {
      const uint64_t n = readUnsigned(4, "BINBYTES");
      return pushBytes(take(n, "BINBYTES"), n);
    }
    case 0x8e:
    case 0x96: {  // BINBYTES8, BYTEARRAY8
      const uint64_t n = readUnsigned(8, opcodeName(op));
      return pushBytes(take(n, opcodeName(op)), n);
    }
    case 'X': {
      const uint64_t n = readUnsigned(4, "BINUNICODE");
      return pushText(take(n, "BINUNICODE"), n);
    }
    case 0x8c: {
      const uint64_t n = readUnsigned(1, "SHORT_BINUNICODE");
      return pushText(take(n, "SHORT_BINUNICODE"), n);
    }
    case 0x8d: {
      const uint64_t n = readUnsigned(8, "BINUNICODE8");
      return pushText(take(n, "BINUNICODE8"), n);
    }
    case 'q':
      return memoPut(readUnsigned(1, "BINPUT"));
    case 'r':
      return memoPut(readUnsigned(4, "LONG_BINPUT"));
    case 0x94:
      return memoPut(memo_.size());
    case 'h':
      return memoGet(readUnsigned(1, "BINGET"));
    case 'j':
      return memoGet(readUnsigned(4, "LONG_BINGET"));
    case 'c': {
      const std::string module = readLine("GLOBAL module");
      const std::string name = readLine("GLOBAL name");
      return pushGlobal(module, name);
    }
    case 0x93: {
      const PyRef name = pop();
      const PyRef module = pop();
      if (module->kind != Kind::kText || name->kind != Kind::kText) {
        fail(op_offset_, "STACK_GLOBAL needs two strings");
      }
      return pushGlobal(module->text, name->text);
    }
    case 'R': {
      const PyRef args = pop();
      const PyRef callable = pop();
      push(reduceGlobal(callable, args, source_, op_offset_));
      return;
    }
    case 'b': {
      const PyRef state = pop();
      buildValue(*top(), *state, source_, op_offset_);
      return;
    }
    default:
      fail(op_offset_, (opcodeName(op) ? "unsupported pickle opcode " : "unknown pickle opcode ") +
                           opText(op) + ": not part of the subset verification .bin files use");
  }
}

}  // namespace

PyRef unpickle(const uint8_t* data, size_t size, const std::string& source) {
  return Reader(data, size, source).run();
}

}  // namespace l2face::eval::detail
