#include "reconciler/flux_postbuild.h"

#include "core/yaml.h"
#include "reconciler/internal/kustomize_patch.h"
#include "reconciler/internal/kustomize_replacements.h"
#include "reconciler/internal/kustomize_resource.h"
#include "reconciler/internal/kustomize_transformers.h"

namespace driftguard::reconciler {
namespace {

using core::Json;
using internal::Resource;

constexpr const char* kSubstituteKey = "kustomize.toolkit.fluxcd.io/substitute";
constexpr const char* kNameLabel = "kustomize.toolkit.fluxcd.io/name";
constexpr const char* kNamespaceLabel = "kustomize.toolkit.fluxcd.io/namespace";

bool NameStart(char c) { return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }

bool ValidVarName(const std::string& s) {
  if (s.empty() || !NameStart(s[0])) return false;
  for (char c : s) {
    if (!NameChar(c)) return false;
  }
  return true;
}

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

bool SubstitutionDisabled(const Json& obj) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) return false;
  for (const char* m : {"labels", "annotations"}) {
    const Json& meta = obj["metadata"];
    if (meta.contains(m) && meta[m].is_object() && Str(meta[m], kSubstituteKey) == "disabled") {
      return true;
    }
  }
  return false;
}

core::StatusOr<std::string> Expand(std::string_view text,
                                   const std::map<std::string, std::string>& vars, bool strict,
                                   int depth);

core::StatusOr<std::string> Lookup(const std::string& name,
                                   const std::map<std::string, std::string>& vars, bool strict) {
  auto it = vars.find(name);
  if (it != vars.end()) return it->second;
  if (strict) {
    return core::InvalidArgumentError("variable not set (strict mode): \"" + name + "\"");
  }
  return std::string();
}

core::StatusOr<std::string> Expand(std::string_view text,
                                   const std::map<std::string, std::string>& vars, bool strict,
                                   int depth) {
  if (depth > 10) return core::InvalidArgumentError("variable defaults nested too deeply");
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      ++i;
      continue;
    }
    char n = text[i + 1];
    if (n == '$') {  // escape: "$$" is a literal "$"
      out += '$';
      i += 2;
      continue;
    }
    // Only "${" opens a reference: Flux runs drone/envsubst, whose scanner treats a bare `$var`
    // as text, so `$HOME` in a shell script inside a ConfigMap survives post-build.
    if (n != '{') {
      out += c;
      ++i;
      continue;
    }
    // ${...}: find the matching brace.
    size_t j = i + 2;
    int level = 1;
    while (j < text.size() && level > 0) {
      if (text[j] == '{') ++level;
      if (text[j] == '}') --level;
      if (level > 0) ++j;
    }
    if (j >= text.size()) {
      return core::InvalidArgumentError("unterminated variable reference '" +
                                        std::string(text.substr(i, 20)) + "'");
    }
    std::string_view inner = text.substr(i + 2, j - i - 2);
    size_t k = 0;
    while (k < inner.size() && NameChar(inner[k])) ++k;
    std::string name(inner.substr(0, k));
    std::string_view rest = inner.substr(k);
    if (!ValidVarName(name)) {
      return core::InvalidArgumentError("invalid variable reference '${" + std::string(inner) +
                                        "}'");
    }
    auto it = vars.find(name);
    if (rest.empty()) {
      ASSIGN_OR_RETURN(std::string v, Lookup(name, vars, strict));
      out += v;
    } else if (rest.starts_with(":=") || rest.starts_with(":-")) {
      if (it != vars.end() && !it->second.empty()) {
        out += it->second;
      } else {
        ASSIGN_OR_RETURN(std::string d, Expand(rest.substr(2), vars, strict, depth + 1));
        out += d;
      }
    } else if (rest.starts_with("=") || rest.starts_with("-")) {
      if (it != vars.end()) {
        out += it->second;
      } else {
        ASSIGN_OR_RETURN(std::string d, Expand(rest.substr(1), vars, strict, depth + 1));
        out += d;
      }
    } else {
      return core::UnimplementedError("unsupported variable expression '${" + std::string(inner) +
                                      "}'");
    }
    i = j + 1;
  }
  return out;
}

}  // namespace

core::StatusOr<std::string> SubstituteVariables(std::string_view text,
                                                const std::map<std::string, std::string>& vars,
                                                bool strict) {
  return Expand(text, vars, strict, 0);
}

