// torch.save's zip format for {name: tensor} dicts: the writer, and a restricted unpickler that
// reads state dicts written by Python (only tensors, storages, OrderedDict and plain values).
#include "l2face/trainer/internal/state_dict_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

// What torch::pickle_save does, without its type tags: pickle_save marks typed containers with
// torch.jit._pickle.restore_type_tag, a global that torch.load(weights_only=True) (the default
// since torch 2.6) refuses. Untagged, the dict unpickles as a plain {str: Tensor}, and the zip
// layout (data.pkl, data/<storage>, version) is torch.save's.
std::vector<char> saveStateDict(const c10::Dict<std::string, at::Tensor>& state) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* p, size_t n) { pickled.insert(pickled.end(), p, p + n); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(state);
  pickler.stop();
  std::vector<char> zip;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* p, size_t n) {
    zip.insert(zip.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                     writer);
  writer.writeEndOfFile();
  return zip;
}

// A Python value as the unpickler builds it; containers are shared (the memo refers to them).
struct PyValue;
using PyRef = std::shared_ptr<PyValue>;
struct PyValue {
  enum Kind { kNone, kBool, kInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kTensor } kind;
  int64_t i = 0;
  double f = 0;
  std::string s;                               // str; global: "module.name"
  std::vector<PyRef> items;                    // tuple, list
  std::vector<std::pair<PyRef, PyRef>> pairs;  // dict, in insertion order
  torch::Tensor tensor;                        // tensor; a storage is a 1-d tensor of its dtype
};

PyRef make(PyValue::Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}

const char* kindName(PyValue::Kind k) {
  static const char* names[] = {"None",  "bool", "int",  "float",  "str",
                                "tuple", "list", "dict", "object", "tensor"};
  return names[k];
}

// The storage classes a state dict's tensors use, by their torch.<Name> global.
const std::map<std::string, at::ScalarType>& storageTypes() {
  static const std::map<std::string, at::ScalarType> types = {
      {"torch.FloatStorage", at::kFloat}, {"torch.DoubleStorage", at::kDouble},
      {"torch.HalfStorage", at::kHalf},   {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},   {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort}, {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},   {"torch.BoolStorage", at::kBool}};
  return types;
}

// Pickle protocols 2-5 as torch.save writes them; nothing outside the accepted globals is built.
class StateDictUnpickler {
 public:
  StateDictUnpickler(std::string file, caffe2::serialize::PyTorchStreamReader& zip, const char* p,
                     size_t n)
      : file_(std::move(file)), zip_(zip), p_(p), end_(p + n) {}

  PyRef run() {
    for (;;) {
      const uint8_t op = u8();
      if (op == '.') break;  // STOP
      if (!constantOp(op) && !numberOp(op) && !textOp(op) && !containerOp(op) && !mutateOp(op) &&
          !memoOp(op) && !objectOp(op)) {
        fail("unsupported pickle opcode 0x" + hex(op));
      }
    }
    if (stack_.size() != 1)
      fail("malformed pickle (stack of " + std::to_string(stack_.size()) + ")");
    return stack_.back();
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(file_ + ": " + what);
  }
  static std::string hex(uint8_t b) {
    const char* d = "0123456789abcdef";
    return {d[b >> 4], d[b & 15]};
  }
  const char* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) fail("truncated pickle (data.pkl)");
    const char* at = p_;
    p_ += n;
    return at;
  }
  uint8_t u8() { return static_cast<uint8_t>(*take(1)); }
  uint64_t le(size_t n) {  // unsigned little-endian integer of n bytes
    const auto* b = reinterpret_cast<const uint8_t*>(take(n));
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t{b[k]} << (8 * k);
    return v;
  }
  std::string line() {
    const char* start = p_;
    while (p_ < end_ && *p_ != '\n') ++p_;
    if (p_ == end_) fail("truncated pickle (data.pkl)");
    return std::string(start, p_++);
  }
  void push(PyRef v) { stack_.push_back(std::move(v)); }
  PyRef pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      fail("malformed pickle (stack underflow)");
    }
    PyRef v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PyRef& top() {
    if (stack_.empty()) fail("malformed pickle (empty stack)");
    return stack_.back();
  }
  std::vector<PyRef> popMark() {
    if (marks_.empty()) fail("malformed pickle (no mark)");
    const size_t at = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> out(stack_.begin() + static_cast<std::ptrdiff_t>(at), stack_.end());
    stack_.resize(at);
    return out;
  }
  PyRef integer(int64_t x) {
    PyRef v = make(PyValue::kInt);
    v->i = x;
    return v;
  }
  PyRef str(std::string s) {
    PyRef v = make(PyValue::kStr);
    v->s = std::move(s);
    return v;
  }

  bool constantOp(uint8_t op);
  bool numberOp(uint8_t op);
  bool textOp(uint8_t op);
  bool containerOp(uint8_t op);
  bool mutateOp(uint8_t op);
  bool memoOp(uint8_t op);
  bool objectOp(uint8_t op);
  PyRef global(const std::string& module, const std::string& name);
  PyRef reduce(const PyRef& callable, const PyRef& args);
  PyRef rebuildTensor(const std::vector<PyRef>& a);
  PyRef storage(const PyRef& pid);
  std::vector<int64_t> ints(const PyRef& tuple, const char* what);

  std::string file_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  const char* p_;
  const char* end_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyRef> memo_;
  std::unordered_map<std::string, torch::Tensor> storages_;
};

