// The run configuration: YAML file + --set overrides -> validated, typed per-module Options.
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "l2face/checkpoint/options.h"
#include "l2face/data/options.h"
#include "l2face/eval/options.h"
#include "l2face/monitoring/options.h"
#include "l2face/trainer/options.h"
#include "l2face/trainer/trainer.h"

namespace l2face::launch {

// Everything a run is configured with: the per-module option structs themselves (modules receive
// only their own struct and never see YAML). The mapping from YAML keys to their fields lives in
// one key table (config_keys.cpp); the structs' initialisers are the defaults.
struct Config : trainer::TrainConfig {};

// A configuration the user must fix (exit code 2). The message names the place ("FILE:LINE" or
// "--set ARG"), the key, what was wrong and, where possible, a hint.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Loads the YAML file at `path` ("" = defaults only), applies the --set overrides in order
// ("section.key=value", value parsed as a YAML scalar or flow sequence), validates and returns
// the typed config. Precedence: defaults < file < --set (later --set wins). Throws ConfigError.
Config loadConfig(const std::string& path, const std::vector<std::string>& overrides);

// As loadConfig, from YAML text; `source_name` stands for the file in error messages.
Config loadConfigFromString(const std::string& yaml_text, const std::string& source_name,
                            const std::vector<std::string>& overrides);

// The effective config as YAML (every key, table order); loadConfigFromString(toYaml(c)) == c.
// Written to RUN_DIR/config.yaml so a run can be reproduced from its directory alone.
std::string toYaml(const Config& config);

// Stable hex digest of the chosen sections' canonical values (section order does not matter).
// Stored with checkpoints to refuse resuming with an incompatible model/head.
// Throws ConfigError for an unknown section name.
std::string configDigest(const Config& config, std::initializer_list<std::string> sections);

// The configuration reference (every key: type, default, allowed values, meaning) as Markdown,
// generated from the key table; docs/configuration.md embeds it verbatim.
std::string referenceMarkdown();

// Equal when every key has the same canonical value (head.alpha is ignored while it is auto).
bool operator==(const Config& a, const Config& b);
inline bool operator!=(const Config& a, const Config& b) { return !(a == b); }

}  // namespace l2face::launch
