// ROC plots: choosing the points to draw and writing the SVG by hand (log-FAR axis).
#include "l2face/eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "l2face/eval/errors.h"

namespace l2face::eval {
namespace {

// Geometry of the SVG, in pixels.
constexpr double kWidth = 760;
constexpr double kLeft = 70, kRight = 20, kTop = 44, kBottom = 64;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = 452;
constexpr double kLegendRow = 18;  // the legend sits below the axes: it never hides a curve
constexpr double kDecades = 6;     // log10(1 / kPlotMinFar)

// Distinguishable on white, in the order runs are given.
const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                "#9467bd", "#8c564b", "#e377c2", "#17becf"};

double xOf(double far) {
  const double clamped = std::clamp(far, kPlotMinFar, 1.0);
  return kLeft + (std::log10(clamped) + kDecades) / kDecades * kPlotW;
}
double yOf(double tar) { return kTop + (1.0 - std::clamp(tar, 0.0, 1.0)) * kPlotH; }

std::string escapeXml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format(const char* fmt, double a, double b = 0, double c = 0, double d = 0) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), fmt, a, b, c, d);
  return buf;
}

// Points strictly between two ROC points, one every few pixels: a ROC segment is a straight
// line in linear (FAR, TAR), which the log axis bends (nearly flat, then rising near b). Drawing
// it straight would, e.g. from FAR = 0 to FAR = 1/#negatives, claim TARs never measured.
std::string curveBetween(const RocPoint& a, const RocPoint& b) {
  const double xa = xOf(a.far), xb = xOf(b.far);
  if (!(b.far > a.far) || xb - xa <= 4.0) return "";
  const int n = static_cast<int>(std::ceil((xb - xa) / 4.0));
  std::string out;
  for (int k = 1; k < n; ++k) {
    const double x = xa + (xb - xa) * k / n;
    const double far = std::pow(10.0, (x - kLeft) / kPlotW * kDecades - kDecades);
    const double tar = a.tar + (b.tar - a.tar) * (far - a.far) / (b.far - a.far);
    out += format(" %.2f,%.2f", x, yOf(std::clamp(tar, a.tar, b.tar)));
  }
  return out;
}

}  // namespace

std::vector<RocPoint> rocForPlot(const std::vector<RocPoint>& roc) {
  const int steps = static_cast<int>(kDecades) * kPlotPointsPerDecade;
  // A curve this short is drawn whole: its vertical steps are then exact.
  if (roc.size() <= static_cast<size_t>(steps) + 2) return roc;
  std::vector<size_t> keep = {0};
  size_t i = 0;
  for (int step = 0; step <= steps; ++step) {
    // Multiplying by a power of ten computed from an integer keeps 1e-6 .. 1 exact at the ends.
    const double grid =
        std::pow(10.0, -kDecades + static_cast<double>(step) / kPlotPointsPerDecade);
    while (i + 1 < roc.size() && roc[i + 1].far <= grid * (1 + 1e-12)) ++i;
    if (keep.back() != i) keep.push_back(i);
  }
  if (keep.back() != roc.size() - 1) keep.push_back(roc.size() - 1);
  std::vector<RocPoint> out;
  out.reserve(keep.size());
  for (size_t k : keep) out.push_back(roc[k]);
  return out;
}

