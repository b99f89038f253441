#include "reconciler/internal/kustomize_resource.h"

#include <algorithm>
#include <set>

namespace driftguard::reconciler::internal {
namespace {

std::string StrField(const core::Json& obj, const char* a, const char* b = nullptr) {
  if (!obj.is_object()) return "";
  auto it = obj.find(a);
  if (it == obj.end()) return "";
  if (b == nullptr) return it->is_string() ? it->get<std::string>() : "";
  if (!it->is_object()) return "";
  auto jt = it->find(b);
  return jt != it->end() && jt->is_string() ? jt->get<std::string>() : "";
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::string ResId::ToString() const {
  std::string s = gvk.kind.empty() ? "[noKind]" : gvk.kind;
  s += "." + (gvk.version.empty() ? std::string("[noVer]") : gvk.version);
  s += "." + (gvk.group.empty() ? std::string("[noGrp]") : gvk.group);
  s += "/" + name + "." + (ns.empty() ? std::string("[noNs]") : ns);
  return s;
}

bool ResId::NsEquals(const ResId& o) const {
  auto eff = [](const std::string& n) { return n.empty() ? std::string("default") : n; };
  return eff(ns) == eff(o.ns);
}

bool ResId::Equals(const ResId& o) const {
  return gvk.group == o.gvk.group && gvk.version == o.gvk.version && gvk.kind == o.gvk.kind &&
         name == o.name && NsEquals(o);
}

Gvk ParseGvk(const core::Json& obj) {
  Gvk g;
  std::string api = StrField(obj, "apiVersion");
  size_t slash = api.find('/');
  if (slash == std::string::npos) {
    g.version = api;
  } else {
    g.group = api.substr(0, slash);
    g.version = api.substr(slash + 1);
  }
  g.kind = StrField(obj, "kind");
  return g;
}

bool IsClusterScoped(const Gvk& gvk) {
  static const std::set<std::string> kKinds = {"APIService",
                                               "CSIDriver",
                                               "CSINode",
                                               "CertificateSigningRequest",
                                               "ClusterRole",
                                               "ClusterRoleBinding",
                                               "ComponentStatus",
                                               "CustomResourceDefinition",
                                               "FlowSchema",
                                               "IngressClass",
                                               "MutatingWebhookConfiguration",
                                               "Namespace",
                                               "Node",
                                               "PersistentVolume",
                                               "PodSecurityPolicy",
                                               "PriorityClass",
                                               "PriorityLevelConfiguration",
                                               "RuntimeClass",
                                               "SelfSubjectAccessReview",
                                               "SelfSubjectRulesReview",
                                               "StorageClass",
                                               "SubjectAccessReview",
                                               "TokenReview",
                                               "ValidatingAdmissionPolicy",
                                               "ValidatingAdmissionPolicyBinding",
                                               "ValidatingWebhookConfiguration",
                                               "VolumeAttachment"};
  return kKinds.count(gvk.kind) > 0;
}

Gvk Resource::GetGvk() const { return ParseGvk(obj); }
std::string Resource::Name() const { return StrField(obj, "metadata", "name"); }
std::string Resource::Namespace() const { return StrField(obj, "metadata", "namespace"); }
ResId Resource::CurId() const { return ResId{GetGvk(), Name(), Namespace()}; }

std::vector<ResId> Resource::AllIds() const {
  std::vector<ResId> ids = prev_ids;
  ids.push_back(CurId());
  return ids;
}

void Resource::SetName(const std::string& name) {
  if (name == Name()) return;
  prev_ids.push_back(CurId());
  obj["metadata"]["name"] = name;
}

void Resource::SetNamespace(const std::string& ns) {
  if (ns == Namespace()) return;
  prev_ids.push_back(CurId());
  obj["metadata"]["namespace"] = ns;
}

bool FieldSpec::Matches(const Gvk& g) const {
  return (gvk.group.empty() || gvk.group == g.group) &&
         (gvk.version.empty() || gvk.version == g.version) &&
         (gvk.kind.empty() || gvk.kind == g.kind);
}

std::vector<std::string> SplitFieldPath(std::string_view path) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\\' && i + 1 < path.size() && path[i + 1] == '/') {
      cur += '/';
      ++i;
    } else if (path[i] == '/') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += path[i];
    }
  }
  out.push_back(cur);
  return out;
}

