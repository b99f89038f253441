#include "core/rest_mapper.h"

#include <algorithm>

#include "core/object_ref.h"

namespace driftguard::core {

GroupVersionKind GroupVersionKind::FromObject(const Json& object) {
  GroupVersionKind gvk;
  if (!object.is_object()) return gvk;
  if (auto it = object.find("apiVersion"); it != object.end() && it->is_string()) {
    GroupVersion gv = GroupVersion::Parse(it->get<std::string>());
    gvk.group = gv.group;
    gvk.version = gv.version;
  }
  if (auto it = object.find("kind"); it != object.end() && it->is_string()) {
    gvk.kind = it->get<std::string>();
  }
  return gvk;
}

std::string GroupVersionKind::ApiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

std::string GroupVersionKind::ToString() const {
  std::string out = kind + "." + version;
  if (!group.empty()) out += "." + group;
  return out;
}

bool ResourceMapping::HasSubresource(std::string_view name) const {
  return std::find(subresources.begin(), subresources.end(), name) != subresources.end();
}

std::string ResourceMapping::Path(std::string_view ns, std::string_view name,
                                  std::string_view subresource) const {
  std::string out =
      gvk.group.empty() ? "/api/" + gvk.version : "/apis/" + gvk.group + "/" + gvk.version;
  if (namespaced && !ns.empty()) {
    out += "/namespaces/";
    out += ns;
  }
  out += "/" + resource;
  if (!name.empty()) {
    out += "/";
    out += name;
    if (!subresource.empty()) {
      out += "/";
      out += subresource;
    }
  }
  return out;
}

std::string ResourceMapping::QualifiedResource() const {
  return gvk.group.empty() ? resource : resource + "." + gvk.group;
}

Status RestMapper::AddResourceList(const Json& list) {
  if (!list.is_object() || list.value("kind", "") != "APIResourceList" ||
      !list.contains("groupVersion") || !list["groupVersion"].is_string()) {
    return InvalidArgumentError("discovery: not an APIResourceList document");
  }
  GroupVersion gv = GroupVersion::Parse(list["groupVersion"].get<std::string>());
  auto resources = list.find("resources");
  if (resources == list.end() || !resources->is_array()) return OkStatus();
  std::map<std::string, std::vector<std::string>> subresources;
  for (const Json& r : *resources) {
    if (!r.is_object()) continue;
    std::string name = r.value("name", "");
    size_t slash = name.find('/');
    if (slash != std::string::npos) {
      subresources[name.substr(0, slash)].push_back(name.substr(slash + 1));
      continue;
    }
    std::string kind = r.value("kind", "");
    if (name.empty() || kind.empty()) continue;
    ResourceMapping m;
    m.gvk = {gv.group, gv.version, kind};
    m.resource = name;
    m.singular = r.value("singularName", "");
    m.namespaced = r.value("namespaced", false);
    if (auto verbs = r.find("verbs"); verbs != r.end() && verbs->is_array()) {
      for (const Json& v : *verbs) {
        if (v.is_string()) m.verbs.push_back(v.get<std::string>());
      }
    }
    if (!by_gvk_.contains(m.gvk)) order_.push_back(m.gvk);
    by_gvk_[m.gvk] = std::move(m);
  }
  for (auto& [gvk, m] : by_gvk_) {
    if (gvk.group != gv.group || gvk.version != gv.version) continue;
    if (auto it = subresources.find(m.resource); it != subresources.end()) {
      m.subresources = it->second;
    }
  }
  return OkStatus();
}

StatusOr<ResourceMapping> RestMapper::Find(const GroupVersionKind& gvk) const {
  auto it = by_gvk_.find(gvk);
  if (it == by_gvk_.end()) {
    return NotFoundError("no resource for kind " + gvk.ToString() + " in discovery");
  }
  return it->second;
}

StatusOr<ResourceMapping> RestMapper::FindResource(std::string_view group, std::string_view version,
                                                   std::string_view resource) const {
  for (const auto& [gvk, m] : by_gvk_) {
    if (gvk.group == group && gvk.version == version && m.resource == resource) return m;
  }
  std::string gv =
      group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
  return NotFoundError("no resource \"" + std::string(resource) + "\" in " + gv);
}

std::vector<ResourceMapping> RestMapper::FindAllVersions(std::string_view group,
                                                         std::string_view kind) const {
  std::vector<ResourceMapping> out;
  for (const GroupVersionKind& gvk : order_) {
    if (gvk.group == group && gvk.kind == kind) out.push_back(by_gvk_.at(gvk));
  }
  return out;
}

}  // namespace driftguard::core
