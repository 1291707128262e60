// The key table: one entry per YAML key; parsing, --set, validation, toYaml and docs all read it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <vector>

#include "config.h"
#include "config_values.h"

namespace l2face::launch::detail {

struct SectionSpec {
  std::string name;
  std::string doc;
};

struct KeySpec {
  std::string section;
  std::string key;
  std::string type;     // as shown in errors and the reference: "integer", "list of numbers", ...
  std::string allowed;  // the constraint in words; "" = any value of the type
  std::string doc;      // one line
  // Parses the node, checks the key's own constraint and stores the value; or the problem.
  std::function<Problem(Config&, const YAML::Node&)> set;
  // Canonical YAML text of the current value (toYaml, the digest, equality, defaults).
  std::function<std::string(const Config&)> get;
  // Part of configDigest when its section is: false for keys that say where a run's weights start
  // and how its first steps train (model.init*), not what the network is, so that the digest
  // checkpoints record stays the same with or without them.
  bool digested = true;

  std::string name() const { return section + "." + key; }
};

// Sections in file order (the order of toYaml and the reference).
const std::vector<SectionSpec>& sectionTable();
// Every key, grouped by section in sectionTable() order.
const std::vector<KeySpec>& keyTable();
// The entry for section.key, or nullptr.
const KeySpec* findKey(const std::string& section, const std::string& key);
bool isSection(const std::string& section);

}  // namespace l2face::launch::detail
