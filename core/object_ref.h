// Object identity: group, version, kind, namespace, name.
//
// Two forms matter: the (group, kind, namespace, name) key by which desired and live objects are
// matched (version is not part of identity: apps/v1 and apps/v1beta2 Deployments are one object),
// and Flux's inventory id "<namespace>_<name>_<group>_<kind>" (empty fields stay empty:
// "_my-ns__Namespace" for a Namespace, "default_web_apps_Deployment").
//
//   ObjectRef ref = ObjectRef::FromObject(obj);   // reads apiVersion, kind, metadata
//   std::string id = ref.InventoryId();           // "default_web_apps_Deployment"
#ifndef DRIFTGUARD_CORE_OBJECT_REF_H_
#define DRIFTGUARD_CORE_OBJECT_REF_H_

#include <compare>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/json_doc.h"
#include "core/status.h"

namespace driftguard::core {

struct GroupVersion {
  std::string group;  // "" for the core group
  std::string version;
  // "apps/v1" -> {apps, v1}; "v1" -> {"", v1}.
  static GroupVersion Parse(std::string_view api_version);
  std::string ApiVersion() const;  // inverse of Parse
};

struct ObjectRef {
  std::string group;
  std::string version;
  std::string kind;
  std::string namespace_;  // empty for cluster-scoped objects
  std::string name;

  // Reads apiVersion, kind, metadata.namespace and metadata.name; missing fields stay empty.
  static ObjectRef FromObject(const Json& object);
  static ObjectRef FromObject(const JsonRef& object);
  // Parses "<ns>_<name>_<group>_<kind>". Names and namespaces cannot hold '_' (DNS labels and
  // subdomains), groups cannot either, so the split is unambiguous.
  static StatusOr<ObjectRef> ParseInventoryId(std::string_view id);

  std::string ApiVersion() const;
  std::string InventoryId() const;
  // Human form for messages: "Deployment/default/web" or "Namespace/prod" (cluster-scoped).
  std::string ToString() const;

  // Identity ignores version.
  bool SameObject(const ObjectRef& other) const {
    return group == other.group && kind == other.kind && namespace_ == other.namespace_ &&
           name == other.name;
  }
};

// Key by which objects are indexed: everything but the version.
struct ObjectKey {
  std::string group;
  std::string kind;
  std::string namespace_;
  std::string name;

  static ObjectKey Of(const ObjectRef& ref) {
    return {ref.group, ref.kind, ref.namespace_, ref.name};
  }
  auto operator<=>(const ObjectKey&) const = default;
  bool operator==(const ObjectKey&) const = default;
};

struct ObjectKeyHash {
  size_t operator()(const ObjectKey& k) const noexcept;
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_OBJECT_REF_H_
