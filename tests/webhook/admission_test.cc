#include "webhook/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/support/test_util.h"

namespace driftguard::webhook {
namespace {

using core::Json;
using ::testing::ElementsAre;

std::string Fixture(const std::string& name) {
  return testing::ReadFile(std::string(DRIFTGUARD_TESTDATA_DIR) + "/admission/" + name);
}

AdmissionRequest MustDecode(const std::string& body) {
  auto decoded = DecodeAdmissionReview(body);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.ok() ? std::move(decoded).value() : AdmissionRequest{};
}

// Decodes a fixture after modifying its parsed form with `edit`.
core::Status DecodeEdited(const std::string& fixture, const std::function<void(Json&)>& edit) {
  Json doc = Json::parse(Fixture(fixture));
  edit(doc);
  return DecodeAdmissionReview(doc.dump()).status();
}

TEST(DecodeAdmissionReviewTest, CapturedConfigMapPatchV1) {
  AdmissionRequest r = MustDecode(Fixture("configmap-update-v1.json"));
  EXPECT_EQ(r.api_version, AdmissionVersion::kV1);
  EXPECT_EQ(r.uid, "5b42858d-2abb-4538-9e60-a4ae1d9c8508");
  EXPECT_EQ(r.kind, (GroupVersionKind{"", "v1", "ConfigMap"}));
  EXPECT_EQ(r.resource, (GroupVersionResource{"", "v1", "configmaps"}));
  EXPECT_EQ(r.sub_resource, "");
  ASSERT_TRUE(r.request_kind.has_value());
  EXPECT_EQ(*r.request_kind, (GroupVersionKind{"", "v1", "ConfigMap"}));
  ASSERT_TRUE(r.request_resource.has_value());
  EXPECT_EQ(*r.request_resource, (GroupVersionResource{"", "v1", "configmaps"}));
  EXPECT_EQ(r.name, "cm-edit");
  EXPECT_EQ(r.namespace_, "default");
  EXPECT_EQ(r.operation, Operation::kUpdate);
  EXPECT_EQ(r.user_info.username, "admin");
  EXPECT_EQ(r.user_info.uid, "");
  EXPECT_THAT(r.user_info.groups, ElementsAre("system:masters", "system:authenticated"));
  EXPECT_TRUE(r.user_info.extra.empty());
  EXPECT_EQ(r.object.ToJson()["data"], Json({{"a", "9"}}));
  EXPECT_EQ(r.old_object.ToJson()["data"], Json({{"a", "1"}}));
  EXPECT_FALSE(r.dry_run);
  EXPECT_EQ(r.options.Find("kind").string(), "UpdateOptions");
  EXPECT_EQ(r.options.Find("fieldManager").string(), "kubectl-edit");
}

TEST(DecodeAdmissionReviewTest, CapturedConfigMapPatchV1beta1) {
  AdmissionRequest r = MustDecode(Fixture("configmap-update-v1beta1.json"));
  EXPECT_EQ(r.api_version, AdmissionVersion::kV1beta1);
  EXPECT_EQ(r.uid, "21b6518a-a37e-4c1f-9a88-638acc8baf22");
  EXPECT_EQ(r.operation, Operation::kUpdate);
  EXPECT_EQ(r.object.ToJson()["data"], Json({{"a", "1"}, {"q", "1"}}));
  EXPECT_EQ(r.old_object.ToJson()["data"], Json({{"a", "1"}}));
  EXPECT_EQ(r.options.Find("fieldManager").string(), "kubectl-patch");
}

TEST(DecodeAdmissionReviewTest, DeploymentUpdateKeepsBothObjectsAndUserExtra) {
  std::string body = Fixture("deployment-update-v1.json");
  AdmissionRequest r = MustDecode(body);
  Json doc = Json::parse(body);
  ASSERT_TRUE(doc["request"]["object"]["metadata"].contains("managedFields"));
  ASSERT_TRUE(doc["request"]["oldObject"]["metadata"].contains("managedFields"));
  ASSERT_TRUE(doc["request"]["object"].contains("status"));
  // Identical to the sent objects except for managedFields and status, which the decoder leaves
  // out.
  doc["request"]["object"]["metadata"].erase("managedFields");
  doc["request"]["oldObject"]["metadata"].erase("managedFields");
  doc["request"]["object"].erase("status");
  doc["request"]["oldObject"].erase("status");
  EXPECT_EQ(r.object.ToJson(), doc["request"]["object"]);
  EXPECT_EQ(r.old_object.ToJson(), doc["request"]["oldObject"]);
  EXPECT_EQ(r.object.ToJson()["spec"]["replicas"], 5);
  EXPECT_EQ(r.old_object.ToJson()["spec"]["replicas"], 3);
  EXPECT_EQ(r.kind, (GroupVersionKind{"apps", "v1", "Deployment"}));
  EXPECT_EQ(r.user_info.username, "alice@example.com");
  EXPECT_EQ(r.user_info.uid, "oidc:4e1f0c5a");
  EXPECT_THAT(r.user_info.extra["scopes"], ElementsAre("openid", "groups"));
  EXPECT_THAT(r.user_info.extra["authentication.kubernetes.io/credential-id"],
              ElementsAre("JTI=2b7c9d1e-55aa-4c3e-9f0b-7e6d5c4b3a21"));
}

TEST(DecodeAdmissionReviewTest, OnlyTheObjectsManagedFieldsAndStatusAreLeftOut) {
  AdmissionRequest r = MustDecode(
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)"
      R"("kind":{"version":"v1","kind":"ConfigMap"},"resource":{"version":"v1",)"
      R"("resource":"configmaps"},"operation":"UPDATE","managedFields":1,)"
      R"("object":{"metadata":{"name":"a","managedFields":[{"manager":"x","fieldsV1":)"
      R"({"f:data":{"managedFields":{}}}}],"labels":{"managedFields":"kept"}},)"
      R"("data":{"managedFields":"kept","status":"kept"},"status":{"ready":true},)"
      R"("spec":{"metadata":{"managedFields":[1]},"status":1}},)"
      R"("oldObject":{"metadata":{"managedFields":null,"name":"a"},"list":[{"metadata":)"
      R"({"managedFields":2},"status":"kept"}],"status":null},)"
      R"("options":{"metadata":{"managedFields":3},"status":4}}})");
  EXPECT_EQ(r.object.ToJson(),
            Json::parse(R"({"metadata":{"name":"a","labels":{"managedFields":"kept"}},)"
                        R"("data":{"managedFields":"kept","status":"kept"},)"
                        R"("spec":{"metadata":{"managedFields":[1]},"status":1}})"));
  EXPECT_EQ(r.old_object.ToJson(),
            Json::parse(R"({"metadata":{"name":"a"},"list":[{"metadata":{"managedFields":2},)"
                        R"("status":"kept"}]})"));
  EXPECT_EQ(r.options.ToJson(), Json::parse(R"({"metadata":{"managedFields":3},"status":4})"));
}

TEST(DecodeAdmissionReviewTest, DeleteHasOldObjectOnly) {
  AdmissionRequest r = MustDecode(Fixture("deployment-delete-v1.json"));
  EXPECT_EQ(r.operation, Operation::kDelete);
  EXPECT_TRUE(r.object.is_null());
  EXPECT_EQ(r.old_object.ToJson()["metadata"]["name"], "podinfo");
  EXPECT_EQ(r.options.Find("propagationPolicy").string(), "Background");
}

TEST(DecodeAdmissionReviewTest, ScaleSubresourceCarriesScaleObjects) {
  AdmissionRequest r = MustDecode(Fixture("deployment-scale-v1.json"));
  EXPECT_EQ(r.kind, (GroupVersionKind{"autoscaling", "v1", "Scale"}));
  EXPECT_EQ(r.resource, (GroupVersionResource{"apps", "v1", "deployments"}));
  EXPECT_EQ(r.sub_resource, "scale");
  EXPECT_EQ(r.request_sub_resource, "scale");
  EXPECT_EQ(r.object.ToJson()["spec"]["replicas"], 7);
  EXPECT_EQ(r.old_object.ToJson()["spec"]["replicas"], 3);
  EXPECT_FALSE(r.object.ToJson()["metadata"].contains("labels"));
}

TEST(DecodeAdmissionReviewTest, StatusSubresourceV1beta1) {
  AdmissionRequest r = MustDecode(Fixture("deployment-status-v1beta1.json"));
  EXPECT_EQ(r.api_version, AdmissionVersion::kV1beta1);
  EXPECT_EQ(r.sub_resource, "status");
  EXPECT_EQ(r.user_info.username, "system:serviceaccount:kube-system:deployment-controller");
  EXPECT_FALSE(r.object.ToJson().contains("status"));  // never guarded, never decoded
  EXPECT_EQ(r.object.ToJson()["spec"]["replicas"], 3);
}

TEST(DecodeAdmissionReviewTest, CreateHasNoOldObject) {
  AdmissionRequest r = MustDecode(Fixture("configmap-create-v1.json"));
  EXPECT_EQ(r.operation, Operation::kCreate);
  EXPECT_TRUE(r.old_object.is_null());
  EXPECT_EQ(r.object.ToJson()["data"]["LOG_LEVEL"], "debug");
}

TEST(DecodeAdmissionReviewTest, DryRun) {
  AdmissionRequest r = MustDecode(Fixture("service-dryrun-v1.json"));
  EXPECT_TRUE(r.dry_run);
  EXPECT_EQ(r.object.ToJson()["spec"]["ports"][0]["port"], 8080);
}

TEST(DecodeAdmissionReviewTest, ConnectAndMinimalRequest) {
  AdmissionRequest r = MustDecode(
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",)"
      R"("kind":{"version":"v1","kind":"PodExecOptions"},"resource":{"version":"v1",)"
      R"("resource":"pods"},"subResource":"exec","operation":"CONNECT"}})");
  EXPECT_EQ(r.operation, Operation::kConnect);
  EXPECT_EQ(r.kind, (GroupVersionKind{"", "v1", "PodExecOptions"}));
  EXPECT_FALSE(r.request_kind.has_value());
  EXPECT_FALSE(r.request_resource.has_value());
  EXPECT_TRUE(r.object.is_null());
  EXPECT_TRUE(r.options.is_null());
  EXPECT_EQ(r.user_info.username, "");
}

TEST(DecodeAdmissionReviewErrorTest, MalformedJson) {
  EXPECT_EQ(DecodeAdmissionReview(R"({"apiVersion": )").status().message(),
            "AdmissionReview: invalid JSON at byte 16: [json.exception.parse_error.101] parse "
            "error at line 1, column 16: syntax error while parsing value - unexpected end of "
            "input; expected '[', '{', or a literal");
  EXPECT_EQ(DecodeAdmissionReview("").status().code(), core::StatusCode::kInvalidArgument);
}

TEST(DecodeAdmissionReviewErrorTest, NotAnObject) {
  EXPECT_EQ(
      DecodeAdmissionReview("[1,2]").status(),
      core::InvalidArgumentError("AdmissionReview: the body must be a JSON object, got array"));
}

TEST(DecodeAdmissionReviewErrorTest, MissingRequest) {
  EXPECT_EQ(
      DecodeAdmissionReview(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})")
          .status(),
      core::InvalidArgumentError("AdmissionReview: missing \"request\""));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json", [](Json& d) { d["request"] = nullptr; }),
            core::InvalidArgumentError("AdmissionReview: missing \"request\""));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json", [](Json& d) { d["request"] = "x"; }),
            core::InvalidArgumentError("AdmissionReview: request must be an object, got string"));
}

