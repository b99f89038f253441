#include "core/flux_api.h"

#include <cmath>
#include <set>

namespace driftguard::core {
namespace {

std::string Prefix(std::string_view where, const std::string& ns, const std::string& name,
                   std::string_view kind) {
  std::string out;
  if (!where.empty()) {
    out += where;
    out += ": ";
  }
  out += ns + "/" + name + ": " + std::string(kind) + ": ";
  return out;
}

Status CheckKnownFields(const Json& obj, const std::set<std::string_view>& known,
                        const std::string& path, const std::string& prefix) {
  if (!obj.is_object()) return InvalidArgumentError(prefix + "\"" + path + "\" must be an object");
  for (const auto& [key, value] : obj.items()) {
    if (!known.contains(key)) {
      return InvalidArgumentError(prefix + "unknown field \"" + path + "." + key + "\"");
    }
  }
  return OkStatus();
}

StatusOr<std::string> OptString(const Json& obj, const char* key, const std::string& path,
                                const std::string& prefix) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return InvalidArgumentError(prefix + "\"" + path + "." + key + "\" must be a string");
  }
  return it->get<std::string>();
}

StatusOr<bool> OptBool(const Json& obj, const char* key, const std::string& path,
                       const std::string& prefix) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) {
    return InvalidArgumentError(prefix + "\"" + path + "." + key + "\" must be a boolean");
  }
  return it->get<bool>();
}

StatusOr<std::chrono::milliseconds> OptDuration(const Json& obj, const char* key,
                                                std::chrono::milliseconds fallback,
                                                const std::string& prefix) {
  ASSIGN_OR_RETURN(std::string text, OptString(obj, key, "spec", prefix));
  if (text.empty()) return fallback;
  auto d = ParseDuration(text);
  if (!d.ok()) return InvalidArgumentError(prefix + "spec." + key + ": " + d.status().message());
  return *d;
}

struct Meta {
  std::string ns;
  std::string name;
};

StatusOr<Meta> ReadMeta(const Json& object, std::string_view kind, std::string_view api_version,
                        std::string_view where, std::string_view default_namespace) {
  std::string at = where.empty() ? std::string() : std::string(where) + ": ";
  if (!object.is_object())
    return InvalidArgumentError(at + std::string(kind) + " is not an object");
  if (object.value("apiVersion", "") != api_version) {
    return InvalidArgumentError(at + std::string(kind) + ": apiVersion must be " +
                                std::string(api_version) + ", got \"" +
                                object.value("apiVersion", "") + "\"");
  }
  Meta m;
  const Json& meta = object.contains("metadata") ? object["metadata"] : Json::object();
  m.name = meta.is_object() ? meta.value("name", "") : "";
  m.ns = meta.is_object() ? meta.value("namespace", std::string(default_namespace)) : "";
  if (m.name.empty())
    return InvalidArgumentError(at + std::string(kind) + ": metadata.name is required");
  if (!object.contains("spec") || !object["spec"].is_object()) {
    return InvalidArgumentError(at + m.ns + "/" + m.name + ": " + std::string(kind) +
                                ": spec is required");
  }
  return m;
}

}  // namespace

StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("invalid duration \"" + std::string(text) + "\": " + why);
  };
  if (text.empty()) return bad("empty");
  if (text == "0") return std::chrono::milliseconds(0);
  double total_ms = 0;
  size_t i = 0;
  bool negative = false;
  if (text[0] == '-' || text[0] == '+') {
    negative = text[0] == '-';
    i = 1;
  }
  if (i == text.size()) return bad("no number");
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (start == i) return bad("expected a number at position " + std::to_string(start));
    std::string number(text.substr(start, i - start));
    if (number == "." || number.find('.') != number.rfind('.')) return bad("malformed number");
    size_t unit_start = i;
    while (i < text.size() && !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale;
    if (unit == "ns") {
      scale = 1e-6;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = 1e-3;
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1e3;
    } else if (unit == "m") {
      scale = 60e3;
    } else if (unit == "h") {
      scale = 3600e3;
    } else if (unit.empty()) {
      return bad("missing unit (use ns, us, ms, s, m or h)");
    } else {
      return bad("unknown unit \"" + std::string(unit) + "\"");
    }
    total_ms += std::stod(number) * scale;
  }
  if (total_ms > 9.2e15) return bad("too large");
  auto ms = std::chrono::milliseconds(static_cast<long long>(std::llround(total_ms)));
  return negative ? -ms : ms;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  if (ms < 1000) return out + std::to_string(ms) + "ms";
  long long h = ms / 3'600'000;
  long long m = (ms / 60'000) % 60;
  long long s = (ms / 1000) % 60;
  long long frac = ms % 1000;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (frac > 0) {
    std::string f = std::to_string(frac);
    f.insert(0, 3 - f.size(), '0');
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  out += "s";
  return out;
}

StatusOr<GitRepository> ParseGitRepository(const Json& object, std::string_view where,
                                           std::string_view default_namespace) {
  ASSIGN_OR_RETURN(Meta m, ReadMeta(object, "GitRepository", kGitRepositoryApiVersion, where,
                                    default_namespace));
  const std::string prefix = Prefix(where, m.ns, m.name, "GitRepository");
  const Json& spec = object["spec"];
  RETURN_IF_ERROR(CheckKnownFields(
      spec,
      {"url", "secretRef", "provider", "interval", "timeout", "ref", "verify", "proxySecretRef",
       "ignore", "suspend", "recurseSubmodules", "include", "sparseCheckout"},
      "spec", prefix));
  GitRepository repo;
  repo.namespace_ = m.ns;
  repo.name = m.name;
  repo.object = object;
  ASSIGN_OR_RETURN(repo.url, OptString(spec, "url", "spec", prefix));
  if (repo.url.empty()) return InvalidArgumentError(prefix + "spec.url is required");
  ASSIGN_OR_RETURN(repo.interval,
                   OptDuration(spec, "interval", std::chrono::milliseconds(0), prefix));
  if (repo.interval.count() <= 0) {
    return InvalidArgumentError(prefix + "spec.interval is required and must be positive");
  }
  ASSIGN_OR_RETURN(repo.timeout, OptDuration(spec, "timeout", repo.timeout, prefix));
  ASSIGN_OR_RETURN(repo.suspend, OptBool(spec, "suspend", "spec", prefix));
  if (spec.contains("ignore")) {
    ASSIGN_OR_RETURN(std::string ignore, OptString(spec, "ignore", "spec", prefix));
    repo.ignore = std::move(ignore);
  }
  if (spec.contains("secretRef")) {
    const Json& sr = spec["secretRef"];
    RETURN_IF_ERROR(CheckKnownFields(sr, {"name"}, "spec.secretRef", prefix));
    ASSIGN_OR_RETURN(repo.secret_ref, OptString(sr, "name", "spec.secretRef", prefix));
  }
  if (spec.contains("ref")) {
    const Json& ref = spec["ref"];
    RETURN_IF_ERROR(
        CheckKnownFields(ref, {"branch", "tag", "semver", "name", "commit"}, "spec.ref", prefix));
    ASSIGN_OR_RETURN(repo.ref.branch, OptString(ref, "branch", "spec.ref", prefix));
    ASSIGN_OR_RETURN(repo.ref.tag, OptString(ref, "tag", "spec.ref", prefix));
    ASSIGN_OR_RETURN(repo.ref.semver, OptString(ref, "semver", "spec.ref", prefix));
    ASSIGN_OR_RETURN(repo.ref.name, OptString(ref, "name", "spec.ref", prefix));
    ASSIGN_OR_RETURN(repo.ref.commit, OptString(ref, "commit", "spec.ref", prefix));
  }
  return repo;
}

StatusOr<Kustomization> ParseKustomization(const Json& object, std::string_view where,
                                           std::string_view default_namespace) {
  ASSIGN_OR_RETURN(Meta m, ReadMeta(object, "Kustomization", kKustomizationApiVersion, where,
                                    default_namespace));
  const std::string prefix = Prefix(where, m.ns, m.name, "Kustomization");
  const Json& spec = object["spec"];
  RETURN_IF_ERROR(CheckKnownFields(spec,
                                   {"commonMetadata",
                                    "components",
                                    "decryption",
                                    "deletionPolicy",
                                    "dependsOn",
                                    "force",
                                    "healthCheckExprs",
                                    "healthChecks",
                                    "ignoreMissingComponents",
                                    "images",
                                    "interval",
                                    "kubeConfig",
                                    "namePrefix",
                                    "nameSuffix",
                                    "patches",
                                    "path",
                                    "postBuild",
                                    "prune",
                                    "retryInterval",
                                    "serviceAccountName",
                                    "sourceRef",
                                    "suspend",
                                    "targetNamespace",
                                    "timeout",
                                    "wait"},
                                   "spec", prefix));
  Kustomization k;
  k.namespace_ = m.ns;
  k.name = m.name;
  k.object = object;
  ASSIGN_OR_RETURN(k.interval, OptDuration(spec, "interval", std::chrono::milliseconds(0), prefix));
  if (k.interval.count() <= 0) {
    return InvalidArgumentError(prefix + "spec.interval is required and must be positive");
  }
  ASSIGN_OR_RETURN(k.retry_interval, OptDuration(spec, "retryInterval", k.interval, prefix));
  ASSIGN_OR_RETURN(k.timeout, OptDuration(spec, "timeout", k.interval, prefix));
  ASSIGN_OR_RETURN(std::string path, OptString(spec, "path", "spec", prefix));
  if (!path.empty()) k.path = path;
  ASSIGN_OR_RETURN(k.prune, OptBool(spec, "prune", "spec", prefix));
  ASSIGN_OR_RETURN(k.wait, OptBool(spec, "wait", "spec", prefix));
  ASSIGN_OR_RETURN(k.force, OptBool(spec, "force", "spec", prefix));
  ASSIGN_OR_RETURN(k.suspend, OptBool(spec, "suspend", "spec", prefix));
  ASSIGN_OR_RETURN(k.target_namespace, OptString(spec, "targetNamespace", "spec", prefix));
  if (!spec.contains("sourceRef"))
    return InvalidArgumentError(prefix + "spec.sourceRef is required");
  const Json& sr = spec["sourceRef"];
  RETURN_IF_ERROR(
      CheckKnownFields(sr, {"apiVersion", "kind", "name", "namespace"}, "spec.sourceRef", prefix));
  ASSIGN_OR_RETURN(k.source_ref.kind, OptString(sr, "kind", "spec.sourceRef", prefix));
  ASSIGN_OR_RETURN(k.source_ref.name, OptString(sr, "name", "spec.sourceRef", prefix));
  ASSIGN_OR_RETURN(k.source_ref.namespace_, OptString(sr, "namespace", "spec.sourceRef", prefix));
  if (k.source_ref.namespace_.empty()) k.source_ref.namespace_ = k.namespace_;
  if (k.source_ref.name.empty())
    return InvalidArgumentError(prefix + "spec.sourceRef.name is required");
  if (k.source_ref.kind != "GitRepository") {
    return InvalidArgumentError(prefix + "spec.sourceRef.kind \"" + k.source_ref.kind +
                                "\" is not supported (driftguard reads GitRepository sources)");
  }
  if (spec.contains("dependsOn")) {
    const Json& deps = spec["dependsOn"];
    if (!deps.is_array()) return InvalidArgumentError(prefix + "\"spec.dependsOn\" must be a list");
    for (const Json& d : deps) {
      RETURN_IF_ERROR(CheckKnownFields(d, {"name", "namespace"}, "spec.dependsOn[]", prefix));
      DependsOn dep;
      ASSIGN_OR_RETURN(dep.name, OptString(d, "name", "spec.dependsOn[]", prefix));
      ASSIGN_OR_RETURN(dep.namespace_, OptString(d, "namespace", "spec.dependsOn[]", prefix));
      if (dep.namespace_.empty()) dep.namespace_ = k.namespace_;
      k.depends_on.push_back(std::move(dep));
    }
  }
  return k;
}

}  // namespace driftguard::core
