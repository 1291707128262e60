// Tests of the ROC plot: chosen points, the SVG's structure and geometry, PNG converter detection.
#include "l2face/eval/plot.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <random>
#include <regex>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::TempDir;
using testing::writeFile;

// Scores of `n` pairs, positives shifted by `separation` (ties from rounding).
void randomScores(int n, double separation, unsigned seed, std::vector<double>& scores,
                  std::vector<int>& labels) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    scores.push_back(std::round((noise(rng) + separation * label) * 1000) / 1000);
    labels.push_back(label);
  }
}

TEST(Plot, RocForPlotKeepsExactCurvePointsInOrder) {
  std::vector<double> s;
  std::vector<int> l;
  randomScores(20000, 2.0, 3, s, l);
  const auto roc = rocCurve(s, l);
  const auto kept = rocForPlot(roc);
  ASSERT_GE(kept.size(), 10u);
  EXPECT_LE(kept.size(), 6u * kPlotPointsPerDecade + 2);
  EXPECT_LT(kept.size(), roc.size());
  EXPECT_DOUBLE_EQ(kept.front().far, 0.0);
  EXPECT_DOUBLE_EQ(kept.back().far, 1.0);
  EXPECT_DOUBLE_EQ(kept.back().tar, 1.0);
  size_t j = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    // Each kept point is a point of the curve, found in curve order.
    while (j < roc.size() && !(roc[j].far == kept[i].far && roc[j].tar == kept[i].tar &&
                               roc[j].threshold == kept[i].threshold)) {
      ++j;
    }
    ASSERT_LT(j, roc.size()) << "point " << i << " is not on the curve (or out of order)";
    if (i > 0) {
      EXPECT_GE(kept[i].far, kept[i - 1].far);
      EXPECT_GE(kept[i].tar, kept[i - 1].tar);
    }
  }
  // The best TAR at FAR <= 1e-3 is kept: the curve's last point at or below 1e-3 is present.
  const RocPoint* at = nullptr;
  for (const auto& p : roc) {
    if (p.far <= 1e-3) at = &p;
  }
  bool found = false;
  for (const auto& p : kept) found = found || (p.far == at->far && p.tar == at->tar);
  EXPECT_TRUE(found);
  // A small curve is kept whole.
  const auto small = rocCurve({0.9, 0.7, 0.6, 0.5, 0.1}, {1, 0, 0, 1, 0});
  EXPECT_EQ(rocForPlot(small).size(), small.size());
}

struct Polyline {
  std::string label;
  std::vector<std::pair<double, double>> points;
};

std::vector<Polyline> polylines(const std::string& svg) {
  std::vector<Polyline> out;
  const std::regex element(
      "<polyline class=\"roc\" data-label=\"([^\"]*)\"[^>]* points=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), element);
       it != std::sregex_iterator(); ++it) {
    Polyline p;
    p.label = (*it)[1];
    std::istringstream in((*it)[2].str());
    std::string pair;
    while (in >> pair) {
      const auto comma = pair.find(',');
      p.points.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
    }
    out.push_back(std::move(p));
  }
  return out;
}