TEST(DecodeAdmissionReviewErrorTest, WrongApiVersionOrKind) {
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json",
                         [](Json& d) { d["apiVersion"] = "admission.k8s.io/v2"; }),
            core::InvalidArgumentError(
                "AdmissionReview: unsupported apiVersion \"admission.k8s.io/v2\" (want "
                "admission.k8s.io/v1 or admission.k8s.io/v1beta1)"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json", [](Json& d) { d.erase("apiVersion"); }),
            core::InvalidArgumentError("AdmissionReview: apiVersion is missing"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json", [](Json& d) { d["apiVersion"] = 1; }),
            core::InvalidArgumentError("AdmissionReview: apiVersion must be a string, got number"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json", [](Json& d) { d["kind"] = "ConfigMap"; }),
            core::InvalidArgumentError(
                "AdmissionReview: kind is \"ConfigMap\", want \"AdmissionReview\""));
}

TEST(DecodeAdmissionReviewErrorTest, MissingOrEmptyUid) {
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json", [](Json& d) { d["request"].erase("uid"); }),
            core::InvalidArgumentError("AdmissionReview: request.uid is missing"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json", [](Json& d) { d["request"]["uid"] = ""; }),
            core::InvalidArgumentError("AdmissionReview: request.uid is empty"));
}

TEST(DecodeAdmissionReviewErrorTest, RequestFieldsNamedByPath) {
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json",
                         [](Json& d) { d["request"]["operation"] = "PATCH"; }),
            core::InvalidArgumentError("AdmissionReview: request.operation \"PATCH\" is not one of "
                                       "CREATE, UPDATE, DELETE, CONNECT"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json", [](Json& d) { d["request"].erase("kind"); }),
            core::InvalidArgumentError("AdmissionReview: request.kind is missing"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json",
                         [](Json& d) { d["request"]["resource"].erase("resource"); }),
            core::InvalidArgumentError("AdmissionReview: request.resource.resource is missing"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json",
                         [](Json& d) { d["request"]["requestKind"]["kind"] = 3; }),
            core::InvalidArgumentError(
                "AdmissionReview: request.requestKind.kind must be a string, got number"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json",
                         [](Json& d) {
                           d["request"]["userInfo"]["groups"] = {"a", 1};
                         }),
            core::InvalidArgumentError("AdmissionReview: request.userInfo.groups must be an array "
                                       "of strings, got array"));
  EXPECT_EQ(
      DecodeEdited("configmap-update-v1.json", [](Json& d) { d["request"]["dryRun"] = "yes"; }),
      core::InvalidArgumentError("AdmissionReview: request.dryRun must be a boolean, got string"));
  EXPECT_EQ(
      DecodeEdited("configmap-update-v1.json",
                   [](Json& d) { d["request"]["object"] = Json::array(); }),
      core::InvalidArgumentError("AdmissionReview: request.object must be an object, got array"));
  EXPECT_EQ(DecodeEdited("configmap-update-v1.json",
                         [](Json& d) { d["request"]["userInfo"]["extra"]["k"] = "v"; }),
            core::InvalidArgumentError("AdmissionReview: request.userInfo.extra.k must be an "
                                       "array of strings, got string"));
}