core::Status ApplyFluxPostBuild(std::vector<RenderedObject>& objects,
                                const FluxBuildOptions& options) {
  const Json& spec = options.spec.is_object() ? options.spec : Json::object();
  const FieldOrigin& origin = options.origin;
  std::vector<Resource> res;
  res.reserve(objects.size());
  for (const RenderedObject& o : objects) {
    Resource r;
    r.obj = o.object;
    r.origins = o.origins;
    res.push_back(std::move(r));
  }
  std::string where = "Kustomization/" + options.namespace_ + "/" + options.name;

  if (spec.contains("patches") && spec["patches"].is_array()) {
    for (size_t pi = 0; pi < spec["patches"].size(); ++pi) {
      const Json& p = spec["patches"][pi];
      std::string pwhere = where + ": spec.patches[" + std::to_string(pi) + "]";
      auto docs = core::ParseYamlStream(Str(p, "patch"), pwhere);
      if (!docs.ok()) return docs.status();
      internal::PatchSource src;
      src.file = origin.file;
      src.line = origin.line;
      for (const core::YamlDocument& d : *docs) {
        if (d.value.is_null()) continue;
        std::vector<size_t> matched;
        if (p.contains("target") && p["target"].is_object()) {
          internal::Selector sel = internal::ParseSelector(p["target"]);
          for (size_t i = 0; i < res.size(); ++i) {
            ASSIGN_OR_RETURN(bool ok, internal::Selects(sel, res[i]));
            if (ok) matched.push_back(i);
          }
        } else {
          if (d.value.is_array()) {
            return core::InvalidArgumentError(pwhere + ": must specify a target for JSON patch");
          }
          Resource probe;
          probe.obj = d.value;
          for (size_t i = 0; i < res.size(); ++i) {
            if (res[i].CurId().Equals(probe.CurId())) matched.push_back(i);
          }
          if (matched.empty()) {
            return core::NotFoundError(pwhere + ": no matches for Id " + probe.CurId().ToString() +
                                       "; failed to find unique target for patch " +
                                       probe.CurId().ToString());
          }
        }
        std::vector<size_t> deleted_idx;
        for (size_t i : matched) {
          if (d.value.is_array()) {
            core::Status st = internal::ApplyJsonPatch(res[i], d.value, src);
            if (!st.ok()) return st.WithPrefix(pwhere);
          } else {
            bool deleted = false;
            RETURN_IF_ERROR(internal::ApplyStrategicMerge(res[i], d.value, src, &deleted));
            if (deleted) deleted_idx.push_back(i);
          }
        }
        for (auto it = deleted_idx.rbegin(); it != deleted_idx.rend(); ++it) {
          res.erase(res.begin() + static_cast<long>(*it));
        }
      }
    }
  }
  std::string target_ns = Str(spec, "targetNamespace");
  if (!target_ns.empty()) internal::ApplyNamespace(res, target_ns, origin);
  std::string prefix = Str(spec, "namePrefix"), suffix = Str(spec, "nameSuffix");
  if (!prefix.empty()) internal::ApplyPrefixSuffix(res, prefix, "", origin);
  if (!suffix.empty()) internal::ApplyPrefixSuffix(res, "", suffix, origin);
  if (spec.contains("commonMetadata") && spec["commonMetadata"].is_object()) {
    const Json& cm = spec["commonMetadata"];
    for (const char* field : {"labels", "annotations"}) {
      if (!cm.contains(field) || !cm[field].is_object()) continue;
      std::map<std::string, std::string> m;
      std::map<std::string, FieldOrigin> origins;
      for (auto it = cm[field].begin(); it != cm[field].end(); ++it) {
        m[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
        origins[it.key()] = origin;
      }
      internal::ApplyLabels(
          res, m, {internal::FieldSpec{{}, std::string("metadata/") + field, true}}, origins);
    }
  }
  if (spec.contains("images") && spec["images"].is_array()) {
    std::vector<internal::ImageRule> rules;
    for (const Json& e : spec["images"]) {
      rules.push_back(
          {Str(e, "name"), Str(e, "newName"), Str(e, "newTag"), Str(e, "digest"), origin});
    }
    internal::ApplyImages(res, rules, {});
  }
  if (!target_ns.empty() || !prefix.empty() || !suffix.empty()) {
    RETURN_IF_ERROR(internal::FixNameReferences(res, internal::TransformerConfig::Defaults()));
  }

  // postBuild substitution.
  std::map<std::string, std::string> vars = options.substitutions_from_refs;
  if (spec.contains("postBuild") && spec["postBuild"].is_object()) {
    const Json& pb = spec["postBuild"];
    if (pb.contains("substitute") && pb["substitute"].is_object()) {
      for (auto it = pb["substitute"].begin(); it != pb["substitute"].end(); ++it) {
        vars[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
      }
    }
  }
  for (const auto& [k, v] : vars) {
    if (!ValidVarName(k)) {
      return core::InvalidArgumentError(where + ": '" + k +
                                        "' var name is invalid, must match "
                                        "'^[_[:alpha:]][_[:alpha:][:digit:]]*$'");
    }
  }
  if (!vars.empty()) {
    for (Resource& r : res) {
      if (SubstitutionDisabled(r.obj)) continue;
      std::string yaml = core::EmitYaml(r.obj);
      if (yaml.find('$') == std::string::npos) continue;
      std::string id = r.CurId().ToString();
      auto out = SubstituteVariables(yaml, vars, options.strict_substitution);
      if (!out.ok()) return out.status().WithPrefix(where + ": substitution in " + id);
      auto parsed = core::ParseYaml(*out, id);
      if (!parsed.ok()) {
        return parsed.status().WithPrefix(where + ": substitution in " + id +
                                          " produced invalid YAML");
      }
      r.obj = std::move(*parsed);
    }
  }
  for (Resource& r : res) {
    Json& labels = r.obj["metadata"]["labels"];
    if (!labels.is_object()) labels = Json::object();
    labels[kNameLabel] = options.name;
    labels[kNamespaceLabel] = options.namespace_;
    internal::SetOrigin(r.origins, "/metadata/labels/" + core::EscapePointerToken(kNameLabel),
                        origin);
    internal::SetOrigin(r.origins, "/metadata/labels/" + core::EscapePointerToken(kNamespaceLabel),
                        origin);
  }
  std::vector<RenderedObject> out;
  out.reserve(res.size());
  for (Resource& r : res) {
    RenderedObject o;
    o.object = std::move(r.obj);
    o.origins = std::move(r.origins);
    out.push_back(std::move(o));
  }
  objects = std::move(out);
  return core::OkStatus();
}

}  // namespace driftguard::reconciler
