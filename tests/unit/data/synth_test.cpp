// Tests of the synthetic face-corpus generator: layout, pairs.txt, determinism, identity
// separation, output-directory safety, option checks and the quality score.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "l2face/data/dataset.h"
#include "l2face/data/errors.h"
#include "l2face/data/jpeg.h"
#include "l2face/data/recordio.h"
#include "l2face/data/synth.h"
#include "l2face/data/synth_params.h"
#include "l2face/data/synth_render.h"
#include "test_util.h"

namespace l2face::data {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

SynthOptions smallOptions(const fs::path& out) {
  SynthOptions o;
  o.out = out.string();
  o.identities = 5;
  o.images_per_identity = 3;
  o.eval_identities = 6;
  o.eval_images_per_identity = 3;
  o.size = 32;
  o.folds = 3;
  o.pairs_per_fold = 4;
  o.threads = 2;
  o.seed = 11;
  return o;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

// Every regular file under root, relative path -> bytes.
std::map<std::string, std::vector<uint8_t>> allFiles(const fs::path& root) {
  std::map<std::string, std::vector<uint8_t>> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = test::readBytes(e);
  }
  return files;
}

TEST(Unit, SynthWritesTheLayoutAndCounts) {
  TempDir dir;
  const SynthOptions o = smallOptions(dir.path() / "corpus");
  const SynthReport r = synthesizeCorpus(o);
  EXPECT_EQ(r.train_images, 15);
  EXPECT_EQ(r.eval_images, 18);
  EXPECT_EQ(r.pairs, 3 * 4 * 2);
  const fs::path out = o.out;
  for (int i = 1; i <= 5; ++i) {
    const std::string name = "id_00000" + std::to_string(i);
    for (int k = 1; k <= 3; ++k) {
      const fs::path f = out / "train" / name / (name + "_000" + std::to_string(k) + ".jpg");
      ASSERT_TRUE(fs::is_regular_file(f)) << f;
    }
    ASSERT_FALSE(fs::exists(out / "train" / name / (name + "_0004.jpg")));
  }
  EXPECT_FALSE(fs::exists(out / "train" / "id_000006"));
  // Images decode at the requested size.
  JpegDecoder decoder;
  const auto bytes = test::readBytes(out / "eval" / "ev_000006" / "ev_000006_0003.jpg");
  const ImageSize s = decoder.peek(bytes.data(), bytes.size(), "eval image");
  EXPECT_EQ(s.width, 32);
  EXPECT_EQ(s.height, 32);

  const auto csv = split(test::readText(out / "quality.csv"), '\n');
  ASSERT_EQ(csv.size(), 1u + 15 + 18);
  EXPECT_EQ(csv[0], "split,path,label,quality,yaw,roll,scale,illumination,occlusion,blur,"
                    "jpeg_quality");
  for (size_t i = 1; i < csv.size(); ++i) {
    const auto f = split(csv[i], ',');
    ASSERT_EQ(f.size(), 11u) << csv[i];
    EXPECT_TRUE(fs::is_regular_file(out / f[1])) << f[1];
    const double q = std::stod(f[3]);
    EXPECT_GE(q, 0.0);
    EXPECT_LE(q, 1.0);
    EXPECT_EQ(f[0], i <= 15 ? "train" : "eval");
  }
  const auto meta = nlohmann::json::parse(test::readText(out / "meta.json"));
  EXPECT_EQ(meta.at("generator"), "l2face-synth");
  EXPECT_EQ(meta.at("complete"), true);
  EXPECT_EQ(meta.at("counts").at("train_images"), 15);
  EXPECT_EQ(meta.at("options").at("seed"), 11);
}

TEST(Unit, SynthPairsFollowTheLfwLayout) {
  TempDir dir;
  const SynthOptions o = smallOptions(dir.path());
  synthesizeCorpus(o);
  const fs::path eval = dir.path() / "eval";
  const auto lines = split(test::readText(eval / "pairs.txt"), '\n');
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "3\t4");
  ASSERT_EQ(lines.size(), 1u + 3 * 2 * 4);
  std::set<std::string> train_names;
  for (const auto& e : fs::directory_iterator(dir.path() / "train")) {
    train_names.insert(e.path().filename().string());
  }
  auto file = [&](const std::string& name, const std::string& n) {
    char num[8];
    std::snprintf(num, sizeof num, "%04d", std::stoi(n));
    return eval / name / (name + "_" + num + ".jpg");
  };
  std::vector<std::set<std::string>> fold_names(3);
  std::set<std::string> distinct;
  for (int f = 0; f < 3; ++f) {
    for (int k = 0; k < 8; ++k) {
      const std::string& line = lines[1 + f * 8 + k];
      EXPECT_TRUE(distinct.insert(line).second) << "duplicate pair " << line;
      const auto t = split(line, '\t');
      if (k < 4) {  // matched
        ASSERT_EQ(t.size(), 3u) << line;
        EXPECT_NE(t[1], t[2]);
        EXPECT_TRUE(fs::is_regular_file(file(t[0], t[1]))) << line;
        EXPECT_TRUE(fs::is_regular_file(file(t[0], t[2]))) << line;
        fold_names[f].insert(t[0]);
      } else {  // mismatched
        ASSERT_EQ(t.size(), 4u) << line;
        EXPECT_NE(t[0], t[2]);
        EXPECT_TRUE(fs::is_regular_file(file(t[0], t[1]))) << line;
        EXPECT_TRUE(fs::is_regular_file(file(t[2], t[3]))) << line;
        fold_names[f].insert(t[0]);
        fold_names[f].insert(t[2]);
      }
    }
  }
  for (int a = 0; a < 3; ++a) {
    for (const auto& n : fold_names[a]) {
      EXPECT_EQ(train_names.count(n), 0u) << n << " is also a training identity";
      for (int b = a + 1; b < 3; ++b) EXPECT_EQ(fold_names[b].count(n), 0u) << n << " in 2 folds";
    }
  }
}