TEST(EncodeAdmissionReviewTest, AllowEchoesVersionAndUidV1) {
  AdmissionRequest r = MustDecode(Fixture("configmap-update-v1.json"));
  auto out = EncodeAdmissionReview(r, AdmissionResponse{});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":)"
                  R"({"allowed":true,"uid":"5b42858d-2abb-4538-9e60-a4ae1d9c8508"}})");
}

TEST(EncodeAdmissionReviewTest, DenyEchoesVersionAndUidV1beta1) {
  AdmissionRequest r = MustDecode(Fixture("configmap-update-v1beta1.json"));
  AdmissionResponse resp;
  resp.allowed = false;
  resp.status = ResponseStatus{403, "data.q: <absent> → \"1\" is managed by Git", "Forbidden"};
  resp.warnings = {"first", "second"};
  resp.audit_annotations = {{"driftguard.io/decision", "deny"}};
  auto out = EncodeAdmissionReview(r, resp);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","response":)"
                  R"({"allowed":false,"auditAnnotations":{"driftguard.io/decision":"deny"},)"
                  R"("status":{"code":403,"message":"data.q: <absent> → \"1\" is managed by Git",)"
                  R"("reason":"Forbidden"},"uid":"21b6518a-a37e-4c1f-9a88-638acc8baf22",)"
                  R"("warnings":["first","second"]}})");
}

