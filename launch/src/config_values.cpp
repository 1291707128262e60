// Strict YAML value parsing, canonical formatting and constraint checks for config keys.
#include "l2face/launch/internal/config_values.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace l2face::launch::detail {
namespace {

std::string article(const std::string& type) {
  return (std::string("aeiou").find(type[0]) != std::string::npos ? "an " : "a ") + type;
}

Problem expected(const std::string& type, const YAML::Node& node) {
  return "expected " + article(type) + ", got " + describeNode(node);
}

// from_chars rejects a leading '+', which YAML allows.
std::string_view stripPlus(const std::string& s) {
  std::string_view v(s);
  if (v.size() > 1 && v[0] == '+' && v[1] != '-') v.remove_prefix(1);
  return v;
}

template <class T>
Problem parseInteger(const YAML::Node& node, T& out) {
  if (!node.IsScalar()) return expected(typeName<T>(), node);
  std::string_view v = stripPlus(node.Scalar());
  T value{};
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return "expected " + article(typeName<T>()) + ", got '" + node.Scalar() + "' (out of range)";
  }
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
    return expected(typeName<T>(), node);
  }
  out = value;
  return std::nullopt;
}

template <class T>
Problem parseList(const YAML::Node& node, std::vector<T>& out) {
  if (node.IsNull()) {
    out.clear();
    return std::nullopt;
  }
  if (node.IsMap()) return expected(typeName<std::vector<T>>(), node);
  std::vector<T> values;
  if (node.IsScalar()) {  // a lone scalar is a one-element list
    T v{};
    if (auto p = parseValue(node, v)) return p;
    values.push_back(v);
  } else {
    for (size_t i = 0; i < node.size(); ++i) {
      T v{};
      if (auto p = parseValue(node[i], v)) return *p + " (element " + std::to_string(i + 1) + ")";
      values.push_back(v);
    }
  }
  out = std::move(values);
  return std::nullopt;
}

template <class T>
std::string formatList(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + formatValue(v[i]);
  return s + "]";
}

std::string formatBound(double v) { return formatValue(v); }

}  // namespace

std::string describeNode(const YAML::Node& node) {
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  if (node.IsNull()) return "an empty value";
  return "'" + node.Scalar() + "'";
}

Problem parseValue(const YAML::Node& node, bool& out) {
  if (!node.IsScalar()) return expected("bool", node);
  std::string s = node.Scalar();
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  // YAML 1.1 spellings too: configs written for other tools use yes/no and on/off.
  if (s == "true" || s == "yes" || s == "on") return out = true, std::nullopt;
  if (s == "false" || s == "no" || s == "off") return out = false, std::nullopt;
  return "expected a bool (true or false), got '" + node.Scalar() + "'";
}

Problem parseValue(const YAML::Node& node, int& out) { return parseInteger(node, out); }
Problem parseValue(const YAML::Node& node, int64_t& out) { return parseInteger(node, out); }
Problem parseValue(const YAML::Node& node, uint64_t& out) {
  if (node.IsScalar() && !node.Scalar().empty() && node.Scalar()[0] == '-') {
    return expected(typeName<uint64_t>(), node);  // from_chars would wrap it around
  }
  return parseInteger(node, out);
}

Problem parseValue(const YAML::Node& node, double& out) {
  if (!node.IsScalar()) return expected("number", node);
  std::string_view v = stripPlus(node.Scalar());
  double value = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
    return expected("number", node);
  }
  if (!std::isfinite(value)) return "expected a finite number, got '" + node.Scalar() + "'";
  out = value;
  return std::nullopt;
}

Problem parseValue(const YAML::Node& node, std::string& out) {
  if (node.IsNull()) {
    out.clear();
    return std::nullopt;
  }
  if (!node.IsScalar()) return expected("string", node);
  out = node.Scalar();
  return std::nullopt;
}

Problem parseValue(const YAML::Node& node, std::vector<double>& out) {
  return parseList(node, out);
}
Problem parseValue(const YAML::Node& node, std::vector<int64_t>& out) {
  return parseList(node, out);
}

std::string formatValue(bool v) { return v ? "true" : "false"; }
std::string formatValue(int v) { return std::to_string(v); }
std::string formatValue(int64_t v) { return std::to_string(v); }
std::string formatValue(uint64_t v) { return std::to_string(v); }

