// Tests of the .bin reader: files written by Python's pickle, a hand-built Python 2 stream, errors.
#include "l2face/eval/bin_set.h"

#include <gtest/gtest.h>

#include <cstring>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;
using testing::writeFile;

// The images and flags bin_fixture.py writes (see its docstring).
std::vector<uint8_t> fixtureImage(int64_t i) {
  std::vector<uint8_t> bytes(static_cast<size_t>(1 + (37 * i) % 300));
  for (size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<uint8_t>((7 * i + 13 * k) % 256);
  return bytes;
}

void expectFixture(const BinSet& set, int64_t pairs) {
  ASSERT_EQ(set.pairs(), pairs);
  ASSERT_EQ(set.images.size(), static_cast<size_t>(2 * pairs));
  for (int64_t p = 0; p < pairs; ++p) EXPECT_EQ(set.same[p], p % 3 == 0) << p;
  for (int64_t i = 0; i < 2 * pairs; ++i) {
    ASSERT_EQ(*set.images[i], fixtureImage(i == 2 * pairs - 1 ? 0 : i)) << "image " << i;
  }
  // The last image is the first object again: the reader shares it rather than copying it.
  EXPECT_EQ(set.images.back().get(), set.images.front().get());
}

// Writes a fixture with bin_fixture.py; "" when Python/numpy are missing.
std::string pythonFixture(const TempDir& dir, int protocol, const std::string& kind, int pairs) {
  const std::string python = testing::numpyPython();
  if (python.empty()) return "";
  const std::string out = dir.file(kind + "_p" + std::to_string(protocol) + ".bin");
  const std::string script = std::string(L2FACE_SOURCE_DIR) + "/tests/unit/eval/bin_fixture.py";
  const auto [status, output] =
      testing::runCommand("'" + python + "' '" + script + "' '" + out + "' " +
                          std::to_string(protocol) + " " + kind + " " + std::to_string(pairs));
  EXPECT_EQ(status, 0) << output;
  return out;
}

TEST(BinSet, ReadsBytesPickledByPythonAtProtocols2To5) {
  // 1100 pairs: lists longer than pickle's 1000-item APPENDS batches, memo indices past 255.
  // Protocol 2 from Python 3 writes bytes as _codecs.encode(text, 'latin1').
  TempDir dir;
  for (int protocol : {2, 3, 4, 5}) {
    const std::string path = pythonFixture(dir, protocol, "bytes", 1100);
    if (path.empty()) GTEST_SKIP() << "no .venv Python with numpy";
    SCOPED_TRACE("protocol " + std::to_string(protocol));
    const BinSet set = readBin(path);
    expectFixture(set, 1100);
    EXPECT_EQ(set.name, "bytes_p" + std::to_string(protocol));
    EXPECT_EQ(set.path, path);
  }
}

TEST(BinSet, ReadsNumpyImagesFlagArraysAndScalars) {
  TempDir dir;
  for (const std::string kind : {"numpy", "npbool", "bytearray"}) {
    for (int protocol : {2, 4, 5}) {
      const std::string path = pythonFixture(dir, protocol, kind, 40);
      if (path.empty()) GTEST_SKIP() << "no .venv Python with numpy";
      SCOPED_TRACE(kind + " protocol " + std::to_string(protocol));
      expectFixture(readBin(path), 40);
    }
  }
}

TEST(BinSet, RefusesATripleFromPython) {
  TempDir dir;
  const std::string path = pythonFixture(dir, 4, "triple", 3);
  if (path.empty()) GTEST_SKIP() << "no .venv Python with numpy";
  expectEvalError([&] { readBin(path); }, {path, "tuple of 3", "(images, same/different flags)"});
}

// Builds pickle streams byte by byte, the way Python 2's cPickle wrote insightface's sets.
class Stream {
 public:
  Stream& op(uint8_t c) { return byte(c); }
  Stream& byte(uint8_t c) {
    s_.push_back(static_cast<char>(c));
    return *this;
  }
  Stream& u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) byte(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Stream& u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) byte(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Stream& raw(const std::string& text) {
    s_ += text;
    return *this;
  }
  Stream& shortString(const std::string& text) {  // SHORT_BINSTRING: Python 2 str < 256 bytes
    return op('U').byte(static_cast<uint8_t>(text.size())).raw(text);
  }
  Stream& longString(const std::string& text) {  // BINSTRING
    return op('T').u32(static_cast<uint32_t>(text.size())).raw(text);
  }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

BinSet parse(const std::string& bytes, const std::string& source = "lfw.bin") {
  return parseBin(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), source);
}

// (bins, issame_list) as Python 2 pickled it at protocol 2: PROTO 2, EMPTY_LIST + BINPUT, MARK,
// str items (SHORT_BINSTRING / BINSTRING) each BINPUT, APPENDS; the flags list with NEWTRUE /
// NEWFALSE (a single item goes through APPEND); TUPLE2; STOP. The 4th image is the 1st again
// (BINGET), as a script appending the same object twice produces.
std::string python2Stream(const std::string& big) {
  Stream s;
  s.op(0x80).byte(2);
  s.op(']').op('q').byte(0).op('(');
  s.shortString("\xff\xd8 first").op('q').byte(1);
  s.longString(big).op('q').byte(2);
  s.shortString("third").op('q').byte(3);
  s.op('h').byte(1);
  s.op('e');
  s.op(']').op('q').byte(4).op('(').op(0x88).op(0x89).op('e');
  s.op(0x86).op('q').byte(5).op('.');
  return s.str();
}

TEST(BinSet, ReadsAHandBuiltPython2Stream) {
  const std::string big(300, '\xab');
  const BinSet set = parse(python2Stream(big));
  EXPECT_EQ(set.name, "lfw");
  ASSERT_EQ(set.pairs(), 2);
  EXPECT_TRUE(set.same[0]);
  EXPECT_FALSE(set.same[1]);
  ASSERT_EQ(set.images.size(), 4u);
  EXPECT_EQ(std::string(set.images[0]->begin(), set.images[0]->end()), "\xff\xd8 first");
  EXPECT_EQ(std::string(set.images[1]->begin(), set.images[1]->end()), big);
  EXPECT_EQ(std::string(set.images[2]->begin(), set.images[2]->end()), "third");
  EXPECT_EQ(set.images[3].get(), set.images[0].get());
}

TEST(BinSet, ReadsProtocol1FormsAndIntFlags) {
  // Protocol 1: MARK ... TUPLE for the container, LIST, INT "01"/"00" for bools, BININT1 0/1,
  // LONG_BINPUT / LONG_BINGET.
  Stream s;
  s.op('(').op('(').shortString("a").op('r').u32(300).shortString("b").op('j').u32(300);
  s.shortString("c").op('l');
  s.op('(').raw("I01\n").op('K').byte(0).op('l').op('t').op('.');
  const BinSet set = parse(s.str());
  ASSERT_EQ(set.pairs(), 2);
  EXPECT_TRUE(set.same[0]);
  EXPECT_FALSE(set.same[1]);
  EXPECT_EQ(set.images[2].get(), set.images[0].get());
}

TEST(BinSet, MalformedStreamsNameOpcodeAndOffset) {
  const std::string ok = python2Stream("payload");
  expectEvalError([&] { parse(""); }, {"lfw.bin", "empty file"});
  // Truncated: the stream stops inside the BINSTRING's payload.
  const size_t cut = ok.find("payload") + 3;
  expectEvalError([&] { parse(ok.substr(0, cut)); },
                  {"lfw.bin", "byte offset " + std::to_string(ok.find('T')), "BINSTRING needs 7",
                   "only 3 remain"});
  expectEvalError([&] { parse(ok.substr(0, ok.size() - 1)); }, {"before the pickle's STOP"});
  expectEvalError([&] { parse(ok + "xx"); }, {"2 bytes after the pickle's STOP"});
  // A dict where the container belongs: refused by name and offset.
  expectEvalError([&] { parse(Stream().op(0x80).byte(2).op('}').op('.').str()); },
                  {"byte offset 2", "EMPTY_DICT (0x7d)"});
  expectEvalError([&] { parse(Stream().op(0x80).byte(2).op(0xff).str()); },
                  {"byte offset 2", "unknown pickle opcode 0xff"});
  // Code execution is never on offer: a global outside the numpy/bytes list is refused.
  expectEvalError([&] { parse(Stream().op(0x80).byte(2).op('c').raw("os\nsystem\n").str()); },
                  {"byte offset 2", "refusing global 'os.system'"});
  // A length field far beyond the file is refused before anything is allocated.
  expectEvalError([&] { parse(Stream().op(0x8e).u64(uint64_t{1} << 60).str()); },
                  {"byte offset 0", "BINBYTES8 needs 1152921504606846976 bytes"});
  expectEvalError([&] { parse(Stream().op('h').byte(7).str()); },
                  {"memo entry 7 was never stored"});
  expectEvalError([&] { parse(Stream().op('e').str()); }, {"no MARK"});
  expectEvalError([&] { parse(Stream().op(0x86).str()); }, {"stack underflow"});
  expectEvalError([&] { parse(Stream().op(0x80).byte(9).str()); }, {"protocol 9"});
}

TEST(BinSet, InconsistentContentNamesTheRecord) {
  auto container = [](const std::string& images, const std::string& flags) {
    Stream s;
    s.op(0x80).byte(2).op(']').op('(').raw(images).op('e').op(']').op('(').raw(flags).op('e');
    return s.op(0x86).op('.').str();
  };
  const std::string two = Stream().shortString("a").shortString("b").str();
  expectEvalError(
      [&] { parse(container(two + Stream().shortString("c").str(), std::string(1, '\x88'))); },
      {"lfw.bin", "3 images for 1 pairs", "two images per pair (2)"});
  expectEvalError([&] { parse(container(two, Stream().op('K').byte(2).str())); },
                  {"lfw.bin", "flags[0] is 2", "expected a boolean"});
  expectEvalError([&] { parse(container(two, Stream().shortString("x").str())); },
                  {"flags[0] is a byte string"});
  expectEvalError(
      [&] { parse(container(Stream().shortString("a").op('K').byte(1).str(), "\x88")); },
      {"lfw.bin: images[1] (pair 0) is a int", "expected the bytes of an encoded image"});
  expectEvalError(
      [&] { parse(container(Stream().shortString("a").shortString("").str(), "\x88")); },
      {"images[1] (pair 0) is empty"});
  expectEvalError([&] { parse(container("", "")); }, {"no pairs"});
  expectEvalError([&] { parse(Stream().op('N').op('.').str()); },
                  {"holds a None", "(images, same/different flags)"});
}

TEST(BinSet, FileErrorsNameThePath) {
  TempDir dir;
  expectEvalError([&] { readBin(dir.file("absent.bin")); }, {"absent.bin", "cannot open"});
  writeFile(dir.file("empty.bin"), "");
  expectEvalError([&] { readBin(dir.file("empty.bin")); }, {dir.file("empty.bin"), "empty file"});
  writeFile(dir.file("ok.bin"), python2Stream("payload"));
  EXPECT_EQ(readBin(dir.file("ok.bin")).pairs(), 2);
}

// Found by fuzzing (tests/fuzz, fuzz_bin): a list appended to itself through the memo
// (EMPTY_LIST, BINPUT 0, BINGET 0, APPEND) made a cycle of shared pointers that was never freed
// (LeakSanitizer), whatever the reader said about the file afterwards.
TEST(BinSet, AListCannotHoldAList) {
  Stream self;
  self.op(']').op('q').byte(0).op('h').byte(0).op('a').op('.');
  expectEvalError([&] { parse(self.str()); }, {"lfw.bin", "byte offset 5", "a list inside a list"});
  // Nor a tuple that holds a list (the same cycle, one step longer), nor through LIST / APPENDS.
  Stream via_tuple;
  via_tuple.op(']').op('q').byte(0).op('h').byte(0).op(0x85).op('a').op('.');
  expectEvalError([&] { parse(via_tuple.str()); }, {"a list inside a list"});
  Stream via_mark;
  via_mark.op('(').op(']').op('l').op('.');
  expectEvalError([&] { parse(via_mark.str()); }, {"a list inside a list"});
}

// A few hundred kilobytes of TUPLE1 opcodes nested tuples 300000 deep; destroying them recursed
// once per level and overflowed the stack (a crash, not an error). Nesting is capped.
TEST(BinSet, DeepNestingIsRefusedNotACrash) {
  Stream s;
  s.op(']');
  for (int i = 0; i < 300000; ++i) s.op(0x85);
  s.op('.');
  expectEvalError([&] { parse(s.str()); }, {"lfw.bin", "nested more than 100 deep"});
  // 99 levels are fine (then refused as not a pair of lists, by the .bin check).
  Stream ok;
  ok.op(']');
  for (int i = 0; i < 99; ++i) ok.op(0x85);
  ok.op('.');
  expectEvalError([&] { parse(ok.str()); }, {"the pickle holds a tuple of 1"});
}

}  // namespace
}  // namespace l2face::eval