TEST(EncodeAdmissionReviewTest, PatchIsBase64JsonPatch) {
  AdmissionRequest r = MustDecode(Fixture("deployment-update-v1.json"));
  AdmissionResponse resp;
  resp.patch = Json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 3}}});
  auto out = EncodeAdmissionReview(r, resp);
  ASSERT_TRUE(out.ok()) << out.status();
  Json doc = Json::parse(*out);
  EXPECT_EQ(doc["response"]["patchType"], "JSONPatch");
  // base64 of [{"op":"replace","path":"/spec/replicas","value":3}]
  EXPECT_EQ(doc["response"]["patch"],
            "W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zcGVjL3JlcGxpY2FzIiwidmFsdWUiOjN9XQ==");
  EXPECT_EQ(doc["response"]["uid"], "9a3c1e7b-2f4d-4b8a-a1c6-5d7e8f901234");
  EXPECT_EQ(doc["apiVersion"], "admission.k8s.io/v1");
}

TEST(EncodeAdmissionReviewTest, EmptyPatchIsOmittedAndNonArrayRejected) {
  AdmissionRequest r = MustDecode(Fixture("configmap-update-v1.json"));
  AdmissionResponse resp;
  resp.patch = Json::array();
  auto out = EncodeAdmissionReview(r, resp);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->find("patch"), std::string::npos);
  resp.patch = Json::object();
  EXPECT_EQ(
      EncodeAdmissionReview(r, resp).status(),
      core::InvalidArgumentError("AdmissionResponse: patch must be a JSON array, got object"));
}

