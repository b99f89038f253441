// Kinds <-> REST resources, from the API server's discovery documents.
//
// The API server names resources by plural ("deployments"); objects name their kind
// ("Deployment"). A RestMapper holds what discovery said: for each group/version/kind the plural,
// whether it is namespaced, its verbs and subresources. It is filled from the APIResourceList
// documents of /api/v1 and /apis/<group>/<version>.
//
//   RestMapper mapper;
//   RETURN_IF_ERROR(mapper.AddResourceList(resource_list_json));   // one per group/version
//   ASSIGN_OR_RETURN(ResourceMapping m, mapper.Find({"apps", "v1", "Deployment"}));
//   m.Path("default", "web");   // "/apis/apps/v1/namespaces/default/deployments/web"
//
// Thread safety: a RestMapper is a value; const methods may be called concurrently.
#ifndef DRIFTGUARD_CORE_REST_MAPPER_H_
#define DRIFTGUARD_CORE_REST_MAPPER_H_

#include <compare>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace driftguard::core {

struct GroupVersionKind {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;

  // From an object's apiVersion and kind.
  static GroupVersionKind FromObject(const Json& object);
  std::string ApiVersion() const;  // "apps/v1", "v1"
  // "Deployment.v1.apps", "ConfigMap.v1" — the form kubectl prints.
  std::string ToString() const;
  auto operator<=>(const GroupVersionKind&) const = default;
  bool operator==(const GroupVersionKind&) const = default;
};

struct ResourceMapping {
  GroupVersionKind gvk;
  std::string resource;  // plural: "deployments"
  std::string singular;  // "deployment" ("" when discovery gave none)
  bool namespaced = false;
  std::vector<std::string> verbs;
  std::vector<std::string> subresources;  // "status", "scale", ...

  bool HasSubresource(std::string_view name) const;
  // The collection or object path: "/api/v1/namespaces/<ns>/configmaps[/<name>[/<sub>]]";
  // `ns` is ignored for cluster-scoped resources; empty ns on a namespaced resource lists across
  // all namespaces. Names are used as given (API names are URL-safe).
  std::string Path(std::string_view ns, std::string_view name = "",
                   std::string_view subresource = "") const;
  // "deployments.apps" / "configmaps" — how the API server names the resource in messages.
  std::string QualifiedResource() const;
};

class RestMapper {
 public:
  // Adds the resources of one APIResourceList (its groupVersion names group and version).
  // Subresources ("deployments/status") attach to their parent. Returns InvalidArgument when the
  // document is not an APIResourceList.
  Status AddResourceList(const Json& list);

  // The mapping of `gvk`; NotFound "no resource for kind Deployment.v1.apps in discovery".
  StatusOr<ResourceMapping> Find(const GroupVersionKind& gvk) const;
  // By plural resource name within a group/version.
  StatusOr<ResourceMapping> FindResource(std::string_view group, std::string_view version,
                                         std::string_view resource) const;
  // All versions the mapper knows for group/kind, in discovery order.
  std::vector<ResourceMapping> FindAllVersions(std::string_view group, std::string_view kind) const;

  size_t size() const { return by_gvk_.size(); }

 private:
  std::map<GroupVersionKind, ResourceMapping> by_gvk_;
  std::vector<GroupVersionKind> order_;
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_REST_MAPPER_H_
