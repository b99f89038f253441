// YAML <-> JSON for Kubernetes manifests.
//
// Parsing follows what the Kubernetes toolchain (kustomize/kyaml, i.e. go-yaml v3) does with
// manifests, checked against `kubectl kustomize`:
//  - plain scalars use the YAML 1.2 core schema: `yes/no/on/off/y/n` stay strings; true/false
//    (True/TRUE/False/FALSE) are bools; null/Null/NULL/~/empty are null; .inf/-.inf/.nan floats;
//  - integers use Go's syntax as go-yaml does: decimal, 0x hex, 0o octal, 0b binary, legacy 0644
//    octal (= 420) and `_` separators; one that fits int64 stays int64, else one that fits uint64
//    stays uint64, else it becomes a double (1e400 and 0x beyond uint64 stay strings, like
//    go-yaml);
//  - quoted and block scalars are always strings ("8080" stays a string); !!str/!!int/!!float/
//    !!bool/!!null tags are honoured (a mismatch such as `!!int abc` is an error), other tags are
//    ignored and the text kept;
//  - plain timestamps (2024-01-01) stay strings; this deliberately differs from kubectl kustomize,
//    which rewrites them to RFC 3339;
//  - merge keys `<<` (a mapping or a sequence of mappings) merge as go-yaml does: keys written in
//    the mapping win wherever they appear, and among merged mappings the first one wins;
//  - non-string keys become strings (1 -> "1", 0x10 -> "16", true -> "true", ~ -> "null");
//  - multi-document streams split on `---` / `...` lines, comments dropped, empty documents dropped
//    unless YamlParseOptions::keep_empty_documents.
// Hostile input is bounded by YamlLimits: alias expansion, nesting depth, document size, invalid
// UTF-8 (and NUL bytes), duplicate keys, unknown or recursive aliases and syntax errors all return
// an InvalidArgument Status naming the source, document index, line and column. Parsing never
// throws, never recurses without bound and never expands aliases without a budget. Columns count
// bytes. The parser is driftguard's own (core/internal/yaml_parser.h); it follows YAML 1.2 where
// the former yaml-cpp 0.7 backend was lenient: a quoted scalar left open at the end of the input
// ("found unclosed quoted scalar"), an empty flow sequence entry (`[a, , b]`) and tabs used as
// block indentation are errors.
//
// Thread safety: all functions are reentrant; no shared state.
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
  Json value;  // null for an empty document
  // 0-based position in the stream, counting dropped empty documents too (so it matches what a
  // person counts in the file).
  int index = 0;
  SourcePosition start;  // the `---` marker, or the first token of the document
  // JSON pointer ("/spec/replicas", "" for the root) -> where that node is declared. Filled only
  // when YamlParseOptions::record_positions is set; every node of `value` has exactly one entry.
  //  - a mapping member maps to its KEY ("/spec/replicas" -> the `replicas:` line and column),
  //    also when its value starts on a later line;
  //  - a sequence item maps to the item itself (the node after `- `); for an item that is a
  //    block mapping that is the item's first key;
  //  - the root maps to its first token;
  //  - nodes copied by an alias: the alias root maps to the alias, its descendants to where the
  //    anchored node declares them; members pulled in by `<<` map to their declaration too.
  std::unordered_map<std::string, SourcePosition> positions;
};

struct YamlParseOptions {
  YamlLimits limits;
  bool record_positions = false;
  // Keep empty (null) documents in the result; kubectl and kustomize drop them.
  bool keep_empty_documents = false;
};

// Parses a multi-document YAML stream. `source` names the input in errors ("base/deploy.yaml").
// Error messages read "<source>: document <n>, line <l>, column <c>: <what>" (n, l, c 1-based;
// n counts empty documents). Limits are per document: a document larger than max_document_bytes
// is rejected before it is parsed (pointing at its start), one deeper than max_depth or
// expanding to more than max_nodes points at the node that crossed the limit.
StatusOr<std::vector<YamlDocument>> ParseYamlStream(std::string_view text, std::string_view source,
                                                    const YamlParseOptions& options = {});

// Convenience: at most one document expected (empty input -> null Json; more than one non-empty
// document -> "<source>: expected one YAML document, found <n>").
StatusOr<Json> ParseYaml(std::string_view text, std::string_view source,
                         const YamlParseOptions& options = {});

// Emits block-style YAML as kubectl does: two-space indents, keys in the Json's order, sequences
// at their key's indentation (`containers:\n- name: x`), `{}` / `[]` for empty collections.
// Strings are double-quoted where a plain scalar would be read differently by a YAML 1.1 or 1.2
// reader (yes/no/on/off/y/n, true/false, null/~, anything number- or date-like, leading/trailing
// blanks, ": ", " #", leading indicators, the empty string) or holds control characters (escaped).
// Multi-line strings become literal blocks (|, |- or |+), or double-quoted strings when a literal
// cannot hold them (trailing blanks on a line, leading blank on the first line). Non-ASCII stays
// UTF-8. Doubles print in the shortest form that reads back exactly, always as floats ("1.0");
// inf/nan as .inf/-.inf/.nan. ParseYaml(EmitYaml(v)) == v, number types included, for any v with
// valid UTF-8 strings. Ends with a newline. Recursion depth equals the Json's depth.
std::string EmitYaml(const Json& value);

// Joins documents with "---\n" separators, as `kubectl kustomize` prints them.
std::string EmitYamlStream(const std::vector<Json>& docs);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_YAML_H_