// Framing and constants.
bool StateDictUnpickler::constantOp(uint8_t op) {
  switch (op) {
    case 0x80:
      u8();
      return true;  // PROTO
    case 0x95:
      le(8);
      return true;  // FRAME
    case 'N':
      push(make(PyValue::kNone));
      return true;
    case 0x88:
    case 0x89: {  // NEWTRUE, NEWFALSE
      PyRef v = make(PyValue::kBool);
      v->i = op == 0x88;
      push(v);
      return true;
    }
    default:
      return false;
  }
}

bool StateDictUnpickler::numberOp(uint8_t op) {
  switch (op) {
    case 'J':
      push(integer(static_cast<int32_t>(le(4))));
      return true;  // BININT
    case 'K':
      push(integer(static_cast<int64_t>(le(1))));
      return true;  // BININT1
    case 'M':
      push(integer(static_cast<int64_t>(le(2))));
      return true;  // BININT2
    case 0x8a: {    // LONG1
      const size_t n = u8();
      if (n > 8) fail("integer too large");
      uint64_t v = n ? le(n) : 0;
      if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign
      push(integer(static_cast<int64_t>(v)));
      return true;
    }
    case 'G': {  // BINFLOAT: big-endian IEEE double
      const auto* b = reinterpret_cast<const uint8_t*>(take(8));
      uint64_t bits = 0;
      for (int k = 0; k < 8; ++k) bits = bits << 8 | b[k];
      PyRef v = make(PyValue::kFloat);
      std::memcpy(&v->f, &bits, sizeof bits);
      push(v);
      return true;
    }
    default:
      return false;
  }
}

// Strings and bytes (both kept as strings): the opcode says how many bytes hold the length.
bool StateDictUnpickler::textOp(uint8_t op) {
  size_t width = 0;
  if (op == 'X' || op == 'B') width = 4;    // BINUNICODE, BINBYTES
  if (op == 0x8c || op == 'C') width = 1;   // SHORT_BINUNICODE, SHORT_BINBYTES
  if (op == 0x8d || op == 0x8e) width = 8;  // BINUNICODE8, BINBYTES8
  if (width == 0) return false;
  const size_t n = le(width);
  push(str(std::string(take(n), n)));
  return true;
}

// Tuples, lists and dicts.
bool StateDictUnpickler::containerOp(uint8_t op) {
  switch (op) {
    case '(':
      marks_.push_back(stack_.size());
      return true;  // MARK
    case ')':
      push(make(PyValue::kTuple));
      return true;
    case ']':
      push(make(PyValue::kList));
      return true;
    case '}':
      push(make(PyValue::kDict));
      return true;
    case 't': {
      PyRef t = make(PyValue::kTuple);
      t->items = popMark();
      push(t);
      return true;
    }
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1..3
      PyRef t = make(PyValue::kTuple);
      t->items.resize(op - 0x84);
      for (size_t k = t->items.size(); k-- > 0;) t->items[k] = pop();
      push(t);
      return true;
    }
    default:
      return false;
  }
}

// Appending to lists and setting dict items.
bool StateDictUnpickler::mutateOp(uint8_t op) {
  switch (op) {
    case 'a':
    case 'e': {  // APPEND, APPENDS
      std::vector<PyRef> xs = op == 'a' ? std::vector<PyRef>{pop()} : popMark();
      PyRef& l = top();
      if (l->kind != PyValue::kList)
        fail("malformed pickle (append to a " + std::string(kindName(l->kind)) + ")");
      l->items.insert(l->items.end(), xs.begin(), xs.end());
      return true;
    }
    case 's':
    case 'u': {  // SETITEM, SETITEMS
      std::vector<PyRef> xs;
      if (op == 's') {
        PyRef v = pop();
        PyRef k = pop();
        xs = {k, v};
      } else {
        xs = popMark();
      }
      PyRef& d = top();
      if (d->kind != PyValue::kDict || xs.size() % 2) fail("malformed pickle (setitem)");
      for (size_t k = 0; k < xs.size(); k += 2) d->pairs.emplace_back(xs[k], xs[k + 1]);
      return true;
    }
    default:
      return false;
  }
}

