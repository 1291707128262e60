// Line-oriented text parsing helpers shared by the eval readers (private to the module).
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace l2face::eval::detail {

// "file:line" for error messages.
inline std::string where(const std::string& file, int64_t line) {
  return file + ":" + std::to_string(line);
}

// Strips spaces, tabs and a trailing '\r' (files written on Windows).
inline std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  const auto begin = s.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  const auto end = s.find_last_not_of(ws);
  return s.substr(begin, end - begin + 1);
}

inline std::vector<std::string> splitWhitespace(std::string_view line) {
  std::vector<std::string> fields;
  std::istringstream in{std::string(line)};
  std::string field;
  while (in >> field) fields.push_back(field);
  return fields;
}

inline std::vector<std::string> splitChar(std::string_view line, char sep) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t pos = line.find(sep, start);
    fields.emplace_back(
        trim(line.substr(start, pos == std::string_view::npos ? pos : pos - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return fields;
}

// The whole field must be a base-10 integer that fits in a long; no partial parses.
inline std::optional<long> parseInt(const std::string& field) {
  if (field.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(field.c_str(), &end, 10);
  if (errno != 0 || end != field.c_str() + field.size()) return std::nullopt;
  return value;
}

// The whole field must be a number; "nan"/"inf" parse here and are judged by the caller.
inline std::optional<double> parseDouble(const std::string& field) {
  if (field.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(field.c_str(), &end);
  if (end != field.c_str() + field.size()) return std::nullopt;
  if (errno == ERANGE && std::isinf(value)) return std::nullopt;
  return value;
}

}  // namespace l2face::eval::detail
