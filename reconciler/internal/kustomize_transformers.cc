#include "reconciler/internal/kustomize_transformers.h"

#include <regex>
#include <set>
#include <unordered_map>

namespace driftguard::reconciler::internal {
namespace {

using core::Json;

FieldSpec Spec(std::string group, std::string version, std::string kind, std::string path,
               bool create) {
  return FieldSpec{Gvk{std::move(group), std::move(version), std::move(kind)}, std::move(path),
                   create};
}

struct Workload {
  const char* group;
  const char* kind;
  const char* pod_spec;  // path to the PodSpec
};
// Kinds that embed a PodSpec, as kustomize's default configuration lists them.
const std::vector<Workload>& Workloads() {
  static const std::vector<Workload> kW = {
      {"", "Pod", "spec"},
      {"", "PodTemplate", "template/spec"},
      {"", "ReplicationController", "spec/template/spec"},
      {"apps", "Deployment", "spec/template/spec"},
      {"apps", "ReplicaSet", "spec/template/spec"},
      {"apps", "DaemonSet", "spec/template/spec"},
      {"apps", "StatefulSet", "spec/template/spec"},
      {"batch", "Job", "spec/template/spec"},
      {"batch", "CronJob", "spec/jobTemplate/spec/template/spec"},
  };
  return kW;
}

void AddPodRefs(NameRefEntry& e, const std::vector<std::string>& rel_paths) {
  for (const Workload& w : Workloads()) {
    for (const std::string& p : rel_paths) {
      e.referrers.push_back(Spec("", "", w.kind, std::string(w.pod_spec) + "/" + p, false));
    }
  }
}

std::string StrOr(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool GvkSelects(const Gvk& want, const Gvk& have) {
  return (want.group.empty() || want.group == have.group) &&
         (want.version.empty() || want.version == have.version) &&
         (want.kind.empty() || want.kind == have.kind);
}

}  // namespace

TransformerConfig TransformerConfig::Defaults() {
  TransformerConfig c;
  // commonLabels: metadata everywhere, selectors and templates of the workload kinds.
  c.common_labels.push_back(Spec("", "", "", "metadata/labels", true));
  c.common_labels.push_back(Spec("", "v1", "ReplicationController", "spec/selector", true));
  c.common_labels.push_back(
      Spec("", "v1", "ReplicationController", "spec/template/metadata/labels", true));
  for (const char* kind : {"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"}) {
    c.common_labels.push_back(Spec("", "", kind, "spec/selector/matchLabels", true));
    c.common_labels.push_back(Spec("", "", kind, "spec/template/metadata/labels", true));
  }
  for (const char* kind : {"Deployment", "StatefulSet"}) {
    for (const char* aff : {"podAffinity", "podAntiAffinity"}) {
      std::string base = std::string("spec/template/spec/affinity/") + aff;
      c.common_labels.push_back(Spec(
          "apps", "", kind,
          base + "/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/"
                 "matchLabels",
          false));
      c.common_labels.push_back(
          Spec("apps", "", kind,
               base + "/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
               false));
    }
    c.common_labels.push_back(
        Spec("apps", "", kind,
             "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels", false));
  }
  c.common_labels.push_back(
      Spec("apps", "", "StatefulSet", "spec/volumeClaimTemplates[]/metadata/labels", true));
  c.common_labels.push_back(Spec("batch", "", "Job", "spec/selector/matchLabels", false));
  c.common_labels.push_back(Spec("batch", "", "Job", "spec/template/metadata/labels", true));
  c.common_labels.push_back(
      Spec("batch", "", "CronJob", "spec/jobTemplate/spec/selector/matchLabels", false));
  c.common_labels.push_back(Spec("batch", "", "CronJob", "spec/jobTemplate/metadata/labels", true));
  c.common_labels.push_back(
      Spec("batch", "", "CronJob", "spec/jobTemplate/spec/template/metadata/labels", true));
  c.common_labels.push_back(Spec("", "v1", "Service", "spec/selector", true));
  c.common_labels.push_back(
      Spec("policy", "", "PodDisruptionBudget", "spec/selector/matchLabels", false));
  c.common_labels.push_back(
      Spec("networking.k8s.io", "", "NetworkPolicy", "spec/podSelector/matchLabels", false));
  c.common_labels.push_back(Spec("networking.k8s.io", "", "NetworkPolicy",
                                 "spec/ingress/from/podSelector/matchLabels", false));
  c.common_labels.push_back(Spec("networking.k8s.io", "", "NetworkPolicy",
                                 "spec/egress/to/podSelector/matchLabels", false));
  for (const FieldSpec& s : c.common_labels) {
    if (s.path.find("selector") == std::string::npos &&
        s.path.find("Selector") == std::string::npos && s.path != "metadata/labels") {
      c.template_labels.push_back(s);
    }
  }

  c.common_annotations.push_back(Spec("", "", "", "metadata/annotations", true));
  c.common_annotations.push_back(
      Spec("", "v1", "ReplicationController", "spec/template/metadata/annotations", true));
  for (const char* kind : {"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"}) {
    c.common_annotations.push_back(Spec("", "", kind, "spec/template/metadata/annotations", true));
  }
  c.common_annotations.push_back(
      Spec("batch", "", "CronJob", "spec/jobTemplate/metadata/annotations", true));
  c.common_annotations.push_back(
      Spec("batch", "", "CronJob", "spec/jobTemplate/spec/template/metadata/annotations", true));

  for (const char* kind : {"Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"}) {
    c.replicas.push_back(Spec("", "", kind, "spec/replicas", true));
  }

  // varReference: where $(VAR) is expanded.
  for (const Workload& w : Workloads()) {
    std::string ps = w.pod_spec;
    for (const char* cs : {"containers", "initContainers"}) {
      for (const char* f : {"args", "command", "env/value", "volumeMounts/mountPath"}) {
        c.var_reference.push_back(Spec("", "", w.kind, ps + "/" + cs + "/" + f, false));
      }
    }
    c.var_reference.push_back(Spec("", "", w.kind, ps + "/volumes/nfs/server", false));
  }
  c.var_reference.push_back(Spec("", "", "Ingress", "spec/rules/host", false));
  c.var_reference.push_back(Spec("", "", "Ingress", "spec/tls/hosts", false));
  c.var_reference.push_back(Spec("", "", "Ingress", "spec/tls/secretName", false));
  c.var_reference.push_back(Spec("", "", "", "metadata/annotations", false));

  // nameReference (kustomize's default table).
  for (const char* kind : {"Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"}) {
    NameRefEntry e{Gvk{"", "", kind}, {}};
    e.referrers.push_back(
        Spec("", "", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name", false));
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"", "v1", "ConfigMap"}, {}};
    AddPodRefs(e,
               {"volumes/configMap/name", "containers/env/valueFrom/configMapKeyRef/name",
                "initContainers/env/valueFrom/configMapKeyRef/name",
                "containers/envFrom/configMapRef/name", "initContainers/envFrom/configMapRef/name",
                "volumes/projected/sources/configMap/name"});
    e.referrers.push_back(Spec("", "", "Node", "spec/configSource/configMap", false));
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "Role", "rules/resourceNames", false));
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "ClusterRole", "rules/resourceNames", false));
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"", "v1", "Secret"}, {}};
    AddPodRefs(e, {"volumes/secret/secretName", "containers/env/valueFrom/secretKeyRef/name",
                   "initContainers/env/valueFrom/secretKeyRef/name",
                   "containers/envFrom/secretRef/name", "initContainers/envFrom/secretRef/name",
                   "imagePullSecrets/name", "volumes/projected/sources/secret/name",
                   "volumes/csi/nodePublishSecretRef/name", "volumes/cephfs/secretRef/name",
                   "volumes/rbd/secretRef/name", "volumes/iscsi/secretRef/name",
                   "volumes/flexVolume/secretRef/name", "volumes/azureFile/secretName",
                   "volumes/scaleIO/secretRef/name", "volumes/storageos/secretRef/name"});
    e.referrers.push_back(Spec("", "", "Ingress", "spec/tls/secretName", false));
    e.referrers.push_back(
        Spec("", "", "Ingress", "metadata/annotations/ingress.kubernetes.io\\/auth-secret", false));
    e.referrers.push_back(Spec("", "", "Ingress",
                               "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
                               false));
    e.referrers.push_back(Spec("", "", "Ingress",
                               "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
                               false));
    e.referrers.push_back(Spec("", "", "ServiceAccount", "imagePullSecrets/name", false));
    e.referrers.push_back(Spec("", "", "ServiceAccount", "secrets/name", false));
    e.referrers.push_back(Spec("", "", "StorageClass", "parameters/secretName", false));
    e.referrers.push_back(Spec("", "", "StorageClass", "parameters/adminSecretName", false));
    e.referrers.push_back(Spec("", "", "StorageClass", "parameters/userSecretName", false));
    e.referrers.push_back(Spec("", "", "StorageClass", "parameters/secretRef", false));
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "Role", "rules/resourceNames", false));
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "ClusterRole", "rules/resourceNames", false));
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"", "v1", "Service"}, {}};
    e.referrers.push_back(Spec("apps", "", "StatefulSet", "spec/serviceName", false));
    e.referrers.push_back(
        Spec("", "", "Ingress", "spec/rules/http/paths/backend/serviceName", false));
    e.referrers.push_back(Spec("", "", "Ingress", "spec/backend/serviceName", false));
    e.referrers.push_back(
        Spec("", "", "Ingress", "spec/rules/http/paths/backend/service/name", false));
    e.referrers.push_back(Spec("", "", "Ingress", "spec/defaultBackend/service/name", false));
    e.referrers.push_back(
        Spec("apiregistration.k8s.io", "", "APIService", "spec/service/name", false));
    e.referrers.push_back(
        Spec("", "", "ValidatingWebhookConfiguration", "webhooks/clientConfig/service", false));
    e.referrers.push_back(
        Spec("", "", "MutatingWebhookConfiguration", "webhooks/clientConfig/service", false));
    e.referrers.push_back(Spec("", "", "CustomResourceDefinition",
                               "spec/conversion/webhook/clientConfig/service", false));
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"rbac.authorization.k8s.io", "", "Role"}, {}};
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "RoleBinding", "roleRef/name", false));
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"rbac.authorization.k8s.io", "", "ClusterRole"}, {}};
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "RoleBinding", "roleRef/name", false));
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "ClusterRoleBinding", "roleRef/name", false));
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"", "v1", "ServiceAccount"}, {}};
    e.referrers.push_back(Spec("rbac.authorization.k8s.io", "", "RoleBinding", "subjects", false));
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "ClusterRoleBinding", "subjects", false));
    AddPodRefs(e, {"serviceAccountName", "serviceAccount"});
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"", "v1", "PersistentVolumeClaim"}, {}};
    AddPodRefs(e, {"volumes/persistentVolumeClaim/claimName"});
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"", "v1", "PersistentVolume"}, {}};
    e.referrers.push_back(Spec("", "", "PersistentVolumeClaim", "spec/volumeName", false));
    e.referrers.push_back(
        Spec("rbac.authorization.k8s.io", "", "ClusterRole", "rules/resourceNames", false));
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"storage.k8s.io", "", "StorageClass"}, {}};
    e.referrers.push_back(Spec("", "", "PersistentVolume", "spec/storageClassName", false));
    e.referrers.push_back(Spec("", "", "PersistentVolumeClaim", "spec/storageClassName", false));
    e.referrers.push_back(
        Spec("apps", "", "StatefulSet", "spec/volumeClaimTemplates/spec/storageClassName", false));
    c.name_reference.push_back(e);
  }
  {
    NameRefEntry e{Gvk{"scheduling.k8s.io", "", "PriorityClass"}, {}};
    AddPodRefs(e, {"priorityClassName"});
    c.name_reference.push_back(e);
  }
  c.namespace_.push_back(Spec("", "", "Namespace", "metadata/name", true));
  c.namespace_.push_back(
      Spec("apiregistration.k8s.io", "", "APIService", "spec/service/namespace", true));
  c.namespace_.push_back(Spec("apiextensions.k8s.io", "", "CustomResourceDefinition",
                              "spec/conversion/webhook/clientConfig/service/namespace", false));
  {
    NameRefEntry e{Gvk{"networking.k8s.io", "", "IngressClass"}, {}};
    e.referrers.push_back(Spec("", "", "Ingress", "spec/ingressClassName", false));
    c.name_reference.push_back(e);
  }
  return c;
}

