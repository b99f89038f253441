// libFuzzer target for core::ParseYamlStream (driftguard's own YAML parser). Checks that any
// input is parsed or rejected without a crash, sanitizer report or exception, and that wherever
// yaml-cpp (tests/support/yaml_cpp_reference.h, the former implementation) accepts the input and
// ours does too, both produce identical documents. Inputs only yaml-cpp accepts are not errors:
// yaml-cpp is more lenient than YAML 1.2 in places where ours follows the spec (and go-yaml).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/yaml.h"
#include "tests/support/yaml_cpp_reference.h"

namespace {

std::string Describe(const std::vector<driftguard::core::YamlDocument>& docs) {
  std::string out;
  for (const auto& d : docs) {
    out += std::to_string(d.index) + "@" + std::to_string(d.start.line) + ":" +
           std::to_string(d.start.column) + " " + d.value.dump() + "\n";
  }
  return out;
}

// True when `text` holds a lone non-specific tag `!`. On an empty node ours resolves it as go-yaml
// (kubectl) does, to "", while yaml-cpp gives null; such inputs are not compared.
bool HasNonSpecificTag(std::string_view text) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '!') continue;
    const bool starts = i == 0 || blank(text[i - 1]) || text[i - 1] == '[' || text[i - 1] == '{' ||
                        text[i - 1] == ',';
    const bool ends = i + 1 == text.size() || blank(text[i + 1]) || text[i + 1] == ',' ||
                      text[i + 1] == ']' || text[i + 1] == '}';
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using driftguard::core::YamlParseOptions;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  YamlParseOptions options;
  options.limits.max_nodes = 20000;  // keeps alias expansion cheap under the fuzzer
  options.limits.max_document_bytes = 1 << 16;
  options.record_positions = size > 0 && (data[0] & 1) != 0;
  options.keep_empty_documents = true;
  auto ours = driftguard::core::ParseYamlStream(text, "fuzz.yaml", options);
  if (!ours.ok() || HasNonSpecificTag(text)) return 0;
  for (const auto& d : *ours) (void)d.value.dump();  // strings must be valid UTF-8
  // Compare only what ours accepts: the yaml-cpp reference has no budget of its own for merge
  // keys over aliases and can exhaust memory on inputs ours rejects within its limits.
  auto theirs = driftguard::testing::ParseYamlStreamWithYamlCpp(text, "fuzz.yaml", options);
  if (ours.ok() && theirs.ok()) {
    const std::string a = Describe(*ours), b = Describe(*theirs);
    if (a != b) {
      std::fprintf(stderr, "parsers disagree\nours:\n%s\nyaml-cpp:\n%s\n", a.c_str(), b.c_str());
      std::abort();
    }
  }
  return 0;
}
