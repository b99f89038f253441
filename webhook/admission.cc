#include "webhook/admission.h"

#include <utility>

namespace driftguard::webhook {
namespace {

using core::InvalidArgumentError;
using core::Json;
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

Status WrongType(std::string_view path, std::string_view want, const Json& got) {
  std::string m(path);
  m += " must be ";
  m += want;
  m += ", got ";
  m += got.type_name();
  return Invalid(m);
}

// Reads parent[key] into *out. Absent or null leaves *out untouched (an error when `required`:
// "<path> is missing"); any other non-string is an error naming `path`.
Status ReadString(const Json& parent, std::string_view key, std::string_view path, bool required,
                  std::string* out) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    if (required) return Invalid(std::string(path) + " is missing");
    return core::OkStatus();
  }
  if (!it->is_string()) return WrongType(path, "a string", *it);
  *out = it->get_ref<const std::string&>();
  return core::OkStatus();
}

Status ReadStringList(const Json& parent, std::string_view key, std::string_view path,
                      std::vector<std::string>* out) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return core::OkStatus();
  if (!it->is_array()) return WrongType(path, "an array of strings", *it);
  out->reserve(it->size());
  for (const Json& item : *it) {
    if (!item.is_string()) return WrongType(path, "an array of strings", *it);
    out->push_back(item.get_ref<const std::string&>());
  }
  return core::OkStatus();
}

// Returns parent[key] when it is an object, nullptr when absent or null (an error when required).
StatusOr<const Json*> FindObject(const Json& parent, std::string_view key, std::string_view path,
                                 bool required) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    if (required) return Invalid(std::string(path) + " is missing");
    return static_cast<const Json*>(nullptr);
  }
  if (!it->is_object()) return WrongType(path, "an object", *it);
  return &*it;
}

StatusOr<std::optional<GroupVersionKind>> ReadGvk(const Json& request, std::string_view key,
                                                  bool required) {
  std::string path = "request." + std::string(key);
  ASSIGN_OR_RETURN(const Json* obj, FindObject(request, key, path, required));
  if (obj == nullptr) return std::optional<GroupVersionKind>();
  GroupVersionKind gvk;
  RETURN_IF_ERROR(ReadString(*obj, "group", path + ".group", false, &gvk.group));
  RETURN_IF_ERROR(ReadString(*obj, "version", path + ".version", true, &gvk.version));
  RETURN_IF_ERROR(ReadString(*obj, "kind", path + ".kind", true, &gvk.kind));
  return std::optional<GroupVersionKind>(std::move(gvk));
}

StatusOr<std::optional<GroupVersionResource>> ReadGvr(const Json& request, std::string_view key,
                                                      bool required) {
  std::string path = "request." + std::string(key);
  ASSIGN_OR_RETURN(const Json* obj, FindObject(request, key, path, required));
  if (obj == nullptr) return std::optional<GroupVersionResource>();
  GroupVersionResource gvr;
  RETURN_IF_ERROR(ReadString(*obj, "group", path + ".group", false, &gvr.group));
  RETURN_IF_ERROR(ReadString(*obj, "version", path + ".version", true, &gvr.version));
  RETURN_IF_ERROR(ReadString(*obj, "resource", path + ".resource", true, &gvr.resource));
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

Status ReadUserInfo(const Json& request, UserInfo* out) {
  ASSIGN_OR_RETURN(const Json* info, FindObject(request, "userInfo", "request.userInfo", false));
  if (info == nullptr) return core::OkStatus();
  RETURN_IF_ERROR(
      ReadString(*info, "username", "request.userInfo.username", false, &out->username));
  RETURN_IF_ERROR(ReadString(*info, "uid", "request.userInfo.uid", false, &out->uid));
  RETURN_IF_ERROR(ReadStringList(*info, "groups", "request.userInfo.groups", &out->groups));
  ASSIGN_OR_RETURN(const Json* extra, FindObject(*info, "extra", "request.userInfo.extra", false));
  if (extra != nullptr) {
    for (auto it = extra->begin(); it != extra->end(); ++it) {
      std::vector<std::string>& values = out->extra[it.key()];
      RETURN_IF_ERROR(
          ReadStringList(*extra, it.key(), "request.userInfo.extra." + it.key(), &values));
    }
  }
  return core::OkStatus();
}

// Moves request[key] out when it is an object; null/absent leaves *out null.
Status TakeObject(Json& request, std::string_view key, std::string_view path, Json* out) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return core::OkStatus();
  if (!it->is_object()) return WrongType(path, "an object", *it);
  *out = std::move(*it);
  return core::OkStatus();
}

// Builds the review's DOM in one pass, leaving out metadata.managedFields of request.object and
// request.oldObject (see the header). Follows nlohmann's SAX interface.
class ReviewDomBuilder {
 public:
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit ReviewDomBuilder(Json* root) : root_(root) {}

