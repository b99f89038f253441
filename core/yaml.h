// YAML <-> JSON for Kubernetes manifests.
//
// Parsing follows what the Kubernetes toolchain (kustomize/kyaml) does with manifests: the YAML 1.2
// core schema for plain scalars (so `yes`, `no`, `on`, `off` stay strings), quoted scalars are
// always strings ("8080" stays a string), integers that fit int64/uint64 stay exact integers,
// multi-document streams split on `---`, comments dropped. Hostile input is bounded by YamlLimits:
// alias expansion, nesting depth, document size, invalid UTF-8 and duplicate keys all return a
// Status naming the source, document index, line and column. Parsing never throws, never recurses
// without bound and never expands aliases without a budget.
//
//   ASSIGN_OR_RETURN(std::vector<YamlDocument> docs, ParseYamlStream(text, "apps/deploy.yaml"));
//   for (const YamlDocument& d : docs) Use(d.value);
//   std::string out = EmitYamlStream({a, b});  // "a...\n---\nb...\n"
#ifndef DRIFTGUARD_CORE_YAML_H_
#define DRIFTGUARD_CORE_YAML_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace driftguard::core {

struct YamlLimits {
  // Largest single document, in bytes of source text.
  size_t max_document_bytes = 8 << 20;
  // Deepest nesting of mappings/sequences.
  int max_depth = 100;
  // Most JSON nodes one document may expand to (bounds alias bombs: "billion laughs").
  size_t max_nodes = 1 << 20;
};

// A position in source text; 1-based line and column (0 = unknown).
struct SourcePosition {
  int line = 0;
  int column = 0;
};

struct YamlDocument {
  Json value;            // null for an empty document
  int index = 0;         // 0-based position in the stream
  SourcePosition start;  // where the document begins
  // JSON pointer ("/spec/replicas", "" for the root) -> where that node starts in the source.
  // Filled only when ParseOptions::record_positions is set; keys are pointers into `value`.
  std::unordered_map<std::string, SourcePosition> positions;
};

struct YamlParseOptions {
  YamlLimits limits;
  bool record_positions = false;
  // Keep empty (null) documents in the result; kubectl and kustomize drop them.
  bool keep_empty_documents = false;
};

// Parses a multi-document YAML stream. `source` names the input in errors ("base/deploy.yaml").
// Error messages read "<source>: document <n>, line <l>, column <c>: <what>" (n is 1-based).
StatusOr<std::vector<YamlDocument>> ParseYamlStream(std::string_view text, std::string_view source,
                                                    const YamlParseOptions& options = {});

// Convenience: exactly one document expected (empty input -> null Json).
StatusOr<Json> ParseYaml(std::string_view text, std::string_view source,
                         const YamlParseOptions& options = {});

// Emits block-style YAML as kubectl does: two-space indents, keys in the Json's order, strings
// quoted only where a plain scalar would change meaning (including YAML 1.1 booleans such as "yes",
// numbers, "null", leading indicators), multi-line strings as literal blocks. Ends with a newline.
std::string EmitYaml(const Json& value);

// Joins documents with "---\n" separators, as `kubectl kustomize` prints them.
std::string EmitYamlStream(const std::vector<Json>& docs);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_YAML_H_