// Rows of a CSV file without its header, split into fields.
std::vector<std::vector<std::string>> csvRows(const fs::path& p, const std::string& header) {
  const auto lines = split(test::readText(p), '\n');
  EXPECT_FALSE(lines.empty());
  if (lines.empty()) return {};
  EXPECT_EQ(lines[0], header);
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 1; i < lines.size(); ++i) rows.push_back(split(lines[i], ','));
  return rows;
}

TEST(Unit, SynthWritesTemplatesFromDisjointImageSubsets) {
  TempDir dir;
  SynthOptions o = smallOptions(dir.path());
  o.eval_images_per_identity = 7;
  o.templates_per_subject = 3;
  const SynthReport r = synthesizeCorpus(o);
  const fs::path eval = dir.path() / "eval";
  const auto rows = csvRows(eval / "templates.csv", "template_id,subject_id,image,media_id");
  ASSERT_EQ(rows.size(), 6u * 7);  // every eval image in exactly one template
  EXPECT_EQ(r.templates, 6 * 3);
  std::map<int, int> subject_of_template, size_of_template;
  std::map<int, std::set<int>> templates_of_media;
  std::set<std::string> images;
  for (const auto& f : rows) {
    ASSERT_EQ(f.size(), 4u);
    const int t = std::stoi(f[0]), subject = std::stoi(f[1]), media = std::stoi(f[3]);
    char name[16];
    std::snprintf(name, sizeof name, "ev_%06d", subject);
    EXPECT_EQ(f[2].substr(0, 10), std::string(name) + "/") << "image of another subject";
    EXPECT_TRUE(fs::is_regular_file(eval / f[2])) << f[2];
    EXPECT_TRUE(images.insert(f[2]).second) << f[2] << " in two templates";
    if (subject_of_template.count(t)) EXPECT_EQ(subject_of_template[t], subject);
    subject_of_template[t] = subject;
    ++size_of_template[t];
    templates_of_media[media].insert(t);
  }
  for (const auto& [t, n] : size_of_template) {
    EXPECT_GE(n, 2) << "template " << t;  // 7 images / 3 templates: 2 or 3 each
    EXPECT_LE(n, 3);
  }
  for (const auto& [m, ts] : templates_of_media) EXPECT_EQ(ts.size(), 1u) << "media " << m;
  EXPECT_LT(templates_of_media.size(), rows.size());  // some media hold several photos

  const auto pairs = csvRows(eval / "template_pairs.csv", "template_a,template_b,label");
  ASSERT_EQ(pairs.size(), static_cast<size_t>(r.template_pairs));
  int genuine = 0, impostor = 0;
  std::set<std::pair<int, int>> distinct;
  for (const auto& f : pairs) {
    ASSERT_EQ(f.size(), 3u);
    const int a = std::stoi(f[0]), b = std::stoi(f[1]);
    EXPECT_LT(a, b);
    EXPECT_TRUE(distinct.insert({a, b}).second);
    const bool same = subject_of_template.at(a) == subject_of_template.at(b);
    EXPECT_EQ(f[2], same ? "1" : "0");
    (same ? genuine : impostor)++;
  }
  EXPECT_EQ(genuine, 6 * 3);  // every two of a subject's 3 templates
  EXPECT_EQ(impostor, genuine);
}

