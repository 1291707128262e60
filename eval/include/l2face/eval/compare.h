// Comparing saved reports: reading reportJson files back, a side-by-side table, plot series.
#pragma once

#include <string>
#include <vector>

#include "l2face/eval/plot.h"
#include "l2face/eval/verification.h"

namespace l2face::eval {

// One report read back from a JSON file. report.scores stays empty; `roc` holds the plotted
// points the file carries (empty for a file written without scores).
struct SavedReport {
  std::string source;  // "<file>: <set name>", the label in tables and legends
  VerificationReport report;
  std::vector<RocPoint> roc;
};

// Reads a file written by reportJson (one report) or reportsJson ({"reports": [...]}). A file
// that is not JSON or lacks a documented field throws EvalError naming the file and the field.
std::vector<SavedReport> readReportJson(const std::string& path);

// Rows = reports, columns = pairs, accuracy (mean ± std), TAR at each FAR of the first report
// ("n/a" where not measurable or not reported), EER, AUC.
std::string compareTable(const std::vector<SavedReport>& reports);

// Plot series of a saved report, or of a report that still holds its scores.
RocSeries seriesOf(const SavedReport& saved);
RocSeries seriesOf(const VerificationReport& report, const std::string& label);

}  // namespace l2face::eval
