// EncodeAdmissionReview writes its text directly; it must produce exactly the bytes of the same
// review built as a Json document and dumped by nlohmann (the encoder it replaced).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "webhook/admission.h"

namespace driftguard::webhook {
namespace {

using core::Json;

std::string Reference(const AdmissionRequest& request, const AdmissionResponse& response) {
  constexpr auto kReplace = Json::error_handler_t::replace;
  Json r = Json::object();
  r["uid"] = request.uid;
  r["allowed"] = response.allowed;
  if (response.status.has_value()) {
    Json status = Json::object();
    if (response.status->code != 0) status["code"] = response.status->code;
    if (!response.status->message.empty()) status["message"] = response.status->message;
    if (!response.status->reason.empty()) status["reason"] = response.status->reason;
    r["status"] = std::move(status);
  }
  if (!response.warnings.empty()) r["warnings"] = response.warnings;
  if (response.patch.is_array() && !response.patch.empty()) {
    r["patchType"] = "JSONPatch";
    r["patch"] = Base64Encode(response.patch.dump(-1, ' ', false, kReplace));
  }
  if (!response.audit_annotations.empty()) r["auditAnnotations"] = response.audit_annotations;
  Json review = {{"apiVersion", AdmissionApiVersion(request.api_version)},
                 {"kind", "AdmissionReview"},
                 {"response", std::move(r)}};
  return review.dump(-1, ' ', false, kReplace);
}

std::string RandomText(std::mt19937& rng) {
  static const char* kPieces[] = {"a",
                                  "→",
                                  "\"",
                                  "\\",
                                  "\n",
                                  "\t",
                                  "\x01",
                                  "\x1f",
                                  "\x7f",
                                  "é",
                                  "\xf0\x9f\x98\x80",
                                  "\xff",
                                  "\xc3",
                                  "\xed\xa0\x80",
                                  "\xe2\x82",
                                  " ",
                                  "\xc0\xaf",
                                  "\xf4\x90\x80\x80",
                                  "/",
                                  "\b\f\r"};
  std::string out;
  int n = std::uniform_int_distribution<int>(0, 6)(rng);
  for (int i = 0; i < n; ++i) out += kPieces[std::uniform_int_distribution<int>(0, 19)(rng)];
  return out;
}

TEST(EncodeAdmissionReviewDifferentialTest, MatchesJsonBuiltReviewByteForByte) {
  std::mt19937 rng(4242);
  for (int i = 0; i < 2000; ++i) {
    AdmissionRequest request;
    request.api_version = i % 2 == 0 ? AdmissionVersion::kV1 : AdmissionVersion::kV1beta1;
    request.uid = RandomText(rng) + "uid";
    AdmissionResponse response;
    response.allowed = i % 3 != 0;
    if (i % 4 != 0) {
      response.status =
          ResponseStatus{i % 5 == 0 ? 0 : 403, RandomText(rng), i % 7 == 0 ? "" : RandomText(rng)};
    }
    for (int w = 0; w < i % 3; ++w) response.warnings.push_back(RandomText(rng));
    if (i % 6 == 1) {
      response.patch = Json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 3}},
                                    {{"op", "add"}, {"path", "/x"}, {"value", RandomText(rng)}}});
    }
    if (i % 6 == 2) response.patch = Json::array();
    if (i % 5 == 3) response.audit_annotations = {{RandomText(rng), RandomText(rng)}, {"k", "v"}};
    auto got = EncodeAdmissionReview(request, response);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(*got, Reference(request, response)) << "case " << i;
  }
}

}  // namespace
}  // namespace driftguard::webhook
