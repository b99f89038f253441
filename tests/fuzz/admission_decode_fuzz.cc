// libFuzzer target: DecodeAdmissionReview must never crash, hang or leak on any input, and whatever
// it accepts must encode (allowed and denied answers) without error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "webhook/admission.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace driftguard::webhook;
  auto request = DecodeAdmissionReview(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!request.ok()) {
    if (request.status().message().empty()) __builtin_trap();  // every rejection has a reason
    return 0;
  }
  if (request->uid.empty()) __builtin_trap();  // the decoder's contract
  AdmissionResponse response;
  response.allowed = false;
  response.status = ResponseStatus{403, request->name, "Forbidden"};
  response.warnings.push_back(request->user_info.username);
  if (!request->object.is_null()) {
    response.patch = driftguard::core::Json::array(
        {{{"op", "replace"}, {"path", "/metadata"}, {"value", request->object}}});
  }
  auto encoded = EncodeAdmissionReview(*request, response);
  if (!encoded.ok()) __builtin_trap();
  return 0;
}
