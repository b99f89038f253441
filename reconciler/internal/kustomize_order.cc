#include "reconciler/internal/kustomize_order.h"

#include <algorithm>
#include <map>

namespace driftguard::reconciler::internal {
namespace {

const std::vector<std::string>& DefaultFirst() {
  static const std::vector<std::string> k = {"Namespace",
                                             "ResourceQuota",
                                             "StorageClass",
                                             "CustomResourceDefinition",
                                             "ServiceAccount",
                                             "PodSecurityPolicy",
                                             "Role",
                                             "ClusterRole",
                                             "RoleBinding",
                                             "ClusterRoleBinding",
                                             "ConfigMap",
                                             "Secret",
                                             "Endpoints",
                                             "Service",
                                             "LimitRange",
                                             "PriorityClass",
                                             "PersistentVolume",
                                             "PersistentVolumeClaim",
                                             "Deployment",
                                             "StatefulSet",
                                             "CronJob",
                                             "PodDisruptionBudget"};
  return k;
}

const std::vector<std::string>& DefaultLast() {
  static const std::vector<std::string> k = {"MutatingWebhookConfiguration",
                                             "ValidatingWebhookConfiguration"};
  return k;
}

std::string GvkString(const Gvk& g) {
  return (g.group.empty() ? "~G" : g.group) + "_" + (g.version.empty() ? "~V" : g.version) + "_" +
         (g.kind.empty() ? "~K" : g.kind);
}

}  // namespace

void SortLegacy(std::vector<Resource>& res, const std::vector<std::string>& order_first,
                const std::vector<std::string>& order_last) {
  const auto& first = order_first.empty() ? DefaultFirst() : order_first;
  const auto& last = order_last.empty() ? DefaultLast() : order_last;
  std::map<std::string, int> rank;
  for (size_t i = 0; i < first.size(); ++i) {
    rank[first[i]] = static_cast<int>(i) - static_cast<int>(first.size());
  }
  for (size_t i = 0; i < last.size(); ++i) rank[last[i]] = static_cast<int>(i) + 1;
  struct Key {
    int rank;
    std::string gvk, ns, name;
  };
  std::vector<std::pair<Key, size_t>> keys;
  for (size_t i = 0; i < res.size(); ++i) {
    Gvk g = res[i].GetGvk();
    auto it = rank.find(g.kind);
    std::string ns = res[i].Namespace();
    keys.push_back({Key{it == rank.end() ? 0 : it->second, GvkString(g),
                        ns.empty() ? std::string("~X") : ns, res[i].Name()},
                    i});
  }
  std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    if (a.first.rank != b.first.rank) return a.first.rank < b.first.rank;
    if (a.first.gvk != b.first.gvk) return a.first.gvk < b.first.gvk;
    if (a.first.ns != b.first.ns) return a.first.ns < b.first.ns;
    return a.first.name < b.first.name;
  });
  std::vector<Resource> out;
  out.reserve(res.size());
  for (auto& [k, i] : keys) out.push_back(std::move(res[i]));
  res = std::move(out);
}

}  // namespace driftguard::reconciler::internal
