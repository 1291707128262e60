// Reading the whitespace- and comma-separated meta files of the IJB layout (private to the module).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace l2face::eval::detail {

// Reads `file` line by line and splits each non-blank line on `sep` (' ' = runs of spaces and
// tabs; ',' = single commas), with "file:line" and field-naming errors. Lines are held one at a
// time: the IJB-C pairs file has 19.6 million.
class FieldReader {
 public:
  FieldReader(std::string file, char sep, const char* what);

  // The next non-blank line's fields (views valid until the next call); false at the end.
  bool next();
  const std::vector<std::string_view>& fields() const { return fields_; }
  int64_t line() const { return line_; }
  const std::string& file() const { return file_; }

  // Throws unless the line has exactly `count` fields, naming them.
  void expectFields(size_t count, const char* layout) const;
  int64_t integer(size_t i, const char* field) const;
  double number(size_t i, const char* field) const;
  std::string text(size_t i) const { return std::string(fields_[i]); }
  // "file:line: field 'name'" for messages.
  std::string at(const char* field) const;
  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::string file_;
  char sep_;
  std::ifstream in_;
  std::string text_;
  std::vector<std::string_view> fields_;
  int64_t line_ = 0;
};

}  // namespace l2face::eval::detail
