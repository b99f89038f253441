#include "webhook/admission.h"

#include <memory>
#include <utility>

namespace driftguard::webhook {
namespace {

using core::InvalidArgumentError;
using core::Json;
using core::JsonRef;
using core::Status;
using core::StatusOr;

constexpr std::string_view kV1 = "admission.k8s.io/v1";
constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";
constexpr std::string_view kPrefix = "AdmissionReview: ";

Status Invalid(std::string_view what) {
  std::string m(kPrefix);
  m += what;
  return InvalidArgumentError(std::move(m));
}

Status WrongType(std::string_view path, std::string_view want, const JsonRef& got) {
  std::string m(path);
  m += " must be ";
  m += want;
  m += ", got ";
  m += got.type_name();
  return Invalid(m);
}

// Reads parent[key] into *out. Absent or null leaves *out untouched (an error when `required`:
// "<path> is missing"); any other non-string is an error naming `path`.
Status ReadString(const JsonRef& parent, std::string_view key, std::string_view path, bool required,
                  std::string* out) {
  const JsonRef v = parent.Find(key);
  if (v.is_null()) {
    if (required) return Invalid(std::string(path) + " is missing");
    return core::OkStatus();
  }
  if (!v.is_string()) return WrongType(path, "a string", v);
  *out = v.string();
  return core::OkStatus();
}

Status ReadStringList(const JsonRef& parent, std::string_view key, std::string_view path,
                      std::vector<std::string>* out) {
  const JsonRef v = parent.Find(key);
  if (v.is_null()) return core::OkStatus();
  if (!v.is_array()) return WrongType(path, "an array of strings", v);
  out->reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return WrongType(path, "an array of strings", v);
    out->emplace_back(v[i].string());
  }
  return core::OkStatus();
}

// Returns parent[key] when it is an object, null when absent or null (an error when required).
StatusOr<JsonRef> FindObject(const JsonRef& parent, std::string_view key, std::string_view path,
                             bool required) {
  const JsonRef v = parent.Find(key);
  if (v.is_null()) {
    if (required) return Invalid(std::string(path) + " is missing");
    return JsonRef();
  }
  if (!v.is_object()) return WrongType(path, "an object", v);
  return v;
}

StatusOr<std::optional<GroupVersionKind>> ReadGvk(const JsonRef& request, std::string_view key,
                                                  bool required) {
  std::string path = "request." + std::string(key);
  ASSIGN_OR_RETURN(JsonRef obj, FindObject(request, key, path, required));
  if (obj.is_null()) return std::optional<GroupVersionKind>();
  GroupVersionKind gvk;
  RETURN_IF_ERROR(ReadString(obj, "group", path + ".group", false, &gvk.group));
  RETURN_IF_ERROR(ReadString(obj, "version", path + ".version", true, &gvk.version));
  RETURN_IF_ERROR(ReadString(obj, "kind", path + ".kind", true, &gvk.kind));
  return std::optional<GroupVersionKind>(std::move(gvk));
}

StatusOr<std::optional<GroupVersionResource>> ReadGvr(const JsonRef& request, std::string_view key,
                                                      bool required) {
  std::string path = "request." + std::string(key);
  ASSIGN_OR_RETURN(JsonRef obj, FindObject(request, key, path, required));
  if (obj.is_null()) return std::optional<GroupVersionResource>();
  GroupVersionResource gvr;
  RETURN_IF_ERROR(ReadString(obj, "group", path + ".group", false, &gvr.group));
  RETURN_IF_ERROR(ReadString(obj, "version", path + ".version", true, &gvr.version));
  RETURN_IF_ERROR(ReadString(obj, "resource", path + ".resource", true, &gvr.resource));
  return std::optional<GroupVersionResource>(std::move(gvr));
}

StatusOr<Operation> ParseOperation(std::string_view op) {
  if (op == "CREATE") return Operation::kCreate;
  if (op == "UPDATE") return Operation::kUpdate;
  if (op == "DELETE") return Operation::kDelete;
  if (op == "CONNECT") return Operation::kConnect;
  return Invalid("request.operation \"" + std::string(op) +
                 "\" is not one of CREATE, UPDATE, DELETE, CONNECT");
}

Status ReadUserInfo(const JsonRef& request, UserInfo* out) {
  ASSIGN_OR_RETURN(JsonRef info, FindObject(request, "userInfo", "request.userInfo", false));
  if (info.is_null()) return core::OkStatus();
  RETURN_IF_ERROR(ReadString(info, "username", "request.userInfo.username", false, &out->username));
  RETURN_IF_ERROR(ReadString(info, "uid", "request.userInfo.uid", false, &out->uid));
  RETURN_IF_ERROR(ReadStringList(info, "groups", "request.userInfo.groups", &out->groups));
  ASSIGN_OR_RETURN(JsonRef extra, FindObject(info, "extra", "request.userInfo.extra", false));
  for (size_t i = 0; i < extra.size(); ++i) {
    const std::string key(extra.key(i));
    std::vector<std::string>& values = out->extra[key];
    RETURN_IF_ERROR(ReadStringList(extra, key, "request.userInfo.extra." + key, &values));
  }
  return core::OkStatus();
}

// request[key] when it is an object; null when absent or null.
StatusOr<JsonRef> ObjectOrNull(const JsonRef& request, std::string_view key,
                               std::string_view path) {
  return FindObject(request, key, path, /*required=*/false);
}

// The members the decoder leaves out (see the header): managedFields and status of both objects.
constexpr std::string_view kOmittedMembers[] = {
    "/request/object/metadata/managedFields", "/request/oldObject/metadata/managedFields",
    "/request/object/status", "/request/oldObject/status"};

}  // namespace