TEST(Unit, SynthRecordFormatHoldsTheSameImages) {
  TempDir dir;
  SynthOptions o = smallOptions(dir.path() / "folder");
  synthesizeCorpus(o);
  o.out = (dir.path() / "rec").string();
  o.format = "rec";
  o.threads = 1;
  synthesizeCorpus(o);
  const fs::path rec = dir.path() / "rec";
  EXPECT_FALSE(fs::exists(rec / "train"));
  EXPECT_EQ(test::readText(rec / "property"), "5,32,32\n");
  const ImageFolderDataset folder((dir.path() / "folder" / "train").string());
  const auto records = openDataset(rec.string());
  ASSERT_EQ(records->size(), folder.size());
  EXPECT_EQ(records->numClasses(), folder.numClasses());
  std::vector<uint8_t> a, b;
  for (size_t i = 0; i < folder.size(); ++i) {
    EXPECT_EQ(records->readSample(i, a), folder.readSample(i, b));
    EXPECT_EQ(a, b) << "image " << i;
  }
  // Evaluation files are the same in both formats; quality.csv names record keys.
  for (const char* f : {"eval/pairs.txt", "eval/templates.csv", "eval/template_pairs.csv"}) {
    EXPECT_EQ(test::readText(rec / f), test::readText(dir.path() / "folder" / f)) << f;
  }
  const auto quality = split(test::readText(rec / "quality.csv"), '\n');
  EXPECT_EQ(split(quality[1], ',')[1], "train.rec#1");
  EXPECT_EQ(split(quality[15], ',')[1], "train.rec#15");
  // A later run in the same directory (format folder) replaces the records.
  o.format = "folder";
  synthesizeCorpus(o);
  EXPECT_FALSE(fs::exists(rec / "train.rec"));
  EXPECT_TRUE(fs::is_directory(rec / "train"));
}

TEST(Unit, SynthReducesPairsWhenFoldsAreTooSmall) {
  TempDir dir;
  SynthOptions o = smallOptions(dir.path());
  o.pairs_per_fold = 100;  // a fold has 2 identities x 3 images: 6 matched pairs at most
  const SynthReport r = synthesizeCorpus(o);
  EXPECT_EQ(r.pairs, 3 * 6 * 2);
  EXPECT_EQ(split(test::readText(dir.path() / "eval" / "pairs.txt"), '\n')[0], "3\t6");
  const auto meta = nlohmann::json::parse(test::readText(dir.path() / "meta.json"));
  EXPECT_EQ(meta.at("notes").size(), 1u);
}

TEST(Unit, SynthOutputIsIndependentOfThreadsAndFollowsTheSeed) {
  TempDir dir;
  SynthOptions o = smallOptions(dir.path() / "one");
  o.threads = 1;
  synthesizeCorpus(o);
  o.out = (dir.path() / "two").string();
  o.threads = 2;
  synthesizeCorpus(o);
  auto one = allFiles(dir.path() / "one"), two = allFiles(dir.path() / "two");
  one.erase("meta.json");  // records threads and seconds
  two.erase("meta.json");
  ASSERT_EQ(one.size(), 15u + 18u + 4u);  // images, pairs, templates, template pairs, quality
  EXPECT_TRUE(one == two) << "output depends on the thread count";

  o.out = (dir.path() / "other").string();
  o.seed = 12;
  synthesizeCorpus(o);
  auto other = allFiles(dir.path() / "other");
  int same = 0;
  for (const auto& [path, bytes] : one) same += other.count(path) && other[path] == bytes;
  EXPECT_EQ(same, 0) << "a different seed must give different files";
}

// Mean squared pixel distance between two decoded images.
double distance(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return s / a.size();
}

