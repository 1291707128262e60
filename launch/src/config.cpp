// Loading a config (YAML file, then --set), cross-key checks, effective YAML, digest, reference.
#include "l2face/launch/internal/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "l2face/launch/internal/config_keys.h"

namespace l2face::launch {
namespace {

using detail::KeySpec;

// Where a value came from. A file place ("cfg.yaml:12") is followed by the key in messages;
// a --set place ("--set data.batch_size=0") already names it.
struct Place {
  std::string where;
  bool names_key = false;
};

std::string placeAt(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return source;
  return source + ":" + std::to_string(mark.line + 1);  // yaml-cpp counts lines from 0
}

[[noreturn]] void fail(const Place& place, const std::string& key, const std::string& what) {
  std::string prefix = place.names_key || key.empty() ? "" : key + ": ";
  throw ConfigError(place.where + ": " + prefix + what);
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("bacth").
size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean 'X'?)" for the closest candidate within a few edits, else "".
std::string suggest(const std::string& wrong, const std::vector<std::string>& candidates) {
  size_t limit = std::clamp<size_t>(wrong.size() / 3, 1, 3);
  const std::string* best = nullptr;
  size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    size_t d = editDistance(wrong, c);
    if (d < best_distance) best = &c, best_distance = d;
  }
  return best ? " (did you mean '" + *best + "'?)" : "";
}

std::string suggestSection(const std::string& wrong) {
  std::vector<std::string> names;
  for (const auto& s : detail::sectionTable()) names.push_back(s.name);
  std::string hint = suggest(wrong, names);
  if (!hint.empty()) return hint;
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
  return " (sections: " + all + ")";
}

// A key under the wrong section is the commonest slip ("data.lr"), so try that first.
std::string suggestKey(const std::string& section, const std::string& key) {
  std::vector<std::string> same_key, all, in_section;
  for (const KeySpec& k : detail::keyTable()) {
    if (k.key == key) same_key.push_back(k.name());
    if (k.section == section) in_section.push_back(k.key);
    all.push_back(k.name());
  }
  if (!same_key.empty()) {
    std::string names;
    for (size_t i = 0; i < same_key.size(); ++i) {
      names += (i == 0 ? "'" : "' or '") + same_key[i];
    }
    return " (did you mean " + names + "'?)";
  }
  std::string hint = suggest(section.empty() ? key : section + "." + key, all);
  if (!hint.empty() || in_section.empty()) return hint;
  std::string keys;
  for (const auto& k : in_section) keys += (keys.empty() ? "" : ", ") + k;
  return " (" + section + " has: " + keys + ")";
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Applies sources in precedence order and remembers where each key was last set, so that a
// cross-key error can point at the setting that made the pair inconsistent.
class Loader {
 public:
  void applyText(const std::string& text, const std::string& source);
  void applyOverride(const std::string& arg);
  void checkCrossKeys() const;
  const Config& config() const { return config_; }

 private:
  void setKey(const KeySpec& spec, const YAML::Node& value, const Place& place);
  [[noreturn]] void failPair(const std::string& a, const std::string& b,
                             const std::string& what) const;

  Config config_;
  std::map<std::string, std::pair<Place, int>> origin_;  // key -> (place, order of setting)
  int order_ = 0;
};

void Loader::setKey(const KeySpec& spec, const YAML::Node& value, const Place& place) {
  if (auto problem = spec.set(config_, value)) fail(place, spec.name(), *problem);
  origin_[spec.name()] = {place, ++order_};
}

void Loader::applyText(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail({placeAt(source, e.mark)}, "", "malformed YAML: " + e.msg);
  }
  if (root.IsNull()) return;  // empty, or only comments: the defaults
  if (!root.IsMap()) {
    fail({placeAt(source, root.Mark())}, "",
         "expected a mapping of sections (run:, data:, ...), got " + detail::describeNode(root));
  }
  // yaml-cpp keeps duplicate keys; refusing them avoids "which one won?" surprises.
  std::map<std::string, std::string> seen;
  auto once = [&](const std::string& name, const Place& at, const char* what) {
    auto [it, fresh] = seen.emplace(name, at.where);
    if (!fresh) {
      fail(at, "", std::string(what) + " '" + name + "' given twice (first at " + it->second + ")");
    }
  };
  for (const auto& sec : root) {
    Place at{placeAt(source, sec.first.Mark())};
    if (!sec.first.IsScalar()) {
      fail(at, "", "expected a section name, got " + detail::describeNode(sec.first));
    }
    const std::string section = sec.first.Scalar();
    if (!detail::isSection(section)) {
      fail(at, "", "unknown section '" + section + "'" + suggestSection(section));
    }
    once(section, at, "section");
    if (sec.second.IsNull()) continue;  // "eval:" with every key commented out
    if (!sec.second.IsMap()) {
      fail(at, "",
           "section '" + section + "' must be a mapping of keys, got " +
               detail::describeNode(sec.second));
    }
    for (const auto& kv : sec.second) {
      Place key_at{placeAt(source, kv.first.Mark())};
      if (!kv.first.IsScalar()) {
        fail(key_at, "",
             "expected a key of section '" + section + "', got " + detail::describeNode(kv.first));
      }
      const std::string key = kv.first.Scalar();
      const KeySpec* spec = detail::findKey(section, key);
      if (!spec) {
        fail(key_at, "", "unknown key '" + section + "." + key + "'" + suggestKey(section, key));
      }
      once(spec->name(), key_at, "key");
      setKey(*spec, kv.second, key_at);
    }
  }
}

void Loader::applyOverride(const std::string& arg) {
  Place at{"--set " + arg, true};
  size_t eq = arg.find('=');
  if (eq == std::string::npos) fail(at, "", "expected section.key=value (no '=')");
  const std::string name = trim(arg.substr(0, eq));
  size_t dot = name.find('.');
  if (dot == std::string::npos) {
    fail(at, "", "expected section.key=value (no section)" + suggestKey("", name));
  }
  const std::string section = name.substr(0, dot), key = name.substr(dot + 1);
  if (!detail::isSection(section)) {
    fail(at, "", "unknown section '" + section + "'" + suggestSection(section));
  }
  const KeySpec* spec = detail::findKey(section, key);
  if (!spec) fail(at, "", "unknown key '" + name + "'" + suggestKey(section, key));
  YAML::Node value;
  try {
    value = YAML::Load(arg.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    fail(at, "", "malformed value: " + e.msg);
  }
  setKey(*spec, value, at);
}

void Loader::failPair(const std::string& a, const std::string& b, const std::string& what) const {
  // Blame the later of the two settings: it is the one that broke a consistent pair.
  Place place{"defaults", true};
  int latest = 0;
  for (const std::string& k : {a, b}) {
    auto it = origin_.find(k);
    if (it != origin_.end() && it->second.second > latest) {
      place = it->second.first;
      latest = it->second.second;
    }
  }
  throw ConfigError(place.where + ": " + what);
}

void Loader::checkCrossKeys() const {
  const Config& c = config_;
  if (c.optim.warmup_steps > c.optim.max_steps) {
    failPair("optim.warmup_steps", "optim.max_steps",
             "optim.warmup_steps (" + std::to_string(c.optim.warmup_steps) +
                 ") must be <= optim.max_steps (" + std::to_string(c.optim.max_steps) + ")");
  }
  if (c.model.backbone == "tiny" && c.data.image_size % 16 != 0) {
    // Four stride-2 stages: the feature map must divide evenly down to S/16.
    failPair("data.image_size", "model.backbone",
             "model.backbone tiny needs data.image_size divisible by 16, got " +
                 std::to_string(c.data.image_size));
  }
  if (c.optim.schedule == "step" && c.optim.milestones.empty()) {
    failPair("optim.schedule", "optim.milestones",
             "optim.schedule step needs optim.milestones (ascending steps, e.g. [6000, 9000])");
  }
  if (c.optim.betas.size() != 2) {
    failPair(
        "optim.betas", "optim.type",
        "optim.betas needs two values [beta1, beta2], got " + std::to_string(c.optim.betas.size()));
  }
  if (c.model.norm == "none" && c.model.backbone != "tiny" && c.model.backbone != "face_resnet") {
    failPair("model.norm", "model.backbone",
             "model.norm none is available for the tiny and face_resnet backbones only, not " +
                 c.model.backbone);
  }
  if (c.run.precision == "bf16" && c.run.device == "cpu") {
    failPair("run.precision", "run.device",
             "run.precision bf16 needs CUDA; on run.device cpu use fp32 (or auto)");
  }
  if (c.classifier.parallel == trainer::ClassifierPlacement::kReplicated &&
      c.classifier.sample_rate < 1) {
    failPair("classifier.sample_rate", "classifier.parallel",
             "classifier.sample_rate < 1 needs classifier.parallel sharded (or auto): the "
             "replicated classifier computes every class");
  }
  if (c.eval.every_steps > 0 && c.eval.pairs.empty() && c.eval.bins.empty() &&
      c.eval.templates.empty() && c.eval.all_vs_all.empty()) {
    failPair("eval.every_steps", "eval.pairs",
             "eval.every_steps > 0 needs a set to evaluate: eval.pairs, eval.bins, eval.templates "
             "or eval.all_vs_all");
  }
}

std::string markdownCell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

Config loadConfigFromString(const std::string& yaml_text, const std::string& source_name,
                            const std::vector<std::string>& overrides) {
  Loader loader;
  loader.applyText(yaml_text, source_name);
  for (const std::string& arg : overrides) loader.applyOverride(arg);
  loader.checkCrossKeys();
  return loader.config();
}

Config loadConfig(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return loadConfigFromString("", "defaults", overrides);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw ConfigError(path + ": config file not found");
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(path + ": is a directory, expected a YAML config file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open config file: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read config file");
  return loadConfigFromString(text.str(), path, overrides);
}

std::string toYaml(const Config& config) {
  std::string out =
      "# Effective l2face configuration: defaults, then the config file, then --set.\n";
  for (const auto& section : detail::sectionTable()) {
    out += "\n" + section.name + ":\n";
    for (const KeySpec& k : detail::keyTable()) {
      if (k.section == section.name) out += "  " + k.key + ": " + k.get(config) + "\n";
    }
  }
  return out;
}

std::string configDigest(const Config& config, std::initializer_list<std::string> sections) {
  for (const std::string& s : sections) {
    if (!detail::isSection(s)) throw ConfigError("configDigest: unknown section '" + s + "'");
  }
  // Canonical "section.key=value" lines in table order; the version tag changes if the
  // canonical form ever does. FNV-1a 64: tiny, dependency-free and stable across platforms.
  std::string text = "l2face-config-digest-v1\n";
  for (const KeySpec& k : detail::keyTable()) {
    if (k.digested && std::find(sections.begin(), sections.end(), k.section) != sections.end()) {
      text += k.name() + "=" + k.get(config) + "\n";
    }
  }
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

std::string referenceMarkdown() {
  const Config defaults;
  std::string md =
      "<!-- BEGIN generated reference: referenceMarkdown() from launch/src/config_keys.cpp; "
      "do not edit by hand -->\n";
  for (const auto& section : detail::sectionTable()) {
    md += "\n### `" + section.name + "`: " + section.doc + "\n\n";
    md += "| Key | Type | Default | Allowed | Meaning |\n|---|---|---|---|---|\n";
    for (const KeySpec& k : detail::keyTable()) {
      if (k.section != section.name) continue;
      md += "| `" + k.name() + "` | " + k.type + " | `" + markdownCell(k.get(defaults)) + "` | " +
            markdownCell(k.allowed.empty() ? "any" : k.allowed) + " | " + markdownCell(k.doc) +
            " |\n";
    }
  }
  return md + "\n<!-- END generated reference -->\n";
}

bool operator==(const Config& a, const Config& b) {
  for (const KeySpec& k : detail::keyTable()) {
    if (k.get(a) != k.get(b)) return false;
  }
  return true;
}

}  // namespace l2face::launch
