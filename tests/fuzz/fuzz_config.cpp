// libFuzzer target: the YAML config loader (loadConfigFromString), with --set overrides.
//
// Input: the YAML text; after a line "--set", each further line is one override.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "l2face/launch/internal/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace l2face::launch;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  const size_t split = text.find("\n--set\n");
  if (split != std::string::npos) {
    std::string rest = text.substr(split + 7);
    text.resize(split + 1);
    size_t pos = 0;
    while (pos <= rest.size()) {
      size_t eol = rest.find('\n', pos);
      if (eol == std::string::npos) eol = rest.size();
      overrides.push_back(rest.substr(pos, eol - pos));
      pos = eol + 1;
    }
  }
  try {
    const Config c = loadConfigFromString(text, "fuzz.yaml", overrides);
    // The effective config must read back to itself (it is what a run directory records).
    const Config back = loadConfigFromString(toYaml(c), "effective.yaml", {});
    if (back != c) std::abort();
    (void)configDigest(c, {"model", "head"});
  } catch (const ConfigError&) {
  }
  return 0;
}