core::StatusOr<std::vector<FieldSpec>> ParseFieldSpecs(const Json& list, const std::string& file) {
  std::vector<FieldSpec> out;
  if (!list.is_array()) return core::InvalidArgumentError(file + ": fieldSpecs must be a list");
  for (const Json& e : list) {
    if (!e.is_object()) return core::InvalidArgumentError(file + ": a fieldSpec must be a map");
    FieldSpec s;
    s.gvk.group = StrOr(e, "group");
    s.gvk.version = StrOr(e, "version");
    s.gvk.kind = StrOr(e, "kind");
    s.path = StrOr(e, "path");
    s.create = e.contains("create") && e["create"].is_boolean() && e["create"].get<bool>();
    if (s.path.empty()) return core::InvalidArgumentError(file + ": fieldSpec without path");
    out.push_back(s);
  }
  return out;
}

core::Status TransformerConfig::Merge(const Json& doc, const std::string& file) {
  if (doc.is_null()) return core::OkStatus();
  if (!doc.is_object()) return core::InvalidArgumentError(file + ": configuration must be a map");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& k = it.key();
    if (k == "nameReference") {
      if (!it->is_array())
        return core::InvalidArgumentError(file + ": nameReference must be a list");
      for (const Json& e : *it) {
        NameRefEntry entry;
        entry.referral = Gvk{StrOr(e, "group"), StrOr(e, "version"), StrOr(e, "kind")};
        ASSIGN_OR_RETURN(entry.referrers,
                         ParseFieldSpecs(e.value("fieldSpecs", Json::array()), file));
        bool merged = false;
        for (NameRefEntry& have : name_reference) {
          if (have.referral.kind == entry.referral.kind &&
              have.referral.group == entry.referral.group) {
            have.referrers.insert(have.referrers.end(), entry.referrers.begin(),
                                  entry.referrers.end());
            merged = true;
          }
        }
        if (!merged) name_reference.push_back(entry);
      }
      continue;
    }
    std::vector<FieldSpec>* target = nullptr;
    if (k == "commonLabels") target = &common_labels;
    if (k == "labels") target = &common_labels;
    if (k == "templateLabels") target = &template_labels;
    if (k == "commonAnnotations") target = &common_annotations;
    if (k == "images") target = &images;
    if (k == "replicas") target = &replicas;
    if (k == "varReference") target = &var_reference;
    // metadata/name and metadata/namespace are always handled; listing them again changes
    // nothing (kustomize merges duplicate field specs).
    if (k == "namePrefix") target = &name_prefix;
    if (k == "nameSuffix") target = &name_suffix;
    if (k == "namespace") target = &namespace_;
    if (target == nullptr) {
      return core::InvalidArgumentError(file + ": unknown field \"" + k +
                                        "\" in transformer configuration");
    }
    ASSIGN_OR_RETURN(std::vector<FieldSpec> specs, ParseFieldSpecs(*it, file));
    if (target == &name_prefix || target == &name_suffix || target == &namespace_) {
      const char* builtin = target == &namespace_ ? "metadata/namespace" : "metadata/name";
      // (a Namespace's metadata/name is in the namespace defaults already)
      std::erase_if(specs, [&](const FieldSpec& fs) { return fs.path == builtin; });
    }
    target->insert(target->end(), specs.begin(), specs.end());
    if (k == "commonLabels" || k == "labels") {
      for (const FieldSpec& s : specs) template_labels.push_back(s);
    }
  }
  return core::OkStatus();
}