std::string rocSvg(const std::vector<RocSeries>& series, const std::string& title) {
  if (series.empty()) throw EvalError("rocSvg: no curves to draw");
  for (const RocSeries& s : series) {
    if (s.points.empty()) throw EvalError("rocSvg: curve '" + s.label + "' has no points");
  }
  const double legend_top = kTop + kPlotH + kBottom;
  const double height = legend_top + kLegendRow * static_cast<double>(series.size() + 1) + 12;
  std::string svg = format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
      "font-size=\"12\">\n",
      kWidth, height, kWidth, height);
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += format("<text x=\"%.1f\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">",
                kLeft + kPlotW / 2) +
         escapeXml(title) + "</text>\n";

  // Grid and ticks: every decade of FAR (minor lines at 2..9), every 0.1 of TAR.
  svg += "<g class=\"grid\" stroke=\"#e4e4e4\" stroke-width=\"1\">\n";
  for (int decade = 0; decade < static_cast<int>(kDecades); ++decade) {
    for (int m = 2; m <= 9; ++m) {
      const double x = xOf(m * std::pow(10.0, decade - kDecades));
      svg += format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, kTop, x,
                    kTop + kPlotH);
    }
  }
  svg += "</g>\n<g class=\"grid-major\" stroke=\"#bdbdbd\" stroke-width=\"1\">\n";
  for (int decade = 0; decade <= static_cast<int>(kDecades); ++decade) {
    const double x = xOf(std::pow(10.0, decade - kDecades));
    svg += format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, kTop, x,
                  kTop + kPlotH);
  }
  for (int t = 0; t <= 10; ++t) {
    const double y = yOf(t / 10.0);
    svg += format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", kLeft, y,
                  kLeft + kPlotW, y);
  }
  svg += "</g>\n<g class=\"ticks\" fill=\"#333\">\n";
  for (int decade = 0; decade <= static_cast<int>(kDecades); ++decade) {
    const int exponent = decade - static_cast<int>(kDecades);
    const std::string label = exponent == 0 ? "1" : "1e" + std::to_string(exponent);
    svg += format("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
                  xOf(std::pow(10.0, exponent)), kTop + kPlotH + 18) +
           label + "</text>\n";
  }
  for (int t = 0; t <= 10; t += 2) {
    svg += format("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%.1f</text>\n", kLeft - 8,
                  yOf(t / 10.0) + 4, t / 10.0);
  }
  svg += format("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", kLeft + kPlotW / 2,
                kTop + kPlotH + 44) +
         "False accept rate (FAR, log scale)</text>\n";
  svg += format(
             "<text x=\"18\" y=\"%.2f\" text-anchor=\"middle\" "
             "transform=\"rotate(-90 18 %.2f)\">",
             kTop + kPlotH / 2, kTop + kPlotH / 2) +
         "True accept rate (TAR)</text>\n</g>\n";
  svg += format(
      "<rect class=\"frame\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
      "fill=\"none\" stroke=\"#333\"/>\n",
      kLeft, kTop, kPlotW, kPlotH);

  // Curves, then EER markers on top of them, then the legend below the axes.
  auto colour = [](size_t s) { return kColours[s % (sizeof(kColours) / sizeof(kColours[0]))]; };
  for (size_t s = 0; s < series.size(); ++s) {
    std::string points;
    const auto& pts = series[s].points;
    for (size_t i = 0; i < pts.size(); ++i) {
      if (i > 0) points += curveBetween(pts[i - 1], pts[i]);
      points += (points.empty() ? "" : " ") + format("%.2f,%.2f", xOf(pts[i].far), yOf(pts[i].tar));
    }
    svg += "<polyline class=\"roc\" data-label=\"" + escapeXml(series[s].label) +
           "\" fill=\"none\" stroke=\"" + colour(s) + "\" stroke-width=\"2\" points=\"" + points +
           "\"/>\n";
  }
  for (size_t s = 0; s < series.size(); ++s) {
    svg += format("<circle class=\"eer\" cx=\"%.2f\" cy=\"%.2f\" r=\"4\" ", xOf(series[s].eer),
                  yOf(1.0 - series[s].eer)) +
           "fill=\"white\" stroke=\"" + colour(s) + "\" stroke-width=\"2\"/>\n";
  }
  svg += "<g class=\"legend\">\n";
  for (size_t s = 0; s <= series.size(); ++s) {
    const double y = legend_top + kLegendRow * static_cast<double>(s + 1);
    if (s == series.size()) {  // the marker's meaning
      svg += format(
                 "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"white\" stroke=\"#333\" "
                 "stroke-width=\"2\"/>\n<text x=\"%.2f\" y=\"%.2f\">",
                 kLeft + 12, y - 4, kLeft + 30, y) +
             "equal error rate (FAR = 1 - TAR)</text>\n";
      break;
    }
    svg += format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" ", kLeft, y - 4,
                  kLeft + 24, y - 4) +
           "stroke=\"" + colour(s) + "\" stroke-width=\"2\"/>\n";
    svg += format("<text x=\"%.2f\" y=\"%.2f\">", kLeft + 30, y) + escapeXml(series[s].label) +
           format(" (AUC %.4f, EER %.2f%%)</text>\n", series[s].auc, 100.0 * series[s].eer);
  }
  svg += "</g>\n</svg>\n";
  return svg;
}

}  // namespace l2face::eval
