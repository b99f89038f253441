#include "webhook/admission.h"

#include <memory>
#include <type_traits>
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

// A member's path for error messages ("request.kind.version"): up to three names, joined only
// when an error names them, so a valid review builds no strings for the paths it reads. The last
// name is the member itself.
struct Path {
  std::string_view parent;  // "" at the root
  std::string_view key;
  std::string_view member;  // "" when `key` is the member

  std::string_view leaf() const { return member.empty() ? key : member; }

  std::string str() const {
    std::string out(parent);
    for (std::string_view part : {key, member}) {
      if (part.empty()) continue;
      if (!out.empty()) out += '.';
      out += part;
    }
    return out;
  }
};

Status WrongType(const Path& path, std::string_view want, const JsonRef& got) {
  std::string m = path.str();
  m += " must be ";
  m += want;
  m += ", got ";
  m += got.type_name();
  return Invalid(m);
}

Status Missing(const Path& path) { return Invalid(path.str() + " is missing"); }

// Reads parent[path.leaf()] into *out. Absent or null leaves *out untouched (an error when
// `required`: "<path> is missing"); any other non-string is an error naming the path.
Status ReadString(const JsonRef& parent, const Path& path, bool required, std::string* out) {
  const JsonRef v = parent.Find(path.leaf());
  if (v.is_null()) {
    if (required) return Missing(path);
    return core::OkStatus();
  }
  if (!v.is_string()) return WrongType(path, "a string", v);
  out->assign(v.string());
  return core::OkStatus();
}

Status ReadStringList(const JsonRef& parent, const Path& path, std::vector<std::string>* out) {
  const JsonRef v = parent.Find(path.leaf());
  if (v.is_null()) return core::OkStatus();
  if (!v.is_array()) return WrongType(path, "an array of strings", v);
  out->reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return WrongType(path, "an array of strings", v);
    out->emplace_back(v[i].string());
  }
  return core::OkStatus();
}

// Returns parent[path.leaf()] when it is an object, null when absent or null (an error when
// required).
StatusOr<JsonRef> FindObject(const JsonRef& parent, const Path& path, bool required) {
  const JsonRef v = parent.Find(path.leaf());
  if (v.is_null()) {
    if (required) return Missing(path);
    return JsonRef();
  }
  if (!v.is_object()) return WrongType(path, "an object", v);
  return v;
}

// request.<key> as a GroupVersionKind or GroupVersionResource.
template <typename T>
StatusOr<std::optional<T>> ReadGroupVersion(const JsonRef& request, std::string_view key,
                                            bool required) {
  const Path path{"request", key, {}};
  ASSIGN_OR_RETURN(JsonRef obj, FindObject(request, path, required));
  if (obj.is_null()) return std::optional<T>();
  T out;
  const auto read = [&](std::string_view member, bool member_required, std::string* field) {
    return ReadString(obj, Path{"request", key, member}, member_required, field);
  };
  RETURN_IF_ERROR(read("group", false, &out.group));
  RETURN_IF_ERROR(read("version", true, &out.version));
  if constexpr (std::is_same_v<T, GroupVersionKind>) {
    RETURN_IF_ERROR(read("kind", true, &out.kind));
  } else {
    RETURN_IF_ERROR(read("resource", true, &out.resource));
  }
  return std::optional<T>(std::move(out));
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
  ASSIGN_OR_RETURN(JsonRef info, FindObject(request, {"request", "userInfo", {}}, false));
  if (info.is_null()) return core::OkStatus();
  constexpr std::string_view kAt = "request.userInfo";
  RETURN_IF_ERROR(ReadString(info, {kAt, "username", {}}, false, &out->username));
  RETURN_IF_ERROR(ReadString(info, {kAt, "uid", {}}, false, &out->uid));
  RETURN_IF_ERROR(ReadStringList(info, {kAt, "groups", {}}, &out->groups));
  ASSIGN_OR_RETURN(JsonRef extra, FindObject(info, {kAt, "extra", {}}, false));
  for (size_t i = 0; i < extra.size(); ++i) {
    const std::string key(extra.key(i));
    std::vector<std::string>& values = out->extra[key];
    RETURN_IF_ERROR(ReadStringList(extra, {"request.userInfo.extra", key, {}}, &values));
  }
  return core::OkStatus();
}