namespace {

bool NamespaceUnset(const Json& obj) {
  return !obj.is_object() || !obj.contains("namespace") || obj["namespace"].is_null() ||
         (obj["namespace"].is_string() && obj["namespace"].get<std::string>().empty());
}

}  // namespace

void ApplyNamespace(std::vector<Resource>& res, const std::string& ns, const FieldOrigin& origin,
                    const NamespaceOptions& options) {
  for (Resource& r : res) {
    Gvk g = r.GetGvk();
    const bool is_namespace = g.kind == "Namespace" && g.group.empty();
    for (const FieldSpec& s : options.extra) {
      if (!s.Matches(g)) continue;
      if (s.path == "metadata/name") {  // the Namespace object itself is renamed
        if (is_namespace && !options.unset_only && r.Name() != ns) {
          r.SetName(ns);
          SetOrigin(r.origins, "/metadata/name", origin);
        }
        continue;
      }
      VisitFieldSpec(r.obj, s, Json(""), [&](Json& node, const std::string& ptr) {
        const bool unset =
            node.is_null() || (node.is_string() && node.get_ref<const std::string&>().empty());
        if (options.unset_only && !unset) return;
        if (node.is_object() || node.is_array()) return;
        node = ns;
        SetOrigin(r.origins, ptr, origin);
      });
    }
    if (is_namespace) continue;
    if (IsClusterScoped(g)) {
      if (g.kind != "ClusterRoleBinding") continue;
    } else if (!options.unset_only || r.Namespace().empty()) {
      r.SetNamespace(ns);
      SetOrigin(r.origins, "/metadata/namespace", origin);
    }
    if (options.subjects == SubjectMode::kNone) continue;
    if ((g.kind == "RoleBinding" || g.kind == "ClusterRoleBinding") && r.obj.contains("subjects") &&
        r.obj["subjects"].is_array()) {
      Json& subjects = r.obj["subjects"];
      for (size_t i = 0; i < subjects.size(); ++i) {
        Json& subject = subjects[i];
        bool selected = options.subjects == SubjectMode::kDefaultOnly
                            ? StrOr(subject, "name") == "default"
                            : StrOr(subject, "kind") == "ServiceAccount";
        if (!selected || (options.unset_only && !NamespaceUnset(subject))) continue;
        subject["namespace"] = ns;
        SetOrigin(r.origins, "/subjects/" + std::to_string(i) + "/namespace", origin);
      }
    }
  }
}