std::string formatValue(double v) {
  // The shortest %g text that reads back to the same double: "0.1", not "0.10000000000000001";
  // whole numbers in full ("1000000", not "1e+06") since they are mostly counts and bounds.
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return std::string(buf == std::string("-0") ? "0" : buf);
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    double back = 0;
    std::from_chars(buf, buf + std::char_traits<char>::length(buf), back);
    if (back == v) break;
  }
  return buf;
}

std::string formatValue(const std::string& v) {
  // Plain only when no YAML reader could mistake it for a number, bool, null or syntax.
  static const char* kReserved[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"};
  bool plain =
      !v.empty() && (std::isalpha(static_cast<unsigned char>(v[0])) || v[0] == '_' || v[0] == '/');
  for (char c : v) {
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                      c == '/' || c == '-');
  }
  std::string lower = v;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const char* r : kReserved) plain = plain && lower != r;
  if (plain) return v;
  std::string q = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      q += '\\';
      q += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      q += esc;
    } else {
      q += static_cast<char>(c);
    }
  }
  return q + "\"";
}

std::string formatValue(const std::vector<double>& v) { return formatList(v); }
std::string formatValue(const std::vector<int64_t>& v) { return formatList(v); }

Constraint atLeast(double lo) {
  Constraint c;
  c.lo = lo;
  return c;
}
Constraint greaterThan(double lo) {
  Constraint c = atLeast(lo);
  c.lo_open = true;
  return c;
}
Constraint between(double lo, double hi) {
  Constraint c = atLeast(lo);
  c.hi = hi;
  return c;
}
Constraint openBetween(double lo, double hi) {
  Constraint c = between(lo, hi);
  c.lo_open = c.hi_open = true;
  return c;
}
Constraint oneOf(std::vector<std::string> choices) {
  Constraint c;
  c.choices = std::move(choices);
  return c;
}
Constraint nonEmpty() {
  Constraint c;
  c.non_empty = true;
  return c;
}

std::string describe(const Constraint& c) {
  std::string s;
  if (c.lo && c.hi) {
    s = std::string(c.lo_open ? "(" : "[") + formatBound(*c.lo) + ", " + formatBound(*c.hi) +
        (c.hi_open ? ")" : "]");
  } else if (c.lo) {
    s = std::string(c.lo_open ? "> " : ">= ") + formatBound(*c.lo);
  } else if (c.hi) {
    s = std::string(c.hi_open ? "< " : "<= ") + formatBound(*c.hi);
  }
  for (size_t i = 0; i < c.choices.size(); ++i) s += (i ? ", " : "") + c.choices[i];
  if (c.non_empty) s += s.empty() ? "non-empty" : ", non-empty";
  if (c.ascending) s += s.empty() ? "strictly ascending" : ", strictly ascending";
  return s;
}

Problem checkValue(const Constraint& c, double v) {
  bool ok = (!c.lo || (c.lo_open ? v > *c.lo : v >= *c.lo)) &&
            (!c.hi || (c.hi_open ? v < *c.hi : v <= *c.hi));
  if (ok) return std::nullopt;
  Constraint range_only = c;  // the range alone, without list/choice wording
  range_only.ascending = false;
  std::string range = describe(range_only);
  return std::string("must be ") + (c.lo && c.hi ? "in " : "") + range + ", got " + formatValue(v);
}

Problem checkValue(const Constraint& c, const std::string& v) {
  if (c.non_empty && v.empty()) return "must not be empty";
  if (c.choices.empty() || std::find(c.choices.begin(), c.choices.end(), v) != c.choices.end()) {
    return std::nullopt;
  }
  return "must be one of " + describe(oneOf(c.choices)) + ", got '" + v + "'";
}

template <class T>
Problem checkList(const Constraint& c, const std::vector<T>& v) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (auto p = checkValue(c, double(v[i]))) {
      return "each value " + *p + " (element " + std::to_string(i + 1) + ")";
    }
    if (c.ascending && i > 0 && !(v[i - 1] < v[i])) {
      return "must be strictly ascending, got " + formatValue(v);
    }
  }
  return std::nullopt;
}

Problem checkValue(const Constraint& c, const std::vector<double>& v) { return checkList(c, v); }
Problem checkValue(const Constraint& c, const std::vector<int64_t>& v) { return checkList(c, v); }

}  // namespace l2face::launch::detail
