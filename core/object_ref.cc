#include "core/object_ref.h"

#include <functional>
#include <vector>

namespace driftguard::core {
namespace {

std::string StringAt(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

GroupVersion GroupVersion::Parse(std::string_view api_version) {
  size_t slash = api_version.find('/');
  if (slash == std::string_view::npos) return {"", std::string(api_version)};
  return {std::string(api_version.substr(0, slash)), std::string(api_version.substr(slash + 1))};
}

std::string GroupVersion::ApiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

ObjectRef ObjectRef::FromObject(const JsonRef& object) {
  ObjectRef ref;
  if (!object.is_object()) return ref;
  GroupVersion gv = GroupVersion::Parse(object.Find("apiVersion").string());
  ref.group = std::move(gv.group);
  ref.version = std::move(gv.version);
  ref.kind = object.Find("kind").string();
  const JsonRef meta = object.Find("metadata");
  ref.namespace_ = meta.Find("namespace").string();
  ref.name = meta.Find("name").string();
  return ref;
}

ObjectRef ObjectRef::FromObject(const Json& object) {
  ObjectRef ref;
  if (!object.is_object()) return ref;
  GroupVersion gv = GroupVersion::Parse(StringAt(object, "apiVersion"));
  ref.group = std::move(gv.group);
  ref.version = std::move(gv.version);
  ref.kind = StringAt(object, "kind");
  auto meta = object.find("metadata");
  if (meta != object.end() && meta->is_object()) {
    ref.namespace_ = StringAt(*meta, "namespace");
    ref.name = StringAt(*meta, "name");
  }
  return ref;
}

StatusOr<ObjectRef> ObjectRef::ParseInventoryId(std::string_view id) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= id.size(); ++i) {
    if (i == id.size() || id[i] == '_') {
      parts.push_back(id.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 4) {
    return InvalidArgumentError("inventory id '" + std::string(id) +
                                "' is not of the form <namespace>_<name>_<group>_<kind>");
  }
  if (parts[1].empty() || parts[3].empty()) {
    return InvalidArgumentError("inventory id '" + std::string(id) + "' has an empty name or kind");
  }
  ObjectRef ref;
  ref.namespace_ = std::string(parts[0]);
  ref.name = std::string(parts[1]);
  ref.group = std::string(parts[2]);
  ref.kind = std::string(parts[3]);
  return ref;
}

std::string ObjectRef::ApiVersion() const { return GroupVersion{group, version}.ApiVersion(); }

std::string ObjectRef::InventoryId() const {
  return namespace_ + "_" + name + "_" + group + "_" + kind;
}

std::string ObjectRef::ToString() const {
  std::string out = kind;
  out += '/';
  if (!namespace_.empty()) {
    out += namespace_;
    out += '/';
  }
  out += name;
  return out;
}

size_t ObjectKeyHash::operator()(const ObjectKey& k) const noexcept {
  std::hash<std::string> h;
  size_t seed = h(k.name);
  for (const std::string* s : {&k.namespace_, &k.kind, &k.group}) {
    seed ^= h(*s) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  }
  return seed;
}

}  // namespace driftguard::core
