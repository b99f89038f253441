#include "core/flux_config.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/yaml.h"

namespace driftguard::core {
namespace {

std::string Key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

// Depth-first search for a dependsOn cycle; returns the cycle as "a -> b -> a" or "".
std::string FindCycle(const std::map<std::string, std::vector<std::string>>& edges) {
  std::map<std::string, int> state;  // 0 unvisited, 1 on stack, 2 done
  std::vector<std::string> stack;
  std::string cycle;
  std::function<bool(const std::string&)> visit = [&](const std::string& node) {
    state[node] = 1;
    stack.push_back(node);
    auto it = edges.find(node);
    if (it != edges.end()) {
      for (const std::string& next : it->second) {
        if (state[next] == 1) {
          auto begin = std::find(stack.begin(), stack.end(), next);
          for (auto s = begin; s != stack.end(); ++s) cycle += *s + " -> ";
          cycle += next;
          return true;
        }
        if (state[next] == 0 && visit(next)) return true;
      }
    }
    stack.pop_back();
    state[node] = 2;
    return false;
  };
  for (const auto& [node, _] : edges) {
    if (state[node] == 0 && visit(node)) return cycle;
  }
  return "";
}

}  // namespace

const GitRepository* FluxConfig::FindRepository(std::string_view ns, std::string_view name) const {
  for (const GitRepository& r : repositories) {
    if (r.namespace_ == ns && r.name == name) return &r;
  }
  return nullptr;
}

StatusOr<FluxConfig> ParseFluxConfig(std::string_view text, std::string_view source) {
  ASSIGN_OR_RETURN(std::vector<YamlDocument> docs, ParseYamlStream(text, source));
  FluxConfig cfg;
  std::set<std::string> repo_names, ks_names;
  for (const YamlDocument& doc : docs) {
    const std::string where = std::string(source) + ": document " + std::to_string(doc.index + 1);
    if (doc.value.is_null()) continue;
    if (!doc.value.is_object()) return InvalidArgumentError(where + ": not a mapping");
    const std::string api_version = doc.value.value("apiVersion", "");
    const std::string kind = doc.value.value("kind", "");
    if (kind == "GitRepository") {
      ASSIGN_OR_RETURN(GitRepository repo, ParseGitRepository(doc.value, where));
      if (!repo_names.insert(Key(repo.namespace_, repo.name)).second) {
        return InvalidArgumentError(where + ": GitRepository " + Key(repo.namespace_, repo.name) +
                                    " is defined twice");
      }
      cfg.repositories.push_back(std::move(repo));
    } else if (kind == "Kustomization" && api_version != "kustomize.config.k8s.io/v1beta1") {
      ASSIGN_OR_RETURN(Kustomization k, ParseKustomization(doc.value, where));
      if (!ks_names.insert(Key(k.namespace_, k.name)).second) {
        return InvalidArgumentError(where + ": Kustomization " + Key(k.namespace_, k.name) +
                                    " is defined twice");
      }
      cfg.kustomizations.push_back(std::move(k));
    } else if (kind == "GuardConfig") {
      if (api_version != kGuardConfigApiVersion) {
        return InvalidArgumentError(where + ": GuardConfig: apiVersion must be " +
                                    std::string(kGuardConfigApiVersion) + ", got \"" + api_version +
                                    "\"");
      }
      if (cfg.guard_config) {
        return InvalidArgumentError(where + ": a second GuardConfig (the first is in " +
                                    cfg.guard_config_where + "); at most one is allowed");
      }
      cfg.guard_config = doc.value;
      cfg.guard_config_where = where;
    } else {
      return InvalidArgumentError(
          where + ": unsupported object " + (api_version.empty() ? "" : api_version + " ") +
          (kind.empty() ? "without kind" : kind) +
          " (expected source.toolkit.fluxcd.io/v1 GitRepository, kustomize.toolkit.fluxcd.io/v1 "
          "Kustomization or driftguard.io/v1alpha1 GuardConfig)");
    }
  }
  std::map<std::string, std::vector<std::string>> edges;
  for (const Kustomization& k : cfg.kustomizations) {
    const std::string self = Key(k.namespace_, k.name);
    if (cfg.FindRepository(k.source_ref.namespace_, k.source_ref.name) == nullptr) {
      return InvalidArgumentError(
          std::string(source) + ": Kustomization " + self + ": sourceRef GitRepository " +
          Key(k.source_ref.namespace_, k.source_ref.name) + " is not defined in this file");
    }
    for (const DependsOn& d : k.depends_on) {
      const std::string dep = Key(d.namespace_, d.name);
      if (!ks_names.contains(dep)) {
        return InvalidArgumentError(std::string(source) + ": Kustomization " + self +
                                    ": dependsOn " + dep + " is not defined in this file");
      }
      edges[self].push_back(dep);
    }
  }
  if (std::string cycle = FindCycle(edges); !cycle.empty()) {
    return InvalidArgumentError(std::string(source) + ": dependsOn cycle: " + cycle);
  }
  return cfg;
}

StatusOr<FluxConfig> LoadFluxConfig(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read config file " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseFluxConfig(ss.str(), path.string());
}

}  // namespace driftguard::core