  bool null() { return Put(nullptr); }
  bool boolean(bool v) { return Put(v); }
  bool number_integer(Json::number_integer_t v) { return Put(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return Put(v); }
  bool number_float(Json::number_float_t v, const string_t&) { return Put(v); }
  bool string(string_t& v) { return Put(std::move(v)); }
  bool binary(binary_t& v) { return Put(Json::binary(std::move(v))); }

  bool start_object(std::size_t) { return Open(Json::object()); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(string_t& k) {
    if (skip_depth_ > 0) return true;
    if (levels_.back().tag == Tag::kMetadata && k == "managedFields") {
      skip_next_ = true;
      return true;
    }
    pending_key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  // Where an open container sits: only the path root/request/{object,oldObject}/metadata matters.
  enum class Tag { kOther, kRoot, kRequest, kObject, kMetadata };
  struct Level {
    Json* value;
    Tag tag;
  };

  Tag ChildTag() const {
    if (levels_.empty()) return Tag::kRoot;
    if (!levels_.back().value->is_object()) return Tag::kOther;
    switch (levels_.back().tag) {
      case Tag::kRoot:
        return pending_key_ == "request" ? Tag::kRequest : Tag::kOther;
      case Tag::kRequest:
        return pending_key_ == "object" || pending_key_ == "oldObject" ? Tag::kObject : Tag::kOther;
      case Tag::kObject:
        return pending_key_ == "metadata" ? Tag::kMetadata : Tag::kOther;
      default:
        return Tag::kOther;
    }
  }

  // Places `v` in the current container (or as the root) and returns where it landed.
  Json* Place(Json&& v) {
    if (levels_.empty()) {
      *root_ = std::move(v);
      return root_;
    }
    Json* parent = levels_.back().value;
    if (parent->is_array()) {
      parent->push_back(std::move(v));
      return &parent->back();
    }
    Json& slot = (*parent)[pending_key_];
    slot = std::move(v);
    return &slot;
  }

  template <typename V>
  bool Put(V&& v) {
    if (skip_depth_ > 0) return true;
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    Place(Json(std::forward<V>(v)));
    return true;
  }

  bool Open(Json&& empty) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return true;
    }
    if (skip_next_) {
      skip_next_ = false;
      skip_depth_ = 1;
      return true;
    }
    Tag tag = ChildTag();
    levels_.push_back({Place(std::move(empty)), tag});
    return true;
  }

  bool Close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    levels_.pop_back();
    return true;
  }

  Json* root_;
  std::vector<Level> levels_;
  std::string pending_key_;
  bool skip_next_ = false;
  int skip_depth_ = 0;
};

StatusOr<Json> ParseReview(std::string_view body) {
  Json doc;
  ReviewDomBuilder builder(&doc);
  bool ok =
      Json::sax_parse(body.begin(), body.end(), &builder, nlohmann::detail::input_format_t::json,
                      /*strict=*/true);
  if (!ok) {
    // Errors are rare: let the shared parser produce the message with the byte offset.
    StatusOr<Json> again = core::ParseJson(body, "AdmissionReview");
    if (!again.ok()) return again.status();
    return InvalidArgumentError("AdmissionReview: invalid JSON");
  }
  return doc;
}

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
  ASSIGN_OR_RETURN(Json doc, ParseReview(body));
  if (!doc.is_object()) return WrongType("the body", "a JSON object", doc);

  AdmissionRequest out;
  std::string api_version;
  RETURN_IF_ERROR(ReadString(doc, "apiVersion", "apiVersion", true, &api_version));
  if (api_version == kV1) {
    out.api_version = AdmissionVersion::kV1;
  } else if (api_version == kV1beta1) {
    out.api_version = AdmissionVersion::kV1beta1;
  } else {
    return Invalid("unsupported apiVersion \"" + api_version + "\" (want " + std::string(kV1) +
                   " or " + std::string(kV1beta1) + ")");
  }
  std::string kind;
  RETURN_IF_ERROR(ReadString(doc, "kind", "kind", true, &kind));
  if (kind != "AdmissionReview") {
    return Invalid("kind is \"" + kind + "\", want \"AdmissionReview\"");
  }

  auto request_it = doc.find("request");
  if (request_it == doc.end() || request_it->is_null()) return Invalid("missing \"request\"");
  if (!request_it->is_object()) return WrongType("request", "an object", *request_it);
  Json& request = *request_it;

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

  auto dry_run = request.find("dryRun");
  if (dry_run != request.end() && !dry_run->is_null()) {
    if (!dry_run->is_boolean()) return WrongType("request.dryRun", "a boolean", *dry_run);
    out.dry_run = dry_run->get<bool>();
  }

  RETURN_IF_ERROR(TakeObject(request, "object", "request.object", &out.object));
  RETURN_IF_ERROR(TakeObject(request, "oldObject", "request.oldObject", &out.old_object));
  RETURN_IF_ERROR(TakeObject(request, "options", "request.options", &out.options));
  return out;
}

std::string Base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8) |
                 static_cast<uint8_t>(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

StatusOr<std::string> EncodeAdmissionReview(const AdmissionRequest& request,
                                            const AdmissionResponse& response) {
  if (!response.patch.is_null() && !response.patch.is_array()) {
    return InvalidArgumentError(std::string("AdmissionResponse: patch must be a JSON array, got ") +
                                response.patch.type_name());
  }
  constexpr auto kReplace = Json::error_handler_t::replace;
  Json out_response = Json::object();
  out_response["uid"] = request.uid;
  out_response["allowed"] = response.allowed;
  if (response.status.has_value()) {
    Json status = Json::object();
    if (response.status->code != 0) status["code"] = response.status->code;
    if (!response.status->message.empty()) status["message"] = response.status->message;
    if (!response.status->reason.empty()) status["reason"] = response.status->reason;
    out_response["status"] = std::move(status);
  }
  if (!response.warnings.empty()) out_response["warnings"] = response.warnings;
  if (response.patch.is_array() && !response.patch.empty()) {
    out_response["patchType"] = "JSONPatch";
    out_response["patch"] = Base64Encode(response.patch.dump(-1, ' ', false, kReplace));
  }
  if (!response.audit_annotations.empty()) {
    out_response["auditAnnotations"] = response.audit_annotations;
  }
  Json review = Json::object();
  review["apiVersion"] = AdmissionApiVersion(request.api_version);
  review["kind"] = "AdmissionReview";
  review["response"] = std::move(out_response);
  return review.dump(-1, ' ', false, kReplace);
}

}  // namespace driftguard::webhook
