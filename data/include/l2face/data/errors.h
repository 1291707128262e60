// DataError: the exception type of the data module (bad files, records, corpora).
#pragma once

#include <stdexcept>
#include <string>

namespace l2face::data {

// Thrown for problems with data on disk or in memory: unreadable or corrupt files, bad dataset
// layouts, an output directory that would mix corpora. Messages name the file / record / index
// and give a hint. Programming errors (bad arguments) use std::invalid_argument instead.
class DataError : public std::runtime_error {
 public:
  explicit DataError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace l2face::data