TEST(Plot, SvgHasOneMonotoneCurvePerRunInsideTheFrame) {
  std::vector<RocSeries> series;
  for (int run = 0; run < 3; ++run) {
    std::vector<double> s;
    std::vector<int> l;
    randomScores(4000, 1.0 + run, 10 + run, s, l);
    const auto m = computeMetrics(s, l, {}, {});
    series.push_back(
        {"run <" + std::to_string(run) + "> & co", rocForPlot(rocCurve(s, l)), m.eer, m.auc});
  }
  const std::string svg = rocSvg(series, "ROC");
  ASSERT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), series.size());
  // The frame: x from the FAR axis' left edge (1e-6) to 1, y from TAR 1 (top) to 0 (bottom).
  std::smatch frame;
  ASSERT_TRUE(std::regex_search(svg, frame,
                                std::regex("class=\"frame\" x=\"([0-9.]+)\" y=\"([0-9.]+)\" "
                                           "width=\"([0-9.]+)\" height=\"([0-9.]+)\"")));
  const double x0 = std::stod(frame[1]), y0 = std::stod(frame[2]);
  const double x1 = x0 + std::stod(frame[3]), y1 = y0 + std::stod(frame[4]);
  for (size_t k = 0; k < lines.size(); ++k) {
    EXPECT_EQ(lines[k].label, "run &lt;" + std::to_string(k) + "&gt; &amp; co");
    // The series' points, plus the bends of the segments between them on the log axis.
    ASSERT_GE(lines[k].points.size(), series[k].points.size());
    for (size_t i = 0; i < lines[k].points.size(); ++i) {
      const auto [x, y] = lines[k].points[i];
      EXPECT_GE(x, x0 - 1e-9);
      EXPECT_LE(x, x1 + 1e-9);
      EXPECT_GE(y, y0 - 1e-9);
      EXPECT_LE(y, y1 + 1e-9);
      if (i > 0) {
        EXPECT_GE(x, lines[k].points[i - 1].first) << "FAR must not decrease along a curve";
        EXPECT_LE(y, lines[k].points[i - 1].second) << "TAR must not decrease along a curve";
      }
    }
    EXPECT_NEAR(lines[k].points.front().first, x0, 1e-9);  // FAR 0 drawn on the left edge
    EXPECT_NEAR(lines[k].points.back().first, x1, 1e-9);   // (1, 1): the top right corner
    EXPECT_NEAR(lines[k].points.back().second, y0, 1e-9);
  }
  // One EER marker per run, in the plot; the legend names every run with its AUC.
  const std::regex circle("<circle class=\"eer\" cx=\"([0-9.]+)\" cy=\"([0-9.]+)\"");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(svg.begin(), svg.end(), circle), std::sregex_iterator()),
      3);
  char auc[32];
  std::snprintf(auc, sizeof(auc), "AUC %.4f", series[2].auc);
  EXPECT_NE(svg.find(auc), std::string::npos);
  testing::expectEvalError([] { rocSvg({}, "x"); }, {"no curves"});
  testing::expectEvalError(
      [] {
        rocSvg({RocSeries{"empty", {}, 0, 0}}, "x");
      },
      {"'empty' has no points"});
}

// Runs `fn` with PATH set to `path`, restoring it afterwards.
template <typename Fn>
void withPath(const std::string& path, Fn&& fn) {
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  setenv("PATH", path.c_str(), 1);
  fn();
  setenv("PATH", saved.c_str(), 1);
}

void writeScript(const std::string& path, const std::string& body) {
  writeFile(path, "#!/bin/sh\n" + body);
  chmod(path.c_str(), 0755);
}

TEST(Plot, PngConverterDetectedByBehaviourNotName) {
  TempDir dir;
  const std::string bin = dir.file("bin");
  withPath(bin, [&] { EXPECT_EQ(findPngConverter(), ""); });
  // A stand-in named convert that is not ImageMagick is ignored.
  writeScript(bin + "/convert", "echo 'convert: ImageMagick is not installed here' >&2; exit 1\n");
  withPath(bin, [&] {
    EXPECT_EQ(findPngConverter(), "");
    EXPECT_EQ(svgToPng(dir.file("a.svg"), dir.file("a.png")), "");
  });
  EXPECT_FALSE(std::filesystem::exists(dir.file("a.png")));
  // A real ImageMagick announces itself; it is called as `convert in.svg out.png`.
  writeScript(
      bin + "/convert",
      "if [ \"$1\" = -version ]; then echo 'Version: ImageMagick 6.9.11-60 Q16'; exit 0; fi\n"
      "/bin/cp \"$1\" \"$2\"\n");
  writeFile(dir.file("a.svg"), "<svg/>");
  withPath(bin, [&] {
    EXPECT_EQ(findPngConverter(), "convert");
    EXPECT_EQ(svgToPng(dir.file("a.svg"), dir.file("a.png")), "convert");
  });
  EXPECT_EQ(testing::readFile(dir.file("a.png")), "<svg/>");
  // rsvg-convert is preferred, called as `rsvg-convert -o out.png in.svg`; a failure is reported.
  writeScript(bin + "/rsvg-convert", "[ \"$1\" = -o ] && /bin/cp \"$3\" \"$2\"\n");
  withPath(bin, [&] { EXPECT_EQ(svgToPng(dir.file("a.svg"), dir.file("b.png")), "rsvg-convert"); });
  EXPECT_TRUE(std::filesystem::exists(dir.file("b.png")));
  writeScript(bin + "/rsvg-convert", "echo 'cannot parse' >&2; exit 3\n");
  withPath(bin, [&] {
    testing::expectEvalError([&] { svgToPng(dir.file("a.svg"), dir.file("c.png")); },
                             {"c.png", "rsvg-convert could not convert", "exit 3", "cannot parse"});
  });
}

}  // namespace
}  // namespace l2face::eval
