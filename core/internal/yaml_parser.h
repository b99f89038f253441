// driftguard's own YAML 1.2 parser: one document of text -> Json, in a single pass, without an
// intermediate node tree. core/yaml.cc cuts a stream into documents, checks size and UTF-8, and
// calls YamlDocumentParser once per document; the semantics (scalar resolution, tags, merge keys,
// positions, limits) are those documented in core/yaml.h.
//
// The parser never recurses: nesting lives on an explicit stack bounded by YamlLimits::max_depth.
// It never reads past the given buffer and never throws (failures are returned).
//
//   YamlDocumentParser parser(options);
//   YamlDocument doc;
//   if (!parser.Parse(body, first_line, &doc)) Report(parser.error_position(), parser.error());
//
// Thread safety: one instance per thread; instances are reusable (buffers keep their capacity).
#ifndef DRIFTGUARD_CORE_INTERNAL_YAML_PARSER_H_
#define DRIFTGUARD_CORE_INTERNAL_YAML_PARSER_H_

#include <memory>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/yaml.h"

namespace driftguard::core::internal {

enum class ScalarKind { kString, kNull, kBool, kInt, kFloat };

// Resolves an untagged plain scalar as go-yaml v3 does (YAML 1.2 core schema + Go integer
// syntax, see core/yaml.h) into `out`. Never fails: anything else is a string.
ScalarKind ResolvePlainScalar(std::string_view text, Json* out);

class YamlDocumentParser {
 public:
  explicit YamlDocumentParser(const YamlParseOptions& options);
  ~YamlDocumentParser();
  YamlDocumentParser(const YamlDocumentParser&) = delete;
  YamlDocumentParser& operator=(const YamlDocumentParser&) = delete;

  // Parses `body`: optional directives, an optional `---` line, one node, an optional `...`
  // line, comments. `first_line` is the 0-based line of body[0] in the whole stream (positions
  // and errors count from there). On success fills doc->value, doc->start and (when
  // options.record_positions) doc->positions, and returns true. On failure returns false;
  // error() and error_position() say what and where. `body` must outlive the call only.
  bool Parse(std::string_view body, int first_line, YamlDocument* doc);

  const std::string& error() const;
  SourcePosition error_position() const;
  // True when the failure was memory exhaustion rather than bad input.
  bool out_of_memory() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftguard::core::internal

#endif  // DRIFTGUARD_CORE_INTERNAL_YAML_PARSER_H_
