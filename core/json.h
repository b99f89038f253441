// The single in-memory form of Kubernetes objects: nlohmann::json.
//
// YAML is parsed into Json (core/yaml.h) and emitted from it; AdmissionReviews and API responses
// are Json. Object keys are kept sorted (std::map), which makes output deterministic and comparison
// cheap.
#ifndef DRIFTGUARD_CORE_JSON_H_
#define DRIFTGUARD_CORE_JSON_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace driftguard::core {

using Json = nlohmann::json;

// Parses JSON text; the error names `source` and the byte offset. Never throws.
StatusOr<Json> ParseJson(std::string_view text, std::string_view source = "input");

// Returns the value at `pointer` (RFC 6901) or nullptr when absent. Never throws.
const Json* FindPointer(const Json& doc, std::string_view pointer);

// Escapes one reference token for use in a JSON pointer ("~" -> "~0", "/" -> "~1").
std::string EscapePointerToken(std::string_view token);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_JSON_H_