std::string_view AdmissionApiVersion(AdmissionVersion version) {
  return version == AdmissionVersion::kV1 ? kV1 : kV1beta1;
}

std::string_view OperationName(Operation operation) {
  switch (operation) {
    case Operation::kCreate:
      return "CREATE";
    case Operation::kUpdate:
      return "UPDATE";
    case Operation::kDelete:
      return "DELETE";
    case Operation::kConnect:
      return "CONNECT";
  }
  return "UNKNOWN";
}

StatusOr<AdmissionRequest> DecodeAdmissionReview(std::string_view body) {
  ASSIGN_OR_RETURN(
      core::JsonDoc parsed,
      core::ParseJsonDoc(body, "AdmissionReview", core::JsonParseOptions{kOmittedMembers}));
  AdmissionRequest out;
  auto doc = std::make_shared<const core::JsonDoc>(std::move(parsed));
  const JsonRef root = doc->root();
  if (!root.is_object()) return WrongType("the body", "a JSON object", root);

  std::string api_version;
  RETURN_IF_ERROR(ReadString(root, "apiVersion", "apiVersion", true, &api_version));
  if (api_version == kV1) {
    out.api_version = AdmissionVersion::kV1;
  } else if (api_version == kV1beta1) {
    out.api_version = AdmissionVersion::kV1beta1;
  } else {
    return Invalid("unsupported apiVersion \"" + api_version + "\" (want " + std::string(kV1) +
                   " or " + std::string(kV1beta1) + ")");
  }
  std::string kind;
  RETURN_IF_ERROR(ReadString(root, "kind", "kind", true, &kind));
  if (kind != "AdmissionReview") {
    return Invalid("kind is \"" + kind + "\", want \"AdmissionReview\"");
  }

  const JsonRef request = root.Find("request");
  if (request.is_null()) return Invalid("missing \"request\"");
  if (!request.is_object()) return WrongType("request", "an object", request);

  RETURN_IF_ERROR(ReadString(request, "uid", "request.uid", true, &out.uid));
  if (out.uid.empty()) return Invalid("request.uid is empty");

  ASSIGN_OR_RETURN(std::optional<GroupVersionKind> gvk, ReadGvk(request, "kind", true));
  out.kind = std::move(*gvk);
  ASSIGN_OR_RETURN(std::optional<GroupVersionResource> gvr, ReadGvr(request, "resource", true));
  out.resource = std::move(*gvr);
  RETURN_IF_ERROR(
      ReadString(request, "subResource", "request.subResource", false, &out.sub_resource));
  ASSIGN_OR_RETURN(out.request_kind, ReadGvk(request, "requestKind", false));
  ASSIGN_OR_RETURN(out.request_resource, ReadGvr(request, "requestResource", false));
  RETURN_IF_ERROR(ReadString(request, "requestSubResource", "request.requestSubResource", false,
                             &out.request_sub_resource));
  RETURN_IF_ERROR(ReadString(request, "name", "request.name", false, &out.name));
  RETURN_IF_ERROR(ReadString(request, "namespace", "request.namespace", false, &out.namespace_));

  std::string operation;
  RETURN_IF_ERROR(ReadString(request, "operation", "request.operation", true, &operation));
  ASSIGN_OR_RETURN(out.operation, ParseOperation(operation));

  RETURN_IF_ERROR(ReadUserInfo(request, &out.user_info));

  const JsonRef dry_run = request.Find("dryRun");
  if (!dry_run.is_null()) {
    if (!dry_run.is_boolean()) return WrongType("request.dryRun", "a boolean", dry_run);
    out.dry_run = dry_run.boolean();
  }

  ASSIGN_OR_RETURN(out.object, ObjectOrNull(request, "object", "request.object"));
  ASSIGN_OR_RETURN(out.old_object, ObjectOrNull(request, "oldObject", "request.oldObject"));
  ASSIGN_OR_RETURN(out.options, ObjectOrNull(request, "options", "request.options"));
  out.document = std::move(doc);
  return out;
}