TEST(EncodeAdmissionReviewTest, InvalidUtf8InMessageIsRepairedNotThrown) {
  AdmissionRequest r = MustDecode(Fixture("configmap-update-v1.json"));
  AdmissionResponse resp;
  resp.warnings = {std::string("bad \xff byte")};
  auto out = EncodeAdmissionReview(r, resp);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Json::parse(*out)["response"]["warnings"][0], "bad \xEF\xBF\xBD byte");
}

TEST(EncodeAdmissionReviewTest, RoundTripEveryFixture) {
  for (const char* name :
       {"configmap-update-v1.json", "configmap-update-v1beta1.json", "deployment-update-v1.json",
        "deployment-update-v1beta1.json", "deployment-delete-v1.json", "deployment-scale-v1.json",
        "deployment-status-v1beta1.json", "configmap-create-v1.json", "service-dryrun-v1.json"}) {
    SCOPED_TRACE(name);
    Json in = Json::parse(Fixture(name));
    AdmissionRequest r = MustDecode(in.dump());
    auto out = EncodeAdmissionReview(r, AdmissionResponse{});
    ASSERT_TRUE(out.ok());
    Json doc = Json::parse(*out);
    EXPECT_EQ(doc["apiVersion"], in["apiVersion"]);
    EXPECT_EQ(doc["kind"], "AdmissionReview");
    EXPECT_EQ(doc["response"]["uid"], in["request"]["uid"]);
    EXPECT_EQ(doc["response"]["allowed"], true);
  }
}

}  // namespace
}  // namespace driftguard::webhook
