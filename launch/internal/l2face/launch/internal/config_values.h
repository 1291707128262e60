// Typed values of config keys: strict parsing of YAML nodes, canonical text, and constraints.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace l2face::launch::detail {

// An error text without its place ("expected an integer, got 'abc'"); nullopt = fine.
using Problem = std::optional<std::string>;

// parseValue: node -> value, or the problem. Strict on purpose: "1.5" is not an integer and
// "inf" is not a number, so a typo fails at load time rather than as a strange run.
// A null node (`key:` with nothing) reads as "" for strings and [] for lists, an error otherwise;
// a single scalar reads as a one-element list (--set optim.milestones=5000).
Problem parseValue(const YAML::Node& node, bool& out);
Problem parseValue(const YAML::Node& node, int& out);
Problem parseValue(const YAML::Node& node, int64_t& out);
Problem parseValue(const YAML::Node& node, uint64_t& out);
Problem parseValue(const YAML::Node& node, double& out);
Problem parseValue(const YAML::Node& node, std::string& out);
Problem parseValue(const YAML::Node& node, std::vector<double>& out);
Problem parseValue(const YAML::Node& node, std::vector<int64_t>& out);

// What a node is, for "expected X, got Y": "'abc'", "a list", "a mapping", "an empty value".
std::string describeNode(const YAML::Node& node);

// Canonical YAML text of a value: shortest round-trip doubles, strings quoted only when a YAML
// reader could take them for something else, flow lists. Also the digest's input.
std::string formatValue(bool v);
std::string formatValue(int v);
std::string formatValue(int64_t v);
std::string formatValue(uint64_t v);
std::string formatValue(double v);
std::string formatValue(const std::string& v);
std::string formatValue(const std::vector<double>& v);
std::string formatValue(const std::vector<int64_t>& v);

// The type's name as shown in errors and the reference.
template <class T>
constexpr const char* typeName() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  if constexpr (std::is_same_v<T, uint64_t>) return "integer >= 0";
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) return "integer";
  if constexpr (std::is_floating_point_v<T>) return "number";
  if constexpr (std::is_same_v<T, std::string>) return "string";
  if constexpr (std::is_same_v<T, std::vector<double>>) return "list of numbers";
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) return "list of integers";
  return "value";
}

// What a key accepts beyond its type. Numeric bounds apply to each element of a list.
struct Constraint {
  std::optional<double> lo, hi;
  bool lo_open = false, hi_open = false;
  std::vector<std::string> choices;  // strings: one of these
  bool non_empty = false;            // strings
  bool ascending = false;            // lists: strictly ascending
};

Constraint atLeast(double lo);
Constraint greaterThan(double lo);
Constraint between(double lo, double hi);      // [lo, hi]
Constraint openBetween(double lo, double hi);  // (lo, hi)
Constraint oneOf(std::vector<std::string> choices);
Constraint nonEmpty();

// The problem with a value under a constraint ("must be >= 1, got 0"), or nullopt.
Problem checkValue(const Constraint& c, double v);
Problem checkValue(const Constraint& c, const std::string& v);
Problem checkValue(const Constraint& c, const std::vector<double>& v);
Problem checkValue(const Constraint& c, const std::vector<int64_t>& v);
inline Problem checkValue(const Constraint&, bool) { return std::nullopt; }
inline Problem checkValue(const Constraint& c, int v) { return checkValue(c, double(v)); }
inline Problem checkValue(const Constraint& c, int64_t v) { return checkValue(c, double(v)); }
inline Problem checkValue(const Constraint& c, uint64_t v) { return checkValue(c, double(v)); }

// The constraint in words for the reference table (">= 1", "auto, cpu, cuda", "" = any).
std::string describe(const Constraint& c);

}  // namespace l2face::launch::detail