void ApplyPrefixSuffix(std::vector<Resource>& res, const std::string& prefix,
                       const std::string& suffix, const FieldOrigin& origin,
                       const std::vector<FieldSpec>& prefix_specs,
                       const std::vector<FieldSpec>& suffix_specs, bool rename) {
  if (prefix.empty() && suffix.empty()) return;
  for (Resource& r : res) {
    Gvk g = r.GetGvk();
    // kustomize never renames these (its prefix/suffix skip list).
    if (g.kind == "CustomResourceDefinition" || (g.kind == "Namespace" && g.group.empty()) ||
        (g.kind == "APIService" && g.group == "apiregistration.k8s.io")) {
      continue;
    }
    if (rename) {
      r.SetName(prefix + r.Name() + suffix);
      if (!prefix.empty()) r.prefixes.insert(r.prefixes.begin(), prefix);
      if (!suffix.empty()) r.suffixes.push_back(suffix);
      SetOrigin(r.origins, "/metadata/name", origin);
    }
    auto affix = [&](const std::vector<FieldSpec>& specs, const std::string& p,
                     const std::string& s) {
      if (p.empty() && s.empty()) return;
      for (const FieldSpec& spec : specs) {
        if (!spec.Matches(g)) continue;
        VisitFieldSpec(r.obj, spec, Json(""), [&](Json& node, const std::string& ptr) {
          if (!node.is_string()) return;
          node = p + node.get<std::string>() + s;
          SetOrigin(r.origins, ptr, origin);
        });
      }
    };
    affix(prefix_specs, prefix, "");
    affix(suffix_specs, "", suffix);
  }
}

