// Reading `label,score` CSV files (scores computed elsewhere, e.g. by the reference trainer).
#include <cmath>
#include <fstream>

#include "l2face/eval/errors.h"
#include "l2face/eval/metrics.h"
#include "text_util.h"

namespace l2face::eval {

std::vector<std::pair<int, double>> readScoresCsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw EvalError(path + ": cannot open scores CSV");
  std::vector<std::pair<int, double>> rows;
  std::string text;
  int64_t number = 0;
  bool first = true;
  while (std::getline(in, text)) {
    ++number;
    const auto line = detail::trim(text);
    if (line.empty()) continue;
    const auto fields = detail::splitChar(line, ',');
    const std::string at = detail::where(path, number);
    if (fields.size() != 2) {
      throw EvalError(at + ": expected 'label,score' but found " + std::to_string(fields.size()) +
                      " fields");
    }
    const auto label = detail::parseInt(fields[0]);
    const auto score = detail::parseDouble(fields[1]);
    // A header is only recognised when neither field is a number, so a data line with one typo
    // is reported, not mistaken for a header.
    if (first && !label && !score) {
      first = false;
      continue;
    }
    first = false;
    if (!label || (*label != 0 && *label != 1)) {
      throw EvalError(at + ": label '" + fields[0] + "' is not 0 or 1");
    }
    if (!score || !std::isfinite(*score)) {
      throw EvalError(at + ": score '" + fields[1] + "' is not a finite number");
    }
    rows.emplace_back(static_cast<int>(*label), *score);
  }
  if (in.bad()) throw EvalError(path + ": read error after line " + std::to_string(number));
  if (rows.empty()) throw EvalError(path + ": no scores (empty file or header only)");
  return rows;
}

}  // namespace l2face::eval
