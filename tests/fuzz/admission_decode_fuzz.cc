// libFuzzer target for the webhook's request path: DecodeAdmissionReview, the guard and the
// response encoder must never crash, hang or leak on any input; every rejection has a reason;
// whatever decodes must be decided (on both endpoints, in enforce and revert mode) and encoded
// without error; and the field diff on the decoded JsonDoc must report exactly what the
// nlohmann-tree implementation it replaced reports for the same objects
// (tests/support/field_diff_reference).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/desired_state.h"
#include "core/field_diff.h"
#include "core/json.h"
#include "core/schema.h"
#include "tests/support/field_diff_reference.h"
#include "webhook/admission.h"
#include "webhook/guard.h"

namespace {

using driftguard::core::Json;
using namespace driftguard::webhook;

// A desired state for the seeds' objects: Kustomization flux-system/apps declares the podinfo
// Deployment (namespace demo) and a ConfigMap, as the captured reviews' owner labels name them.
struct World {
  driftguard::core::DesiredStateStore store;
  std::unique_ptr<Guard> enforce;
  std::unique_ptr<Guard> revert;

  World() {
    Json deployment = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"podinfo","namespace":"demo"},
      "spec":{"replicas":3,"selector":{"matchLabels":{"app.kubernetes.io/name":"podinfo"}},
        "template":{"spec":{"containers":[{"name":"podinfo",
          "image":"ghcr.io/stefanprodan/podinfo:6.5.4","ports":[{"containerPort":9898}]}]}}}})");
    Json config_map = Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"app-config","namespace":"demo"},"data":{"LOG_LEVEL":"info"}})");
    std::vector<driftguard::core::DesiredObject> objects;
    for (Json* o : {&deployment, &config_map}) {
      driftguard::core::DesiredObject d;
      d.ref = driftguard::core::ObjectRef::FromObject(*o);
      d.object = *o;
      d.origins = {{"", {"apps/objects.yaml", 1}}, {"/spec/replicas", {"apps/objects.yaml", 7}}};
      objects.push_back(std::move(d));
    }
    driftguard::core::SnapshotInfo info;
    info.commit = "0123456789abcdef0123456789abcdef01234567";
    info.built_at = std::chrono::system_clock::now();
    info.kustomization = Json::parse(R"({"apiVersion":"kustomize.toolkit.fluxcd.io/v1",
      "kind":"Kustomization","metadata":{"name":"apps","namespace":"flux-system"},
      "spec":{"path":"./apps"}})");
    auto snap =
        driftguard::core::DesiredSnapshot::Build({"flux-system", "apps"}, info, std::move(objects));
    if (!snap.ok()) __builtin_trap();
    store.Publish(*snap);
    GuardConfig config;
    config.break_glass_groups = {"platform:break-glass"};
    enforce = std::make_unique<Guard>(config, &store, nullptr);
    config.default_mode = GuardMode::kRevert;
    revert = std::make_unique<Guard>(config, &store, nullptr);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  auto request = DecodeAdmissionReview(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!request.ok()) {
    if (request.status().message().empty()) __builtin_trap();  // every rejection has a reason
    return 0;
  }
  if (request->uid.empty()) __builtin_trap();  // the decoder's contract

  // The diff on the decoded document equals the reference diff on Json trees.
  const auto* schema = driftguard::core::Schema::ForApiVersionKind(
      request->object.Find("apiVersion").string(), request->object.Find("kind").string());
  driftguard::core::DiffOptions options;
  options.ignored_pointers = {"/status", "/metadata/resourceVersion"};
  const Json a = request->old_object.ToJson();
  const Json b = request->object.ToJson();
  if (driftguard::testing::RenderChanges(
          driftguard::core::DiffObjects(request->old_object, request->object, schema, options)) !=
      driftguard::testing::RenderChanges(
          driftguard::testing::DiffObjectsOnJsonTrees(a, b, schema, options))) {
    __builtin_trap();
  }

  for (Guard* guard : {world->enforce.get(), world->revert.get()}) {
    for (Endpoint endpoint : {Endpoint::kValidate, Endpoint::kMutate}) {
      GuardDecision d = guard->Decide(*request, endpoint);
      if (d.decision.empty()) __builtin_trap();
      if (!d.response.allowed && !d.response.status) __builtin_trap();  // a denial says why
      auto encoded = EncodeAdmissionReview(*request, d.response);
      if (!encoded.ok()) __builtin_trap();
    }
  }

  AdmissionResponse response;
  response.allowed = false;
  response.status = ResponseStatus{403, request->name, "Forbidden"};
  response.warnings.push_back(request->user_info.username);
  if (!request->object.is_null()) {
    response.patch = Json::array({{{"op", "replace"}, {"path", "/metadata"}, {"value", b}}});
  }
  auto encoded = EncodeAdmissionReview(*request, response);
  if (!encoded.ok()) __builtin_trap();
  return 0;
}
