// The AdmissionReview codec: admission.k8s.io/v1 and v1beta1 JSON <-> AdmissionRequest/Response.
//
// The API server POSTs an AdmissionReview holding a `request`; the webhook answers with an
// AdmissionReview holding a `response` in the same apiVersion that echoes the request's uid. Both
// versions share one wire shape for everything driftguard reads and writes, so one struct serves
// both; `AdmissionRequest::api_version` remembers which one arrived.
//
//   ASSIGN_OR_RETURN(AdmissionRequest request, DecodeAdmissionReview(body));
//   AdmissionResponse response;
//   response.allowed = false;
//   response.status = ResponseStatus{403, "spec.replicas is managed by Git", "Forbidden"};
//   ASSIGN_OR_RETURN(std::string out, EncodeAdmissionReview(request, response));
//
// Cost: decoding parses the body once into a core::JsonDoc (a few flat arrays, core/json_doc.h);
// `object` and `oldObject` are views into it, never copied or re-serialized, and the guard reads
// them in place. `metadata.managedFields` and `status` of `object` and `oldObject` are skipped
// while parsing and are absent from the decoded objects: they are never part of drift (DESIGN.md,
// ignored paths; `*/status` requests are never guarded) and make up half or more of a review's
// bytes. Encoding serializes only the response (and the patch,
// which is base64-encoded as the API requires).
//
// Thread safety: the functions are pure and may run concurrently.
#ifndef DRIFTGUARD_WEBHOOK_ADMISSION_H_
#define DRIFTGUARD_WEBHOOK_ADMISSION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base64.h"
#include "core/json.h"
#include "core/json_doc.h"
#include "core/status.h"

namespace driftguard::webhook {

enum class AdmissionVersion { kV1, kV1beta1 };

// "admission.k8s.io/v1" / "admission.k8s.io/v1beta1".
std::string_view AdmissionApiVersion(AdmissionVersion version);

enum class Operation { kCreate, kUpdate, kDelete, kConnect };

// "CREATE", "UPDATE", "DELETE", "CONNECT".
std::string_view OperationName(Operation operation);

struct GroupVersionKind {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  bool operator==(const GroupVersionKind&) const = default;
};

struct GroupVersionResource {
  std::string group;
  std::string version;
  std::string resource;  // plural, e.g. "deployments"
  bool operator==(const GroupVersionResource&) const = default;
};

// Who made the request, as authenticated by the API server.
struct UserInfo {
  std::string username;  // e.g. "admin", "system:serviceaccount:flux-system:kustomize-controller"
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

struct AdmissionRequest {
  AdmissionVersion api_version = AdmissionVersion::kV1;  // of the review that carried it
  std::string uid;                                       // never empty after decoding
  GroupVersionKind kind;          // of `object`/`oldObject` (e.g. autoscaling/v1 Scale)
  GroupVersionResource resource;  // the resource addressed (e.g. apps/v1 deployments)
  std::string sub_resource;       // "" for the main resource, "scale", "status", ...
  // The original request before the API server converted it to the webhook's registered version;
  // absent in v1beta1 reviews from old API servers.
  std::optional<GroupVersionKind> request_kind;
  std::optional<GroupVersionResource> request_resource;
  std::string request_sub_resource;
  std::string name;        // may be empty on CREATE with generateName
  std::string namespace_;  // empty for cluster-scoped resources
  Operation operation = Operation::kCreate;
  UserInfo user_info;
  // The objects as sent, minus metadata.managedFields and status (see above), and the options:
  // views into
  // `document`, which copies of the request share (it is immutable).
  core::JsonRef object;      // null when absent (DELETE)
  core::JsonRef old_object;  // null when absent (CREATE, CONNECT)
  core::JsonRef options;     // CreateOptions/UpdateOptions/DeleteOptions, or null
  std::shared_ptr<const core::JsonDoc> document;
  bool dry_run = false;

  // Points object/old_object at copies of the given values (null: absent), in a document of their
  // own; for requests built in code (tests, the demo).
  void SetObjects(const core::Json& new_object, const core::Json& old);
};

// Parses an AdmissionReview request body. Errors are InvalidArgument with a reason meant to be
// returned to the caller as-is (the server sends it with HTTP 400), e.g.
//   AdmissionReview: missing "request"
//   AdmissionReview: unsupported apiVersion "admission.k8s.io/v2" (want admission.k8s.io/v1 or
//   admission.k8s.io/v1beta1)
// Never throws.
core::StatusOr<AdmissionRequest> DecodeAdmissionReview(std::string_view body);

// `status` of a response; shown to the user by kubectl when a request is denied.
struct ResponseStatus {
  int32_t code = 0;     // HTTP-like code, e.g. 403; 0 omits it
  std::string message;  // the sentence kubectl prints
  std::string reason;   // machine-readable, e.g. "Forbidden"; "" omits it
};

// The webhook's answer. There is no uid field: EncodeAdmissionReview always echoes the request's
// uid, so an answer can never be attached to the wrong request.
struct AdmissionResponse {
  bool allowed = true;
  std::optional<ResponseStatus> status;
  std::vector<std::string> warnings;  // shown by kubectl as "Warning: ..."
  // JSONPatch (RFC 6902) operations as a JSON array, e.g.
  // [{"op":"replace","path":"/spec/replicas","value":3}]. null or [] means no patch.
  core::Json patch;
  std::map<std::string, std::string> audit_annotations;
};

// Serializes `response` as an AdmissionReview in `request.api_version` carrying `request.uid`.
// The patch is sent base64-encoded with patchType "JSONPatch". Strings that are not valid UTF-8
// are repaired (U+FFFD) rather than rejected. Error (InvalidArgument) only when `patch` is neither
// null nor an array. Never throws.
core::StatusOr<std::string> EncodeAdmissionReview(const AdmissionRequest& request,
                                                  const AdmissionResponse& response);

// `patch` is standard base64 (core/base64.h), as the API server expects.
using core::Base64Encode;

}  // namespace driftguard::webhook

#endif  // DRIFTGUARD_WEBHOOK_ADMISSION_H_