// request[key] when it is an object; null when absent or null.
StatusOr<JsonRef> ObjectOrNull(const JsonRef& request, std::string_view key) {
  return FindObject(request, {"request", key, {}}, /*required=*/false);
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
  if (!root.is_object()) return WrongType({{}, "the body", {}}, "a JSON object", root);

  std::string api_version;
  RETURN_IF_ERROR(ReadString(root, {{}, "apiVersion", {}}, true, &api_version));
  if (api_version == kV1) {
    out.api_version = AdmissionVersion::kV1;
  } else if (api_version == kV1beta1) {
    out.api_version = AdmissionVersion::kV1beta1;
  } else {
    return Invalid("unsupported apiVersion \"" + api_version + "\" (want " + std::string(kV1) +
                   " or " + std::string(kV1beta1) + ")");
  }
  std::string kind;
  RETURN_IF_ERROR(ReadString(root, {{}, "kind", {}}, true, &kind));
  if (kind != "AdmissionReview") {
    return Invalid("kind is \"" + kind + "\", want \"AdmissionReview\"");
  }

  const JsonRef request = root.Find("request");
  if (request.is_null()) return Invalid("missing \"request\"");
  if (!request.is_object()) return WrongType({{}, "request", {}}, "an object", request);

  RETURN_IF_ERROR(ReadString(request, {"request", "uid", {}}, true, &out.uid));
  if (out.uid.empty()) return Invalid("request.uid is empty");

  ASSIGN_OR_RETURN(std::optional<GroupVersionKind> gvk,
                   ReadGroupVersion<GroupVersionKind>(request, "kind", true));
  out.kind = std::move(*gvk);
  ASSIGN_OR_RETURN(std::optional<GroupVersionResource> gvr,
                   ReadGroupVersion<GroupVersionResource>(request, "resource", true));
  out.resource = std::move(*gvr);
  RETURN_IF_ERROR(ReadString(request, {"request", "subResource", {}}, false, &out.sub_resource));
  ASSIGN_OR_RETURN(out.request_kind,
                   ReadGroupVersion<GroupVersionKind>(request, "requestKind", false));
  ASSIGN_OR_RETURN(out.request_resource,
                   ReadGroupVersion<GroupVersionResource>(request, "requestResource", false));
  RETURN_IF_ERROR(
      ReadString(request, {"request", "requestSubResource", {}}, false, &out.request_sub_resource));
  RETURN_IF_ERROR(ReadString(request, {"request", "name", {}}, false, &out.name));
  RETURN_IF_ERROR(ReadString(request, {"request", "namespace", {}}, false, &out.namespace_));

  std::string operation;
  RETURN_IF_ERROR(ReadString(request, {"request", "operation", {}}, true, &operation));
  ASSIGN_OR_RETURN(out.operation, ParseOperation(operation));

  RETURN_IF_ERROR(ReadUserInfo(request, &out.user_info));

  const JsonRef dry_run = request.Find("dryRun");
  if (!dry_run.is_null()) {
    if (!dry_run.is_boolean()) return WrongType({"request", "dryRun", {}}, "a boolean", dry_run);
    out.dry_run = dry_run.boolean();
  }

  ASSIGN_OR_RETURN(out.object, ObjectOrNull(request, "object"));
  ASSIGN_OR_RETURN(out.old_object, ObjectOrNull(request, "oldObject"));
  ASSIGN_OR_RETURN(out.options, ObjectOrNull(request, "options"));
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