TEST(Unit, SynthIdentitiesDifferMoreThanPhotosOfOneIdentity) {
  TempDir dir;
  SynthOptions o = smallOptions(dir.path());
  o.identities = 10;
  o.images_per_identity = 5;
  o.size = 32;
  synthesizeCorpus(o);
  JpegDecoder decoder;
  std::vector<std::vector<std::vector<uint8_t>>> images(10);
  for (int i = 0; i < 10; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "id_%06d", i + 1);
    for (int k = 0; k < 5; ++k) {
      char file[32];
      std::snprintf(file, sizeof file, "%s_%04d.jpg", name, k + 1);
      const auto bytes = test::readBytes(dir.path() / "train" / name / file);
      std::vector<uint8_t> rgb(32 * 32 * 3);
      decoder.decode(bytes.data(), bytes.size(), 32, 32, rgb.data(), file);
      images[i].push_back(rgb);
    }
  }
  double within = 0, between = 0;
  int nw = 0, nb = 0;
  for (int i = 0; i < 10; ++i)
    for (int k = 0; k < 5; ++k)
      for (int j = i; j < 10; ++j)
        for (int l = (j == i ? k + 1 : 0); l < 5; ++l) {
          const double d = distance(images[i][k], images[j][l]);
          if (i == j) within += d, ++nw;
          else between += d, ++nb;
        }
  within /= nw;
  between /= nb;
  EXPECT_LT(within * 1.2, between) << "within " << within << " between " << between;
  EXPECT_GT(within, 0.0);  // photos of one identity are not copies
}

// The probe set: six levels of one degradation at a time on the same clean photos.
TEST(Unit, SynthProbeSetDegradesOneThingAtATime) {
  TempDir dir;
  SynthOptions o = smallOptions(dir.path() / "corpus");
  o.probe_identities = 2;
  o.probe_photos = 2;
  o.size = 64;  // the size the experiments use (a blur of σ 0.7 at 112 px is sub-pixel at 32)
  const SynthReport r = synthesizeCorpus(o);
  const std::vector<std::string> series = {"blur", "noise", "jpeg", "low_resolution",
                                           "occlusion", "pose", "alignment"};
  EXPECT_EQ(r.probe_images, 2 * 2 * 7 * 6);
  const auto rows = csvRows(dir.path() / "corpus" / "probe.csv",
                            "path,degradation,level,value,identity,photo,quality");
  ASSERT_EQ(rows.size(), 2u * 2 * 7 * 6);
  const auto meta = nlohmann::json::parse(test::readText(dir.path() / "corpus" / "meta.json"));
  EXPECT_EQ(meta["counts"]["probe_images"], 168);

  // image[(series, identity, photo, level)] decoded, and the quality column.
  JpegDecoder decoder;
  std::map<std::tuple<std::string, int, int, int>, std::vector<uint8_t>> image;
  std::map<std::tuple<std::string, int, int, int>, double> quality;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 7u);
    const auto key = std::make_tuple(row[1], std::stoi(row[4]), std::stoi(row[5]), std::stoi(row[2]));
    const auto bytes = test::readBytes(dir.path() / "corpus" / row[0]);
    std::vector<uint8_t> rgb(64 * 64 * 3);
    decoder.decode(bytes.data(), bytes.size(), 64, 64, rgb.data(), row[0]);
    image[key] = rgb;
    quality[key] = std::stod(row[6]);
  }
  ASSERT_EQ(image.size(), rows.size());
  for (int id = 0; id < 2; ++id) {
    for (int photo = 1; photo <= 2; ++photo) {
      auto at = [&](const std::string& s, int level) { return image.at({s, id, photo, level}); };
      // Level 0 is the same clean photo in every series but alignment (a crop of it).
      for (const auto& s : series) {
        if (s != "alignment") EXPECT_EQ(at(s, 0), at("blur", 0)) << s;
      }
      // Each level moves further from the clean photo, and the quality score falls.
      for (const auto& s : series) {
        const auto& clean = at(s, 0);
        double previous = 0.0;
        for (int level = 1; level < 6; ++level) {
          const double d = distance(at(s, level), clean);
          EXPECT_GT(d, previous) << s << " identity " << id << " photo " << photo << " level "
                                 << level;
          previous = d;
          if (s != "alignment") {
            EXPECT_LT(quality.at({s, id, photo, level}), quality.at({s, id, photo, level - 1})) << s;
          }
        }
      }
    }
  }
  // The same files whatever the thread count.
  o.out = (dir.path() / "one_thread").string();
  o.threads = 1;
  synthesizeCorpus(o);
  EXPECT_TRUE(allFiles(dir.path() / "corpus" / "probe") == allFiles(dir.path() / "one_thread" / "probe"));
}

