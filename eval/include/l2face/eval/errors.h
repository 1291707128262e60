// EvalError: the eval module's exception for bad inputs (files, records, metric arguments).
#pragma once

#include <stdexcept>
#include <string>

namespace l2face::eval {

// Thrown for every invalid input the eval module meets: unreadable or malformed protocol files
// (the message names file:line), missing images, and metric inputs that make no sense (sizes
// differ, one class absent, NaN scores). One type so that `launch` can map it to an exit code.
class EvalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace l2face::eval