void ApplyLabels(std::vector<Resource>& res, const std::map<std::string, std::string>& labels,
                 const std::vector<FieldSpec>& specs,
                 const std::map<std::string, FieldOrigin>& origins) {
  if (labels.empty()) return;
  for (Resource& r : res) {
    Gvk g = r.GetGvk();
    std::set<std::string> done;  // a path reached through two specs is set once
    for (const FieldSpec& s : specs) {
      if (!s.Matches(g)) continue;
      VisitFieldSpec(r.obj, s, Json::object(), [&](Json& node, const std::string& ptr) {
        if (!node.is_object() || !done.insert(ptr).second) return;
        for (const auto& [k, v] : labels) {
          node[k] = v;
          auto o = origins.find(k);
          if (o != origins.end()) SetOrigin(r.origins, JoinPointer(ptr, k), o->second);
        }
      });
    }
  }
}

namespace {

void SplitImage(const std::string& image, std::string* name, std::string* tag,
                std::string* digest) {
  tag->clear();
  digest->clear();
  size_t slash = image.find('/');
  size_t off = (slash != std::string::npos && slash > 0) ? slash : 0;
  std::string search = image.substr(off);
  size_t id = search.find('@'), ic = search.find(':');
  if (ic == std::string::npos && id == std::string::npos) {
    *name = image;
    return;
  }
  if (id != std::string::npos && (ic == std::string::npos || id < ic)) {
    *name = image.substr(0, id + off);
    *digest = image.substr(id + off + 1);
    return;
  }
  if (id != std::string::npos && ic != std::string::npos) {
    *name = image.substr(0, ic + off);
    *tag = image.substr(ic + off + 1, id - ic - 1);
    *digest = image.substr(id + off + 1);
    return;
  }
  *name = image.substr(0, ic + off);
  *tag = image.substr(ic + off + 1);
}

bool ImageMatches(const std::string& image, const std::string& name) {
  try {
    std::regex re("^" + name + "(@sha256)?(:[a-zA-Z0-9_.{}-]*)?$");
    return std::regex_match(image, re);
  } catch (const std::regex_error&) {
    std::string n, t, d;
    SplitImage(image, &n, &t, &d);
    return n == name;
  }
}

bool UpdateImage(Json& node, const ImageRule& rule) {
  if (!node.is_string()) return false;
  std::string value = node.get<std::string>();
  if (!ImageMatches(value, rule.name)) return false;
  std::string name, tag, digest;
  SplitImage(value, &name, &tag, &digest);
  if (!rule.new_name.empty()) name = rule.new_name;
  if (!rule.new_tag.empty() && !rule.digest.empty()) {
    tag = rule.new_tag;
    digest = rule.digest;
  } else if (!rule.new_tag.empty()) {
    tag = rule.new_tag;
    digest.clear();
  } else if (!rule.digest.empty()) {
    tag.clear();
    digest = rule.digest;
  }
  if (!tag.empty()) name += ":" + tag;
  if (!digest.empty()) name += "@" + digest;
  node = name;
  return true;
}

void WalkContainers(Json& node, const std::string& ptr, Resource& r,
                    const std::vector<ImageRule>& rules) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string cptr = JoinPointer(ptr, it.key());
      if ((it.key() == "containers" || it.key() == "initContainers") && it->is_array()) {
        for (size_t i = 0; i < it->size(); ++i) {
          Json& c = (*it)[i];
          if (!c.is_object() || !c.contains("image")) continue;
          for (const ImageRule& rule : rules) {
            if (UpdateImage(c["image"], rule)) {
              SetOrigin(r.origins, cptr + "/" + std::to_string(i) + "/image", rule.origin);
              break;
            }
          }
        }
        continue;
      }
      WalkContainers(it.value(), cptr, r, rules);
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      WalkContainers(node[i], ptr + "/" + std::to_string(i), r, rules);
    }
  }
}

}  // namespace