TEST(Unit, SynthRefusesToMixCorpora) {
  TempDir dir;
  test::writeBytes(dir.path() / "foreign" / "keep.txt", {'x'});
  SynthOptions o = smallOptions(dir.path() / "foreign");
  EXPECT_THROW(synthesizeCorpus(o), DataError);
  EXPECT_TRUE(fs::exists(dir.path() / "foreign" / "keep.txt"));

  // A previous synth output is replaced, not merged.
  o.out = (dir.path() / "corpus").string();
  synthesizeCorpus(o);
  o.identities = 3;
  synthesizeCorpus(o);
  EXPECT_TRUE(fs::exists(dir.path() / "corpus" / "train" / "id_000003"));
  EXPECT_FALSE(fs::exists(dir.path() / "corpus" / "train" / "id_000004"));
  // ... unless something foreign was added to it.
  test::writeBytes(dir.path() / "corpus" / "mine.txt", {'y'});
  EXPECT_THROW(synthesizeCorpus(o), DataError);
}

TEST(Unit, SynthValidatesOptions) {
  TempDir dir;
  auto bad = [&](auto mutate) {
    SynthOptions o = smallOptions(dir.path() / "x");
    mutate(o);
    EXPECT_THROW(synthesizeCorpus(o), std::invalid_argument);
  };
  bad([](SynthOptions& o) { o.identities = 1; });
  bad([](SynthOptions& o) { o.size = 15; });
  bad([](SynthOptions& o) { o.eval_identities = 5; });  // < 2 * folds
  bad([](SynthOptions& o) { o.eval_images_per_identity = 1; });
  bad([](SynthOptions& o) { o.folds = 0; });
  bad([](SynthOptions& o) { o.out.clear(); });
  bad([](SynthOptions& o) { o.format = "tfrecord"; });
  bad([](SynthOptions& o) { o.templates_per_subject = 0; });
  bad([](SynthOptions& o) { o.probe_identities = 7; });  // > eval_identities
  bad([](SynthOptions& o) { o.probe_identities = 1, o.probe_photos = 0; });
  EXPECT_FALSE(fs::exists(dir.path() / "x"));  // nothing written on invalid options
}

TEST(Unit, RenderFaceIsDeterministicAndVariesWithParameters) {
  const IdentityParams id = sampleIdentity(3);
  const ImageParams im = sampleImageParams(4, id, 1.0);
  const auto a = renderFace(id, im, 40);
  ASSERT_EQ(a.size(), 40u * 40 * 3);
  EXPECT_EQ(a, renderFace(id, im, 40));
  ImageParams turned = im;
  turned.yaw += 0.4f;
  EXPECT_GT(distance(a, renderFace(id, turned, 40)), 10.0);
  EXPECT_GT(distance(a, renderFace(sampleIdentity(5), im, 40)), 10.0);
  EXPECT_THROW(renderFace(id, im, 4), std::invalid_argument);
}

TEST(Unit, QualityScoreFallsWithEachDegradation) {
  ImageParams clean;
  clean.jpeg_quality = 95;
  const double base = qualityScore(clean);
  EXPECT_NEAR(base, 1.0, 1e-9);
  auto lower = [&](auto mutate) {
    ImageParams im = clean;
    mutate(im);
    const double q = qualityScore(im);
    EXPECT_GE(q, 0.0);
    EXPECT_LT(q, base - 0.05);
  };
  lower([](ImageParams& im) { im.blur_sigma = 1.5f; });
  lower([](ImageParams& im) { im.downsample = 3.0f; });
  lower([](ImageParams& im) { im.noise_sigma = 0.04f; });
  lower([](ImageParams& im) { im.jpeg_quality = 35; });
  lower([](ImageParams& im) { im.yaw = 0.8f; });
  lower([](ImageParams& im) { im.occlusion = Occlusion::kSunglasses; });
}

}  // namespace
}  // namespace l2face::data
