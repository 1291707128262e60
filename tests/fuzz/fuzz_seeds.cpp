// Writes the seed corpora of the fuzz targets: valid inputs made by the project's own writers.
//
// Usage: fuzz_seeds OUT_DIR SOURCE_DIR [TARGET...]
// (targets: jpeg recordio bin config http store pack_list ijb)
// OUT_DIR/<target>/ receives the seeds. JPEG and RecordIO seeds come from the synthetic corpus
// generator (a tiny corpus in RecordIO format), .bin seeds are pickle streams as Python 2 and 3
// write them, config seeds are configs/*.yaml and the YAML blocks of docs/*.md, HTTP seeds are
// requests a scraper sends, store seeds are a client's conversation, pack_list seeds are list files
// of `l2face data pack`, ijb seeds are the IJB meta files of the synthetic corpus generator.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "l2face/comm/internal/store_protocol.h"
#include "l2face/data/jpeg.h"
#include "l2face/data/recordio.h"
#include "l2face/data/synth.h"

namespace fs = std::filesystem;

namespace {

int seed_count = 0;

void writeSeed(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
  ++seed_count;
}

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string str(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

// RecordIO input layout of fuzz_recordio.cpp: u16 idx_len, u8 property_len, idx, property, rec.
std::string recordioInput(const std::string& idx, const std::string& property,
                          const std::string& rec) {
  if (idx.size() > 0xffff || property.size() > 0xff) throw std::runtime_error("seed too large");
  std::string s;
  s.push_back(static_cast<char>(idx.size() & 0xff));
  s.push_back(static_cast<char>(idx.size() >> 8));
  s.push_back(static_cast<char>(property.size()));
  return s + idx + property + rec;
}

// A tiny synthetic corpus in `corpus` (RecordIO training split); with `ijb`, also the evaluation
// split in that target's IJB layout: 2 subjects x 4 images in 2 templates each, crops 1.jpg-8.jpg.
void tinyCorpus(const fs::path& corpus, const std::string& ijb) {
  fs::remove_all(corpus);
  l2face::data::SynthOptions o;
  o.out = corpus.string();
  o.identities = 2;
  o.images_per_identity = 2;
  o.eval_identities = 2;
  o.eval_images_per_identity = ijb.empty() ? 2 : 4;
  o.size = 32;
  o.folds = 1;
  o.pairs_per_fold = 1;
  o.threads = 1;
  o.format = "rec";
  o.templates_per_subject = ijb.empty() ? 1 : 2;
  o.ijb = ijb;
  l2face::data::synthesizeCorpus(o);
}

void jpegAndRecordio(const fs::path& out, bool want_jpeg, bool want_recordio) {
  const fs::path corpus = out / "tmp-synth";
  tinyCorpus(corpus, "");
  if (want_jpeg) {
    int k = 0;
    std::vector<fs::path> images;
    for (const auto& e : fs::recursive_directory_iterator(corpus / "eval")) {
      if (e.path().extension() == ".jpg") images.push_back(e.path());
    }
    std::sort(images.begin(), images.end());
    for (const auto& p : images)
      writeSeed(out / "jpeg", "synth" + std::to_string(k++) + ".jpg", readAll(p));
    // Sizes whose DCT scaling and resizing take other paths: tiny, odd, wide.
    for (auto [w, h] : {std::pair{1, 1}, {17, 9}, {250, 40}}) {
      std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
      for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7 + (i / 3) * 13);
      writeSeed(out / "jpeg", "gradient_" + std::to_string(w) + "x" + std::to_string(h) + ".jpg",
                str(l2face::data::encodeJpeg(rgb.data(), w, h, 75)));
    }
  }
  if (want_recordio) {
    const std::string rec = readAll(corpus / "train.rec");
    const std::string idx = readAll(corpus / "train.idx");
    const std::string property = readAll(corpus / "property");
    writeSeed(out / "recordio", "synth.bin", recordioInput(idx, property, rec));
    writeSeed(out / "recordio", "synth_no_property.bin", recordioInput(idx, "", rec));
    // A hand-made file without a meta record, with payloads split where they hold the magic.
    const fs::path dir = out / "tmp-rec";
    fs::create_directories(dir);
    {
      l2face::data::RecordWriter w((dir / "x.rec").string(), (dir / "x.idx").string());
      for (int i = 0; i < 3; ++i) {
        std::vector<uint8_t> data(12 + 4 * i, static_cast<uint8_t>(i));
        const uint32_t magic = l2face::data::kRecordMagic;
        for (int k = 0; k < 4; ++k) data[4 + k] = static_cast<uint8_t>(magic >> (8 * k));
        l2face::data::IRHeader h;
        h.label = static_cast<float>(i);
        const auto payload = l2face::data::packPayload(
            h, i == 2 ? std::vector<float>{2.0f, 7.0f} : std::vector<float>{}, data.data(),
            data.size());
        w.write(static_cast<uint64_t>(i + 1), payload.data(), payload.size());
      }
      w.close();
    }
    writeSeed(out / "recordio", "split_records.bin",
              recordioInput(readAll(dir / "x.idx"), "3,32,32\n", readAll(dir / "x.rec")));
    fs::remove_all(dir);
  }
  fs::remove_all(corpus);
}

// Pickle streams built opcode by opcode.
class Pickle {
 public:
  Pickle& op(uint8_t c) {
    s_.push_back(static_cast<char>(c));
    return *this;
  }
  Pickle& u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) op(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Pickle& u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) op(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Pickle& raw(const std::string& t) {
    s_ += t;
    return *this;
  }
  Pickle& shortBytes(uint8_t opcode, const std::string& t) {
    return op(opcode).op(static_cast<uint8_t>(t.size())).raw(t);
  }
  Pickle& unicode(const std::string& t) {
    return op('X').u32(static_cast<uint32_t>(t.size())).raw(t);
  }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

void binSeeds(const fs::path& dir) {
  const std::string img1 = "\xff\xd8\xff\xe0 jpeg one", img2 = "\xff\xd8 jpeg two";
  {  // Python 2, protocol 2: str images, bool flags, a shared image (BINGET).
    Pickle p;
    p.op(0x80).op(2).op(']').op('q').op(0).op('(');
    p.shortBytes('U', img1).op('q').op(1).op('T').u32(static_cast<uint32_t>(img2.size())).raw(img2);
    p.op('q').op(2).shortBytes('U', "three").op('q').op(3).op('h').op(1).op('e');
    p.op(']').op('q').op(4).op('(').op(0x88).op(0x89).op('e').op(0x86).op('q').op(5).op('.');
    writeSeed(dir, "python2_protocol2.bin", p.str());
  }
  {  // Protocol 1: MARK/TUPLE, LIST, INT "01"/"00", BININT1, LONG_BINPUT/LONG_BINGET.
    Pickle p;
    p.op('(').op('(').shortBytes('U', "a").op('r').u32(300).shortBytes('U', "b").op('j').u32(300);
    p.shortBytes('U', "c").op('l').op('(').raw("I01\n").op('K').op(0).op('l').op('t').op('.');
    writeSeed(dir, "protocol1.bin", p.str());
  }
  {  // Python 3, protocol 4: FRAME, SHORT_BINBYTES, MEMOIZE, BINBYTES8, BYTEARRAY8.
    Pickle body;
    body.op(']').op(0x94).op('(').shortBytes('C', img1).op(0x94);
    body.op(0x8e).u64(img2.size()).raw(img2).op(0x94).op(0x96).u64(3).raw("abc").op(0x94);
    body.op('h')
        .op(1)
        .op('e')
        .op(']')
        .op(0x94)
        .op('(')
        .op(0x88)
        .op(0x89)
        .op('e')
        .op(0x86)
        .op(0x94)
        .op('.');
    Pickle p;
    p.op(0x80).op(4).op(0x95).u64(body.str().size()).raw(body.str());
    writeSeed(dir, "python3_protocol4.bin", p.str());
  }
  {  // Python 3 bytes at protocol 2: _codecs.encode(text, 'latin1'); numpy bool array flags via
     // _reconstruct + BUILD with a dtype; numpy bool scalars.
    Pickle p;
    p.op(0x80).op(2).op(']').op('q').op(0).op('(');
    for (const std::string& text : {std::string("\xc3\xbf\xc3\x98 one"), std::string("two")}) {
      p.raw("c_codecs\nencode\n").unicode(text).unicode("latin1").op(0x86).op('R');
    }
    p.op('e');
    p.raw("cnumpy.core.multiarray\n_reconstruct\n").raw("cnumpy\nndarray\n").op('K').op(0).op(0x85);
    p.shortBytes('C', "b").op(0x87).op('R');
    p.op('(').op('K').op(1).op('K').op(1).op(0x85);
    p.raw("cnumpy\ndtype\n").unicode("b1").op('K').op(0).op('K').op(1).op(0x87).op('R');
    p.op('(').op('K').op(3).unicode("|").op('N').op('N').op('N').op('J').u32(0xffffffff);
    p.op('J').u32(0xffffffff).op('K').op(0).op('t').op('b');
    p.op(0x89).shortBytes('C', "\x01").op('t').op('b');
    p.op(0x86).op('.');
    writeSeed(dir, "numpy_reconstruct.bin", p.str());
  }
  {  // numpy scalars as flags: numpy.core.multiarray.scalar(dtype, bytes).
    Pickle p;
    p.op(0x80).op(2).op(']').op('(').shortBytes('C', img1).shortBytes('C', img2);
    p.shortBytes('C', img2).shortBytes('C', img1).op('e');
    p.op(']').op('(');
    for (char b : {'\x01', '\x00'}) {
      p.raw("cnumpy.core.multiarray\nscalar\n").raw("cnumpy\ndtype\n").unicode("b1");
      p.op('K')
          .op(0)
          .op('K')
          .op(1)
          .op(0x87)
          .op('R')
          .shortBytes('C', std::string(1, b))
          .op(0x86)
          .op('R');
    }
    p.op('e').op(0x86).op('.');
    writeSeed(dir, "numpy_scalars.bin", p.str());
  }
}

void configSeeds(const fs::path& dir, const fs::path& source) {
  int k = 0;
  for (const auto& e : fs::directory_iterator(source / "configs")) {
    if (e.path().extension() == ".yaml") {
      writeSeed(dir, "configs_" + e.path().filename().string(), readAll(e.path()));
    }
  }
  // ```yaml blocks of the documentation.
  std::vector<fs::path> docs;
  for (const auto& e : fs::directory_iterator(source / "docs")) {
    if (e.path().extension() == ".md") docs.push_back(e.path());
  }
  std::sort(docs.begin(), docs.end());
  for (const auto& doc : docs) {
    std::istringstream in(readAll(doc));
    std::string line, block;
    bool inside = false;
    while (std::getline(in, line)) {
      if (!inside && line.rfind("```yaml", 0) == 0) {
        inside = true;
        block.clear();
      } else if (inside && line.rfind("```", 0) == 0) {
        inside = false;
        writeSeed(dir, "docs_" + doc.stem().string() + "_" + std::to_string(k++) + ".yaml", block);
      } else if (inside) {
        block += line + "\n";
      }
    }
  }
  writeSeed(dir, "with_overrides.yaml",
            "run:\n  dir: runs/x\n  steps: 10\nhead:\n  alpha: auto\n--set\ndata.batch_size=32\n"
            "optim.milestones=[5, 8]\nhead.alpha=16\nmonitoring.bind=\"0.0.0.0\"\n");
}

void httpSeeds(const fs::path& dir) {
  auto seed = [&](const std::string& name, size_t chunk, const std::string& bytes) {
    writeSeed(dir, name, std::string(1, static_cast<char>(chunk - 1)) + bytes);
  };
  seed("prometheus.txt", 64,
       "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9400\r\nUser-Agent: Prometheus/2.45.0\r\n"
       "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
       "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n");
  seed("pipelined.txt", 7,
       "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
       "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  seed("post_body.txt", 64,
       "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
       "GET /metrics HTTP/1.0\r\n\r\n");
  seed("chunked.txt", 3,
       "PUT /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n");
  seed("slow.txt", 1, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
}

void storeSeeds(const fs::path& dir) {
  using l2face::comm::store::Command;
  using l2face::comm::store::Writer;
  const std::string hello = Writer(Command::kHello).str("job-token").i32(0).frame();
  std::string talk = hello;
  talk += Writer(Command::kSet).str("l2face/nccl/unique_id").str(std::string(128, '\x07')).frame();
  talk += Writer(Command::kGet).str("l2face/nccl/unique_id").frame();
  talk += Writer(Command::kAdd).str("l2face/doctor/done").i64(1).frame();
  talk += Writer(Command::kAdd).str("l2face/doctor/done").i64(-1).frame();
  talk += Writer(Command::kWait).u32(2).str("a").str("l2face/arrive/1").u64(600000).frame();
  talk += Writer(Command::kDelete).str("a").frame();
  writeSeed(dir, "conversation.bin", talk);
  writeSeed(dir, "wrong_token.bin", Writer(Command::kHello).str("other").i32(3).frame());
  writeSeed(dir, "no_hello.bin", Writer(Command::kSet).str("k").str("v").frame());
  writeSeed(dir, "add_text.bin",
            hello + Writer(Command::kSet).str("n").str("12").frame() +
                Writer(Command::kAdd).str("n").i64(5).frame());
}

void packListSeeds(const fs::path& dir) {
  const std::string points = "38.29 51.69 73.53 51.50 56.02 71.73 41.54 92.36 70.72 92.20";
  writeSeed(dir, "no_points.txt", "alice/1.jpg 0\nalice/2.jpg 0\nbob/1.jpg 1\n");
  writeSeed(
      dir, "points.txt",
      "# path label x1 y1 ... x5 y5\nalice/1.jpg 0 " + points + "\n\nbob/1.jpg 7 " + points + "\n");
  writeSeed(dir, "points_score.txt",
            "wild/0001.jpg 3 " + points + " 0.998\n/abs/wild_2.jpg\t12 " + points + " 1e-3\n");
  writeSeed(dir, "mixed_crlf.txt", "a.jpg 0\r\nb.jpg 16777215 " + points + "\r\n#c 1\r\n");
  writeSeed(dir, "three_columns.txt", "a.jpg 0 1\n");
  writeSeed(dir, "negative_label.txt", "a.jpg -1\n");
  writeSeed(dir, "fractional_label.txt", "a.jpg 1.5\n");
  writeSeed(dir, "label_too_large.txt", "a.jpg 16777216\n");
  writeSeed(dir, "nan_landmark.txt", "a.jpg 0 nan 1 2 3 4 5 6 7 8 9\n");
  writeSeed(dir, "coinciding_landmarks.txt", "a.jpg 0 5 5 5 5 5 5 5 5 5 5 0.9\n");
  writeSeed(dir, "bad_score.txt", "a.jpg 0 " + points + " inf\n");
  writeSeed(dir, "only_comments.txt", "# nothing\n\n");
}

// fuzz_ijb's input: the meta files of `l2face synth --ijb IJBC` joined by "----" lines (faces,
// templates, pairs, G1, G2, probes), and broken variants.
void ijbSeeds(const fs::path& out) {
  const fs::path corpus = out / "tmp-ijb";
  tinyCorpus(corpus, "IJBC");
  const fs::path meta = corpus / "ijb" / "meta";
  std::vector<std::string> files;
  for (const char* f :
       {"ijbc_name_5pts_score.txt", "ijbc_face_tid_mid.txt", "ijbc_template_pair_label.txt",
        "ijbc_1N_gal_G1.csv", "ijbc_1N_gal_G2.csv", "ijbc_1N_probe_mixed.csv"}) {
    files.push_back(readAll(meta / f));
  }
  fs::remove_all(corpus);
  auto join = [](const std::vector<std::string>& parts, size_t n) {
    std::string s;
    for (size_t k = 0; k < n; ++k) s += (k > 0 ? "----\n" : "") + parts[k];
    return s;
  };
  const fs::path dir = out / "ijb";
  writeSeed(dir, "synth_1N.txt", join(files, 6));
  writeSeed(dir, "synth_1to1.txt", join(files, 3));
  writeSeed(dir, "synth_G1_only.txt", join(files, 4));
  auto edited = [&](size_t part, const std::string& from, const std::string& to) {
    std::vector<std::string> parts = files;
    const size_t at = parts[part].find(from);
    if (at == std::string::npos) throw std::runtime_error("ijb seed: no '" + from + "'");
    parts[part].replace(at, from.size(), to);
    return join(parts, 6);
  };
  writeSeed(dir, "missing_crop.txt", edited(0, "1.jpg", "9.jpg"));
  writeSeed(dir, "negative_landmark.txt", edited(0, ".jpg ", ".jpg -"));
  writeSeed(dir, "order_differs.txt", edited(1, "1.jpg", "2.jpg"));
  writeSeed(dir, "unknown_template.txt", edited(2, "1 ", "99 "));
  writeSeed(dir, "bad_label.txt", edited(2, " 1\n", " 2\n"));
  writeSeed(dir, "bad_header.txt", edited(3, "TEMPLATE_ID", "TID"));
  writeSeed(dir, "two_subjects.txt", edited(5, "\n", "\n2,7,x.jpg\n"));
  writeSeed(dir, "short_row.txt", edited(4, "\n", "\n1\n"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: fuzz_seeds OUT_DIR SOURCE_DIR "
                 "[jpeg|recordio|bin|config|http|store|pack_list|ijb...]\n";
    return 2;
  }
  const fs::path out = argv[1], source = argv[2];
  std::set<std::string> want(argv + 3, argv + argc);
  auto wanted = [&](const std::string& t) { return want.empty() || want.count(t) > 0; };
  try {
    if (wanted("jpeg") || wanted("recordio"))
      jpegAndRecordio(out, wanted("jpeg"), wanted("recordio"));
    if (wanted("bin")) binSeeds(out / "bin");
    if (wanted("config")) configSeeds(out / "config", source);
    if (wanted("http")) httpSeeds(out / "http");
    if (wanted("store")) storeSeeds(out / "store");
    if (wanted("pack_list")) packListSeeds(out / "pack_list");
    if (wanted("ijb")) ijbSeeds(out);
  } catch (const std::exception& e) {
    std::cerr << "fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  std::cout << "fuzz_seeds: " << seed_count << " seeds in " << out << "\n";
  return 0;
}