void ApplyImages(std::vector<Resource>& res, const std::vector<ImageRule>& rules,
                 const std::vector<FieldSpec>& specs) {
  if (rules.empty()) return;
  for (Resource& r : res) {
    WalkContainers(r.obj, "", r, rules);
    Gvk g = r.GetGvk();
    for (const FieldSpec& s : specs) {
      if (!s.Matches(g)) continue;
      FieldSpec nocreate = s;
      nocreate.create = false;
      VisitFieldSpec(r.obj, nocreate, Json(), [&](Json& node, const std::string& ptr) {
        for (const ImageRule& rule : rules) {
          if (UpdateImage(node, rule)) {
            SetOrigin(r.origins, ptr, rule.origin);
            break;
          }
        }
      });
    }
  }
}

core::Status ApplyReplicas(std::vector<Resource>& res, const std::vector<ReplicaRule>& rules,
                           const std::vector<FieldSpec>& specs) {
  for (const ReplicaRule& rule : rules) {
    for (Resource& r : res) {
      bool named = false;
      for (const ResId& id : r.AllIds()) named = named || id.name == rule.name;
      if (!named) continue;
      Gvk g = r.GetGvk();
      bool matched = false;
      for (const FieldSpec& s : specs) {
        if (!s.Matches(g)) continue;
        matched = true;
        VisitFieldSpec(r.obj, s, Json(rule.count), [&](Json& node, const std::string& ptr) {
          node = rule.count;
          SetOrigin(r.origins, ptr, rule.origin);
        });
      }
      (void)matched;
    }
  }
  return core::OkStatus();
}

