// The single in-memory form of Kubernetes objects: nlohmann::json.
//
// YAML is parsed into Json (core/yaml.h) and emitted from it; AdmissionReviews and API responses
// are Json. Object keys are kept sorted (std::map), which makes output deterministic and comparison
// cheap.
#ifndef DRIFTGUARD_CORE_JSON_H_
#define DRIFTGUARD_CORE_JSON_H_

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace driftguard::core {

using Json = nlohmann::json;

// Parses JSON text; the error names `source` and the byte offset. Never throws.
//
// The result is exactly what nlohmann's own parser returns (Json::parse): integers without sign
// are number_unsigned, negative integers (and -0) number_integer, integers beyond 64 bits and
// numbers with fraction or exponent number_float; duplicate keys keep the last value; a UTF-8 BOM
// is skipped; invalid UTF-8, lone surrogates, unescaped control characters and out-of-range floats
// (1e400) are errors. Valid documents are parsed with simdjson and converted in one walk (a 10 KB
// AdmissionReview decodes about 3x faster than with nlohmann's parser, bench/guard_bench.cc);
// anything simdjson rejects or cannot type exactly goes to nlohmann's parser, which also words
// every error. Thread safety: safe to call concurrently (one reused simdjson parser per thread).
StatusOr<Json> ParseJson(std::string_view text, std::string_view source = "input");

struct JsonParseOptions {
  // JSON pointers (RFC 6901) of object members left out of the result, e.g.
  // "/request/object/metadata/managedFields". Each token names an object member; array items are
  // never matched. At most 64 pointers.
  std::span<const std::string_view> omit_members;
};

// As above, with options. InvalidArgument when `options` is invalid (more than 64 pointers, a
// pointer not starting with '/').
StatusOr<Json> ParseJson(std::string_view text, std::string_view source,
                         const JsonParseOptions& options);

// Returns the value at `pointer` (RFC 6901) or nullptr when absent. Never throws.
const Json* FindPointer(const Json& doc, std::string_view pointer);

// Escapes one reference token for use in a JSON pointer ("~" -> "~0", "/" -> "~1").
std::string EscapePointerToken(std::string_view token);

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when the bytes there are not one.
size_t Utf8SequenceLength(std::string_view s, size_t i);

// Appends `s` as a quoted JSON string, escaped exactly as nlohmann's dump(-1, ' ', false) writes
// well-formed UTF-8: \" \\ \b \f \n \r \t, other control characters \u00xx, everything else
// verbatim. A byte that does not start a well-formed UTF-8 sequence becomes U+FFFD (one per byte)
// when `replace_invalid`; otherwise `out` is left as it was and false is returned, for callers
// with other repair rules. Used on the webhook's response path and by the JSON log format.
bool AppendJsonString(std::string& out, std::string_view s, bool replace_invalid);

// Appends `value` exactly as value.dump(-1, ' ', false, Json::error_handler_t::replace) writes it,
// without nlohmann's per-call serializer set-up (a locale lookup and an output adapter, most of
// the cost of a short value). Floats and strings that are not valid UTF-8 are written by nlohmann
// itself, so its number formatting and repair rules apply. Never throws.
void AppendJsonValue(std::string& out, const Json& value);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_JSON_H_