namespace {
void Visit(core::Json& node, const std::vector<std::string>& segs, size_t i, bool create,
           const core::Json& create_value, const std::string& ptr,
           const std::function<void(core::Json&, const std::string&)>& fn) {
  if (node.is_array()) {
    for (size_t k = 0; k < node.size(); ++k) {
      Visit(node[k], segs, i, create, create_value, ptr + "/" + std::to_string(k), fn);
    }
    return;
  }
  if (!node.is_object()) return;
  // "name[]" marks a sequence: walked when present, never created.
  bool sequence = segs[i].size() > 2 && segs[i].ends_with("[]");
  const std::string key = sequence ? segs[i].substr(0, segs[i].size() - 2) : segs[i];
  std::string child_ptr = JoinPointer(ptr, key);
  auto it = node.find(key);
  bool last = i + 1 == segs.size();
  if (it == node.end() || it->is_null()) {
    if (!create || sequence) return;
    node[key] = last ? create_value : core::Json::object();
    it = node.find(key);
  }
  if (last) {
    if (it->is_array() && !create_value.is_array() && !create_value.is_null()) {
      for (size_t k = 0; k < it->size(); ++k) fn((*it)[k], child_ptr + "/" + std::to_string(k));
      return;
    }
    fn(*it, child_ptr);
    return;
  }
  Visit(*it, segs, i + 1, create, create_value, child_ptr, fn);
}
}  // namespace

void VisitFieldSpec(core::Json& obj, const FieldSpec& spec, const core::Json& create_value,
                    const std::function<void(core::Json&, const std::string&)>& fn) {
  std::vector<std::string> segs = SplitFieldPath(spec.path);
  if (segs.empty()) return;
  Visit(obj, segs, 0, spec.create, create_value, "", fn);
}

core::StatusOr<bool> MatchesSelector(const core::Json& labels, std::string_view selector) {
  auto get = [&](const std::string& k) -> const core::Json* {
    if (!labels.is_object()) return nullptr;
    auto it = labels.find(k);
    return it == labels.end() ? nullptr : &*it;
  };
  auto value_of = [](const core::Json* j) {
    return j == nullptr ? std::string() : j->is_string() ? j->get<std::string>() : j->dump();
  };
  // Split on commas outside parentheses.
  std::vector<std::string> terms;
  std::string cur;
  int depth = 0;
  for (char c : selector) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      terms.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  terms.push_back(cur);
  for (std::string t : terms) {
    t = Trim(t);
    if (t.empty()) continue;
    size_t p;
    if (t[0] == '!') {
      if (get(Trim(t.substr(1))) != nullptr) return false;
    } else if ((p = t.find("!=")) != std::string::npos) {
      const core::Json* v = get(Trim(t.substr(0, p)));
      if (v != nullptr && value_of(v) == Trim(t.substr(p + 2))) return false;
    } else if ((p = t.find("==")) != std::string::npos) {
      const core::Json* v = get(Trim(t.substr(0, p)));
      if (v == nullptr || value_of(v) != Trim(t.substr(p + 2))) return false;
    } else if ((p = t.find('=')) != std::string::npos) {
      const core::Json* v = get(Trim(t.substr(0, p)));
      if (v == nullptr || value_of(v) != Trim(t.substr(p + 1))) return false;
    } else if ((p = t.find(" notin ")) != std::string::npos ||
               (p = t.find(" in ")) != std::string::npos) {
      bool notin = t.compare(p, 7, " notin ") == 0;
      std::string key = Trim(t.substr(0, p));
      size_t open = t.find('(', p), close = t.rfind(')');
      if (open == std::string::npos || close == std::string::npos || close < open) {
        return core::InvalidArgumentError("unable to parse requirement: '" + t + "'");
      }
      std::set<std::string> values;
      std::string list = t.substr(open + 1, close - open - 1), v;
      for (char c : list + ",") {
        if (c == ',') {
          values.insert(Trim(v));
          v.clear();
        } else {
          v += c;
        }
      }
      const core::Json* have = get(key);
      bool in = have != nullptr && values.count(value_of(have)) > 0;
      if (notin ? in : !in) return false;
    } else {
      if (get(t) == nullptr) return false;
    }
  }
  return true;
}

void SetOrigin(Origins& origins, const std::string& pointer, const FieldOrigin& origin) {
  std::string prefix = pointer + "/";
  for (auto it = origins.begin(); it != origins.end();) {
    if (it->first.starts_with(prefix)) {
      it = origins.erase(it);
    } else {
      ++it;
    }
  }
  origins[pointer] = origin;
}

void SetOriginTree(Origins& origins, const core::Json& value, const std::string& pointer,
                   const FieldOrigin& origin) {
  if (value.is_object() && !value.empty()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      SetOriginTree(origins, it.value(), JoinPointer(pointer, it.key()), origin);
    }
  } else if (value.is_array() && !value.empty()) {
    for (size_t i = 0; i < value.size(); ++i) {
      SetOriginTree(origins, value[i], pointer + "/" + std::to_string(i), origin);
    }
  } else {
    origins[pointer] = origin;
  }
}

std::string JoinPointer(const std::string& base, std::string_view token) {
  return base + "/" + core::EscapePointerToken(token);
}

}  // namespace driftguard::reconciler::internal