bool StateDictUnpickler::memoOp(uint8_t op) {
  switch (op) {
    case 'q':
      memo_[le(1)] = top();
      return true;  // BINPUT
    case 'r':
      memo_[le(4)] = top();
      return true;  // LONG_BINPUT
    case 0x94:
      memo_[memo_.size()] = top();
      return true;  // MEMOIZE
    case 'h':
    case 'j': {  // BINGET, LONG_BINGET
      auto it = memo_.find(le(op == 'h' ? 1 : 4));
      if (it == memo_.end()) fail("malformed pickle (memo)");
      push(it->second);
      return true;
    }
    default:
      return false;
  }
}

// Globals, calls (only the accepted ones), persistent ids (tensor storages) and BUILD.
bool StateDictUnpickler::objectOp(uint8_t op) {
  switch (op) {
    case 'c': {  // GLOBAL
      std::string module = line();
      push(global(module, line()));
      return true;
    }
    case 0x93: {  // STACK_GLOBAL
      PyRef name = pop();
      PyRef module = pop();
      push(global(module->s, name->s));
      return true;
    }
    case 'R': {  // REDUCE
      PyRef args = pop();
      PyRef callable = pop();
      push(reduce(callable, args));
      return true;
    }
    case 'Q':
      push(storage(pop()));
      return true;  // BINPERSID
    case 'b': {     // BUILD: an OrderedDict's attributes (state_dict's _metadata) are dropped
      pop();
      if (top()->kind != PyValue::kDict) fail("unsupported object state in the pickle");
      return true;
    }
    default:
      return false;
  }
}

PyRef StateDictUnpickler::global(const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  static const char* accepted[] = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                   "torch._utils._rebuild_parameter"};
  bool ok = storageTypes().count(full) > 0;
  for (const char* a : accepted) ok = ok || full == a;
  if (!ok) {
    fail("not a state dict: it holds a pickled " + full +
         " (a whole module or another object?); save module.state_dict() with torch.save instead");
  }
  PyRef g = make(PyValue::kGlobal);
  g->s = full;
  return g;
}

std::vector<int64_t> StateDictUnpickler::ints(const PyRef& tuple, const char* what) {
  if (tuple->kind != PyValue::kTuple) fail(std::string("malformed tensor ") + what);
  std::vector<int64_t> out;
  for (const auto& x : tuple->items) {
    if (x->kind != PyValue::kInt) fail(std::string("malformed tensor ") + what);
    out.push_back(x->i);
  }
  return out;
}

PyRef StateDictUnpickler::reduce(const PyRef& callable, const PyRef& args) {
  if (callable->kind != PyValue::kGlobal || args->kind != PyValue::kTuple) {
    fail("unsupported call in the pickle");
  }
  if (callable->s == "collections.OrderedDict") {
    PyRef d = make(PyValue::kDict);
    if (!args->items.empty()) fail("unsupported OrderedDict construction in the pickle");
    return d;
  }
  if (callable->s == "torch._utils._rebuild_parameter") {
    if (args->items.empty() || args->items[0]->kind != PyValue::kTensor)
      fail("malformed parameter");
    return args->items[0];
  }
  if (callable->s == "torch._utils._rebuild_tensor_v2") return rebuildTensor(args->items);
  fail("unsupported call of " + callable->s + " in the pickle");
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, ...).
PyRef StateDictUnpickler::rebuildTensor(const std::vector<PyRef>& a) {
  if (a.size() < 4 || a[0]->kind != PyValue::kTensor || a[1]->kind != PyValue::kInt) {
    fail("malformed tensor in the pickle");
  }
  const std::vector<int64_t> size = ints(a[2], "size"), stride = ints(a[3], "stride");
  if (size.size() != stride.size()) fail("malformed tensor (size and stride differ in rank)");
  int64_t last = a[1]->i;  // the highest storage element the view reaches
  bool empty = false;
  for (size_t k = 0; k < size.size(); ++k) {
    if (size[k] < 0 || stride[k] < 0) fail("malformed tensor (negative size or stride)");
    empty = empty || size[k] == 0;
    last += (size[k] - 1) * stride[k];
  }
  const torch::Tensor& st = a[0]->tensor;
  if (!empty && (a[1]->i < 0 || last >= st.numel())) fail("tensor extends past its storage");
  PyRef v = make(PyValue::kTensor);
  v->tensor = empty ? torch::empty(size, st.options())
                    : st.as_strided(size, stride, a[1]->i).clone(at::MemoryFormat::Contiguous);
  return v;
}

