// Field-by-field comparison of two Kubernetes objects of one kind, guided by the schema
// (core/schema.h), with kubectl-style human paths.
//
// Paths name fields the way a person reads them:
//   spec.template.spec.containers[name=web].image
//   spec.ports[port=80,protocol=TCP].targetPort
//   metadata.labels["app.kubernetes.io/name"]
// Associative lists (containers by name, container ports by containerPort+protocol, env by name,
// ...) are matched by key, so reordering them is not a change; an item that lacks a key field is
// keyed by the field's schema default (a port without `protocol` is `protocol=TCP`). Lists of type
// set compare as sets (order ignored), reported whole when they differ. Atomic lists, atomic maps,
// lists without keys and every list of an object without schema (custom resources) compare whole.
// An associative list whose items cannot all be keyed (missing key without default, duplicate
// keys) also compares whole.
//
// Value semantics (decided here, relied on by the guard):
//   - Numbers compare by value: 1 == 1.0 (JSON semantics; the API server may re-encode numbers).
//     Strings are never equal to numbers: "1" != 1, and quantities are not normalized
//     ("1000m" != "1").
//   - With `empty_equals_absent` (default), a null, an empty map and an empty list are the same as
//     an absent field: Kubernetes drops empty fields when it serializes objects, so `labels: {}` in
//     Git and no labels on the live object are not drift.
//
//   const SchemaNode* schema = Schema::ForApiVersionKind("apps/v1", "Deployment");
//   DiffOptions options;
//   options.ignored_pointers = {"/status", "/metadata/managedFields"};
//   for (const FieldChange& c : DiffObjects(live, attempted, schema, options)) Report(c.path);
//
// Thread safety: pure functions. Cost: one walk over both objects (core::JsonDoc form, no
// allocation per value); strings and Json values are built only for changes (and for every leaf in
// EnumerateLeaves). Never throws.
#ifndef DRIFTGUARD_CORE_FIELD_DIFF_H_
#define DRIFTGUARD_CORE_FIELD_DIFF_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/json_doc.h"
#include "core/schema.h"
#include "core/status.h"

namespace driftguard::core {

struct DiffOptions {
  // JSON pointers whose subtrees are never compared or listed. A prefix covers the pointer itself
  // and everything below it ("/status" covers "/status/replicas", not "/statusX"). Matched against
  // the pointer into either object.
  std::vector<std::string> ignored_pointers;
  // Treat null, {} and [] as absent (see the header comment).
  bool empty_equals_absent = true;
};

struct FieldChange {
  std::string path;  // human path, "" for the whole object
  // JSON pointers into the old and new object. For a side where the field is absent: where an RFC
  // 6902 `add` would put it (parent's pointer + "/" + key for a map field, list pointer + "/-" for
  // a list item).
  std::string old_pointer;
  std::string new_pointer;
  std::optional<Json> old_value;  // nullopt: absent in the old object
  std::optional<Json> new_value;  // nullopt: absent in the new object
};

// The changes from `a` (old) to `b` (new), in key order of `a`'s fields, then the fields only `b`
// has; list items in `a`'s order, then items only `b` has.
std::vector<FieldChange> DiffObjects(const JsonRef& a, const JsonRef& b, const SchemaNode* schema,
                                     const DiffOptions& options = {});

// The same for Json trees (copied into JsonDocs first; the webhook's request path uses the JsonRef
// form on the decoded review without a copy).
std::vector<FieldChange> DiffObjects(const Json& a, const Json& b, const SchemaNode* schema,
                                     const DiffOptions& options = {});

struct FieldPath {
  std::string path;     // human path
  std::string pointer;  // JSON pointer into the object
};

// Every leaf of `object` — scalars, and atomic lists/maps/sets and keyless lists as whole values —
// with human paths and pointers in the same form DiffObjects uses. Key fields of associative list
// items are leaves too. Ignored pointers and (with empty_equals_absent) empty values are skipped.
std::vector<FieldPath> EnumerateLeaves(const Json& object, const SchemaNode* schema,
                                       const DiffOptions& options = {});

// Resolves a human path (as produced above) to a JSON pointer into `object`. `[k=v,...]` selects
// the list item whose keys render as given (schema defaults apply), `[N]` selects by index.
// NotFound when a list item or a field on the way does not exist; InvalidArgument when the path
// does not parse. When `value` is given, it is set to the value the pointer names (saves a
// FindPointer).
StatusOr<std::string> HumanPathToPointer(const Json& object, std::string_view path,
                                         const SchemaNode* schema, const Json** value = nullptr);

// The human-path spelling of one map key: `name`, or `["app.kubernetes.io/name"]`.
std::string HumanFieldSegment(std::string_view key);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_FIELD_DIFF_H_