namespace {

// What the fix-up needs to know of a resource, computed once: every id it had (current last) and
// the prefixes/suffixes applied to it.
struct RefView {
  std::vector<ResId> ids;
  const std::vector<std::string>* prefixes;
  const std::vector<std::string>* suffixes;
  const ResId& Cur() const { return ids.back(); }
  const ResId& Org() const { return ids.front(); }
};

struct RefCtx {
  const std::vector<RefView>* all;
  const RefView* referrer;
  const NameRefEntry* entry;
  // Every name a resource ever had -> indices into *all (keeps look-ups linear in references).
  const std::unordered_map<std::string, std::vector<size_t>>* by_name;
};

// Kustomize's referral selection: same kind once, a previous name equal to `old_name`, the
// referrer's namespace (unless either side is cluster-scoped), then prefix/suffix agreement.
core::StatusOr<const RefView*> SelectReferral(const RefCtx& ctx, const std::string& old_name,
                                              const std::string* want_ns) {
  std::vector<const RefView*> cands;
  const ResId& referrer_id = ctx.referrer->Cur();
  bool referrer_cluster = IsClusterScoped(referrer_id.gvk);
  auto named = ctx.by_name->find(old_name);
  if (named == ctx.by_name->end()) return static_cast<const RefView*>(nullptr);
  for (size_t ci : named->second) {
    const RefView& c = (*ctx.all)[ci];
    bool gvk_ok = false, name_ok = false;
    for (const ResId& id : c.ids) {
      gvk_ok = gvk_ok || GvkSelects(ctx.entry->referral, id.gvk);
      name_ok = name_ok || id.name == old_name;
    }
    if (!gvk_ok || !name_ok) continue;
    const ResId& cid = c.Cur();
    if (want_ns != nullptr) {
      // An explicit namespace in the reference must be the referral's original or current one.
      ResId want{{}, "", *want_ns};
      if (!IsClusterScoped(cid.gvk) && !want.NsEquals(c.Org()) && !want.NsEquals(cid)) continue;
    } else if (!referrer_cluster && !IsClusterScoped(cid.gvk) && !referrer_id.NsEquals(cid)) {
      continue;
    }
    cands.push_back(&c);
  }
  if (cands.size() > 1) {
    std::vector<const RefView*> same;
    for (const RefView* c : cands) {
      if (*c->prefixes == *ctx.referrer->prefixes && *c->suffixes == *ctx.referrer->suffixes) {
        same.push_back(c);
      }
    }
    if (same.size() == 1) return same.front();
    std::string ids;
    for (const RefView* c : cands) ids += " " + c->Cur().ToString();
    return core::InvalidArgumentError("found multiple possible referrals:" + ids);
  }
  if (cands.empty()) return static_cast<const RefView*>(nullptr);
  return cands.front();
}

core::Status FixNode(const RefCtx& ctx, Json& node, const Json* roleref_parent) {
  if (node.is_string()) {
    ASSIGN_OR_RETURN(const RefView* ref, SelectReferral(ctx, node.get<std::string>(), nullptr));
    if (ref != nullptr) node = ref->Cur().name;
    return core::OkStatus();
  }
  if (node.is_array()) {
    for (Json& e : node) RETURN_IF_ERROR(FixNode(ctx, e, roleref_parent));
    return core::OkStatus();
  }
  if (node.is_object() && node.contains("name") && node["name"].is_string()) {
    std::string ns = StrOr(node, "namespace");
    bool has_ns = node.contains("namespace");
    ASSIGN_OR_RETURN(const RefView* ref,
                     SelectReferral(ctx, node["name"].get<std::string>(), has_ns ? &ns : nullptr));
    if (ref == nullptr) return core::OkStatus();
    node["name"] = ref->Cur().name;
    if (!ref->Cur().ns.empty()) node["namespace"] = ref->Cur().ns;
  }
  return core::OkStatus();
}

}  // namespace

