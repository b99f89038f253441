// Standard base64 with padding (RFC 4648 §4): Secret data, caBundle, AdmissionReview patches,
// generated binaryData. One implementation for the whole project.
//
//   std::string encoded = Base64Encode("foo");            // "Zm9v"
//   ASSIGN_OR_RETURN(std::string raw, Base64Decode(text));  // strict: padding, no whitespace
//
// Thread safety: pure functions.
#ifndef DRIFTGUARD_CORE_BASE64_H_
#define DRIFTGUARD_CORE_BASE64_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace driftguard::core {

std::string Base64Encode(std::string_view data);
// INVALID_ARGUMENT naming the problem: "base64: length 3 is not a multiple of 4",
// "base64: invalid character at offset 2".
StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_BASE64_H_
