// FieldReader: line-by-line splitting of the IJB meta files with file:line:field errors.
#include "ijb_reader.h"

#include <cmath>

#include "l2face/eval/errors.h"
#include "text_util.h"

namespace l2face::eval::detail {

FieldReader::FieldReader(std::string file, char sep, const char* what)
    : file_(std::move(file)), sep_(sep), in_(file_) {
  if (!in_) throw EvalError(file_ + ": cannot open the " + what);
}

namespace {

// Fields separated by runs of spaces and tabs.
void splitBlanks(std::string_view line, std::vector<std::string_view>& fields) {
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t begin = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > begin) fields.push_back(line.substr(begin, i - begin));
  }
}

// Fields separated by single `sep` characters, each trimmed.
void splitOn(std::string_view line, char sep, std::vector<std::string_view>& fields) {
  size_t start = 0;
  for (;;) {
    const size_t pos = line.find(sep, start);
    fields.push_back(trim(line.substr(start, pos == std::string_view::npos ? pos : pos - start)));
    if (pos == std::string_view::npos) return;
    start = pos + 1;
  }
}

}  // namespace

bool FieldReader::next() {
  while (std::getline(in_, text_)) {
    ++line_;
    const std::string_view line = trim(text_);
    if (line.empty()) continue;
    fields_.clear();
    if (sep_ == ' ') {
      splitBlanks(line, fields_);
    } else {
      splitOn(line, sep_, fields_);
    }
    return true;
  }
  if (in_.bad()) throw EvalError(file_ + ": read error after line " + std::to_string(line_));
  return false;
}

std::string FieldReader::at(const char* field) const {
  return where(file_, line_) + ": field '" + field + "'";
}

void FieldReader::fail(const std::string& message) const {
  throw EvalError(where(file_, line_) + ": " + message);
}

void FieldReader::expectFields(size_t count, const char* layout) const {
  if (fields_.size() != count) {
    fail("expected " + std::to_string(count) + " fields (" + layout + ") but found " +
         std::to_string(fields_.size()));
  }
}

int64_t FieldReader::integer(size_t i, const char* field) const {
  const auto value = parseInt(std::string(fields_[i]));
  if (!value) throw EvalError(at(field) + " '" + std::string(fields_[i]) + "' is not an integer");
  return *value;
}

double FieldReader::number(size_t i, const char* field) const {
  const auto value = parseDouble(std::string(fields_[i]));
  if (!value || !std::isfinite(*value)) {
    throw EvalError(at(field) + " '" + std::string(fields_[i]) + "' is not a finite number");
  }
  return *value;
}

}  // namespace l2face::eval::detail
