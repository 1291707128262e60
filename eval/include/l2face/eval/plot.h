// ROC plots: the points worth drawing, an SVG of several curves, PNG through an installed tool.
#pragma once

#include <string>
#include <vector>

#include "l2face/eval/metrics.h"

namespace l2face::eval {

// The plotted FAR axis: log scale from kPlotMinFar to 1.
inline constexpr double kPlotMinFar = 1e-6;
inline constexpr int kPlotPointsPerDecade = 40;

// One curve of a plot.
struct RocSeries {
  std::string label;
  std::vector<RocPoint> points;  // in curve order (FAR and TAR non-decreasing)
  double eer = 0.0;              // marked on the curve at (eer, 1 - eer)
  double auc = 0.0;              // shown in the legend
};

// The points of a ROC (rocCurve) worth drawing on the log-FAR axis: for each of
// kPlotPointsPerDecade log-spaced FARs per decade from kPlotMinFar to 1, the last curve point
// whose FAR does not exceed it (the best TAR reachable there), plus the first and last points;
// in curve order, each once. Exact points of the curve, at most 6 × 40 + 2 of them; a curve
// that short already is returned whole.
std::vector<RocPoint> rocForPlot(const std::vector<RocPoint>& roc);

// An SVG document: FAR on a log axis from 1e-6 to 1 (points below 1e-6, FAR = 0 included, drawn
// on the left edge), TAR from 0 to 1, a grid, one <polyline class="roc"> per series in order
// (through the series' points; between two of them the straight segment of linear ROC space,
// which the log axis bends, is drawn with intermediate points),
// an EER marker (<circle class="eer">) on each, and a legend with label, AUC and EER.
// Throws EvalError for no series or an empty one.
std::string rocSvg(const std::vector<RocSeries>& series, const std::string& title);

// The PNG converter this machine has: "rsvg-convert", or ImageMagick's "convert" (recognised by
// its -version output, not by the name alone), or "" when neither is installed.
std::string findPngConverter();

// Converts svg_path to png_path with findPngConverter(); returns the tool's name, or "" (and
// writes nothing) when none is installed. A converter that fails throws EvalError with its
// output. Runs a child process: not for use once MPI is initialised.
std::string svgToPng(const std::string& svg_path, const std::string& png_path);

}  // namespace l2face::eval
