// The content-hash suffix kustomize appends to generated ConfigMap and Secret names.
//
// kustomize (api/hasher, v5) hashes a small JSON document built from the object, encoded the way
// Go's encoding/json does it (keys sorted, HTML characters escaped), takes the first 10 hex digits
// of its SHA-256 and replaces the characters that could spell words ('0'->'g', '1'->'h', '3'->'k',
// 'a'->'m', 'e'->'t'):
//
//   ConfigMap: {"binaryData":{...} (only when binaryData is a map), "data":D, "kind":"ConfigMap",
//               "name":""}
//   Secret:    {"data":D, "kind":"Secret", "name":"", "stringData":{...} (only when a map),
//               "type":T}
//
// D is the `data` map, or "" when the field is absent or null; T is `type`, or "" when absent.
// "name" is always "": kustomize looks the name up with the single path segment "metadata/name",
// which never matches, so the name never contributes (checked against `kubectl kustomize`: two
// generators with different names and equal data get the same suffix, and namePrefix/nameSuffix
// do not change it). `immutable`, labels and annotations do not contribute either.
//
//   Json cm = {{"kind", "ConfigMap"}, {"metadata", {{"name", "app"}}}, {"data", {{"a", "1"}}}};
//   std::string name = "app-" + KustomizeHashSuffix(cm);  // "app-h29d89cmmt"
//
// Thread safety: pure function. Objects of other kinds are hashed as a ConfigMap would be
// (kustomize only ever hashes generated ConfigMaps and Secrets).
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_HASH_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_HASH_H_

#include <string>
#include <string_view>

#include "core/json.h"

namespace driftguard::reconciler {

// Returns the 10-character suffix (without the '-') kustomize would append to this object's name.
std::string KustomizeHashSuffix(const core::Json& configmap_or_secret);

namespace internal {

// Serializes `value` as Go's json.Marshal does for the decoded form of a YAML map: object keys in
// byte order, no whitespace, '<' '>' '&' U+2028 U+2029 escaped as \uXXXX, control characters as
// \b \f \n \r \t or \u00XX, invalid UTF-8 replaced by U+FFFD. Exposed for tests.
std::string GoJsonEncode(const core::Json& value);

// The hash input document described above, before SHA-256. Exposed for tests.
std::string KustomizeHashInput(const core::Json& configmap_or_secret);

}  // namespace internal
}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_HASH_H_