core::Status FixNameReferences(std::vector<Resource>& res, const TransformerConfig& config) {
  // Work on a snapshot of ids: fix-ups must see the final names, which they do not change (they
  // only edit fields outside metadata, so the prefix/suffix lists can be shared).
  std::vector<RefView> snapshot;
  snapshot.reserve(res.size());
  std::unordered_map<std::string, std::vector<size_t>> by_name;
  for (size_t i = 0; i < res.size(); ++i) {
    snapshot.push_back(RefView{res[i].AllIds(), &res[i].prefixes, &res[i].suffixes});
    std::set<std::string> names;
    for (const ResId& id : snapshot[i].ids) names.insert(id.name);
    for (const std::string& n : names) by_name[n].push_back(i);
  }
  for (size_t ri = 0; ri < res.size(); ++ri) {
    Resource& r = res[ri];
    Gvk g = r.GetGvk();
    for (const NameRefEntry& e : config.name_reference) {
      RefCtx ctx{&snapshot, &snapshot[ri], &e, &by_name};
      for (const FieldSpec& s : e.referrers) {
        if (!s.Matches(g)) continue;
        if (s.path == "roleRef/name") {
          if (!r.obj.contains("roleRef") || StrOr(r.obj["roleRef"], "kind") != e.referral.kind) {
            continue;
          }
        }
        core::Status st;
        FieldSpec nocreate = s;
        nocreate.create = false;
        VisitFieldSpec(r.obj, nocreate, Json(), [&](Json& node, const std::string&) {
          if (st.ok()) st = FixNode(ctx, node, nullptr);
        });
        if (!st.ok()) {
          return core::InvalidArgumentError("updating name reference in '" + s.path +
                                            "' field of '" + r.CurId().ToString() +
                                            "': " + st.message());
        }
      }
    }
  }
  return core::OkStatus();
}

}  // namespace driftguard::reconciler::internal