void AdmissionRequest::SetObjects(const Json& new_object, const Json& old) {
  auto doc = std::make_shared<const core::JsonDoc>(
      core::JsonDoc::FromJson(Json::array({new_object, old})));
  object = doc->root()[0];
  old_object = doc->root()[1];
  document = std::move(doc);
}

namespace {

// Appends `s` as a JSON string exactly as nlohmann's dump(-1, ' ', false, replace) writes it.
// Strings that are not valid UTF-8 go through nlohmann itself, whose repair rules then apply.
void AppendJsonString(std::string& out, std::string_view s) {
  if (!core::AppendJsonString(out, s, /*replace_invalid=*/false)) {
    out += Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

void AppendMember(std::string& out, bool& first, std::string_view key) {
  if (!first) out += ',';
  first = false;
  AppendJsonString(out, key);
  out += ':';
}

}  // namespace

// Written directly as text, with members in the sorted order a Json object would give them, so
// the bytes are exactly those of the Json-built document this replaced.
StatusOr<std::string> EncodeAdmissionReview(const AdmissionRequest& request,
                                            const AdmissionResponse& response) {
  if (!response.patch.is_null() && !response.patch.is_array()) {
    return InvalidArgumentError(std::string("AdmissionResponse: patch must be a JSON array, got ") +
                                response.patch.type_name());
  }
  std::string out;
  out.reserve(256 + (response.status ? response.status->message.size() : 0));
  out += "{\"apiVersion\":";
  AppendJsonString(out, AdmissionApiVersion(request.api_version));
  out += ",\"kind\":\"AdmissionReview\",\"response\":{\"allowed\":";
  out += response.allowed ? "true" : "false";
  if (!response.audit_annotations.empty()) {
    out += ",\"auditAnnotations\":{";
    bool first = true;
    for (const auto& [key, value] : response.audit_annotations) {
      AppendMember(out, first, key);
      AppendJsonString(out, value);
    }
    out += '}';
  }
  if (response.patch.is_array() && !response.patch.empty()) {
    out += ",\"patch\":";
    std::string patch;
    core::AppendJsonValue(patch, response.patch);
    AppendJsonString(out, Base64Encode(patch));
    out += ",\"patchType\":\"JSONPatch\"";
  }
  if (response.status.has_value()) {
    out += ",\"status\":{";
    bool first = true;
    if (response.status->code != 0) {
      AppendMember(out, first, "code");
      out += std::to_string(response.status->code);
    }
    if (!response.status->message.empty()) {
      AppendMember(out, first, "message");
      AppendJsonString(out, response.status->message);
    }
    if (!response.status->reason.empty()) {
      AppendMember(out, first, "reason");
      AppendJsonString(out, response.status->reason);
    }
    out += '}';
  }
  out += ",\"uid\":";
  AppendJsonString(out, request.uid);
  if (!response.warnings.empty()) {
    out += ",\"warnings\":[";
    for (size_t i = 0; i < response.warnings.size(); ++i) {
      if (i > 0) out += ',';
      AppendJsonString(out, response.warnings[i]);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace driftguard::webhook