// ("storage", torch.<Type>Storage, key, location, numel): the record data/<key>, on the CPU.
PyRef StateDictUnpickler::storage(const PyRef& pid) {
  const auto& t = pid->items;
  if (pid->kind != PyValue::kTuple || t.size() < 5 || t[0]->s != "storage" ||
      t[1]->kind != PyValue::kGlobal || t[2]->kind != PyValue::kStr ||
      t[4]->kind != PyValue::kInt) {
    fail("malformed storage reference in the pickle");
  }
  auto type = storageTypes().find(t[1]->s);
  if (type == storageTypes().end()) fail("unsupported storage type " + t[1]->s);
  torch::Tensor& st = storages_[t[2]->s];
  if (!st.defined()) {
    const std::string record = "data/" + t[2]->s;
    if (!zip_.hasRecord(record)) fail("the archive lacks the record " + record);
    auto [data, bytes] = zip_.getRecord(record);
    const int64_t numel = t[4]->i;
    if (numel < 0 || bytes < static_cast<size_t>(numel) * c10::elementSize(type->second)) {
      fail("record " + record + " is shorter than its storage (truncated file?)");
    }
    st = torch::from_blob(data.get(), {numel}, torch::TensorOptions().dtype(type->second)).clone();
  }
  PyRef v = make(PyValue::kTensor);
  v->tensor = st;
  return v;
}

// The zip archive of `file`, or std::invalid_argument saying why it is none.
std::unique_ptr<caffe2::serialize::PyTorchStreamReader> openArchive(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::invalid_argument(file.string() + ": cannot open (no such file?)");
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() != 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    throw std::invalid_argument(
        file.string() +
        ": not a torch.save zip archive (a legacy torch.save file, pickle or other "
        "format?); re-save the state dict with torch.save in torch >= 1.6");
  }
  try {
    return std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.string());
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    throw std::invalid_argument(
        file.string() +
        ": unreadable zip archive (truncated or corrupt?): " + what.substr(0, what.find('.')));
  }
}

}  // namespace

NamedTensors moduleState(torch::nn::Module& m) {
  NamedTensors out;
  for (const auto& mod : m.named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    const std::string prefix = mod.key().empty() ? "" : mod.key() + ".";
    for (const auto& p : mod.value()->named_parameters(/*recurse=*/false)) {
      out.emplace_back(prefix + p.key(), p.value());
    }
    for (const auto& b : mod.value()->named_buffers(/*recurse=*/false)) {
      out.emplace_back(prefix + b.key(), b.value());
    }
  }
  return out;
}

void writeStateDictFile(const NamedTensors& state, const fs::path& file) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : state) dict.insert(name, t.detach().cpu().contiguous().clone());
  const std::vector<char> bytes = saveStateDict(dict);
  fs::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp.string());
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      f.close();
      fs::remove(tmp);
      throw std::runtime_error("write failed for " + tmp.string() + " (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp);
    throw std::runtime_error("cannot rename " + tmp.string() + " to " + file.string() + ": " +
                             ec.message());
  }
}

NamedTensors readStateDictFile(const fs::path& file) {
  auto zip = openArchive(file);
  const std::string where = file.string();
  PyRef root;
  try {
    if (!zip->hasRecord("data.pkl")) {
      throw std::invalid_argument(where + ": a zip archive without data.pkl (not torch.save's?)");
    }
    auto [pkl, size] = zip->getRecord("data.pkl");
    StateDictUnpickler u(where, *zip, static_cast<const char*>(pkl.get()), size);
    root = u.run();
  } catch (const c10::Error& e) {
    throw std::invalid_argument(where +
                                ": unreadable torch.save archive: " + e.what_without_backtrace());
  }
  if (root->kind != PyValue::kDict) {
    throw std::invalid_argument(where + ": not a state dict: it holds a " + kindName(root->kind) +
                                ", not a {name: tensor} dict");
  }
  NamedTensors out;
  for (const auto& [k, v] : root->pairs) {
    if (k->kind != PyValue::kStr || v->kind != PyValue::kTensor) {
      throw std::invalid_argument(where + ": not a state dict: an entry maps a " +
                                  kindName(k->kind) + " to a " + kindName(v->kind) +
                                  " (expected str -> tensor)");
    }
    out.emplace_back(k->s, v->tensor);
  }
  return out;
}

}  // namespace l2face::trainer
