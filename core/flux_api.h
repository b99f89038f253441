// Flux API types driftguard reads: source.toolkit.fluxcd.io/v1 GitRepository and
// kustomize.toolkit.fluxcd.io/v1 Kustomization, plus Go-style durations ("1m30s").
//
// The structs hold the fields driftguard acts on; `object` keeps the whole original object so that
// rarely used fields (postBuild, patches, images, commonMetadata, ...) travel to the code that
// needs them without being modelled twice. Parsing rejects unknown spec fields with an error naming
// the field and the object, as the API server would for a structural schema:
//   "flux-system/web: Kustomization: unknown field \"spec.pth\""
//
//   ASSIGN_OR_RETURN(GitRepository repo, ParseGitRepository(obj));
//   repo.interval  // std::chrono::milliseconds
#ifndef DRIFTGUARD_CORE_FLUX_API_H_
#define DRIFTGUARD_CORE_FLUX_API_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace driftguard::core {

inline constexpr std::string_view kGitRepositoryApiVersion = "source.toolkit.fluxcd.io/v1";
inline constexpr std::string_view kKustomizationApiVersion = "kustomize.toolkit.fluxcd.io/v1";
// Labels Flux stamps on everything a Kustomization applies.
inline constexpr std::string_view kOwnerNameLabel = "kustomize.toolkit.fluxcd.io/name";
inline constexpr std::string_view kOwnerNamespaceLabel = "kustomize.toolkit.fluxcd.io/namespace";
// `disabled` on an object or a Kustomization: Flux leaves it alone, and so does the guard.
inline constexpr std::string_view kReconcileAnnotation = "kustomize.toolkit.fluxcd.io/reconcile";

// Parses a Go duration ("300ms", "1.5h", "1h2m3s", "2m0s"); the error names the text.
StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);
// Formats like Go's time.Duration.String() for whole milliseconds ("1m30s", "250ms", "0s").
std::string FormatDuration(std::chrono::milliseconds d);

struct GitRepositoryRef {
  std::string branch;
  std::string tag;
  std::string semver;
  std::string name;
  std::string commit;
};

struct GitRepository {
  std::string namespace_;
  std::string name;
  std::string url;
  GitRepositoryRef ref;
  std::string secret_ref;  // name of a Secret in the same namespace ("" = none)
  std::chrono::milliseconds interval{60'000};
  std::chrono::milliseconds timeout{60'000};  // Flux's default
  std::optional<std::string> ignore;          // spec.ignore (gitignore syntax)
  bool suspend = false;
  Json object;  // the whole object as written
};

struct SourceReference {
  std::string kind;  // GitRepository (OCIRepository/Bucket are rejected: not supported)
  std::string name;
  std::string namespace_;  // defaults to the Kustomization's namespace
};

struct DependsOn {
  std::string namespace_;
  std::string name;
};

struct Kustomization {
  std::string namespace_;
  std::string name;
  SourceReference source_ref;
  std::string path = "./";
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds retry_interval{0};  // defaults to interval
  std::chrono::milliseconds timeout{0};         // defaults to interval
  bool prune = false;
  bool wait = false;
  bool force = false;
  bool suspend = false;
  std::string target_namespace;
  std::vector<DependsOn> depends_on;
  Json object;  // the whole object as written (postBuild, patches, images, commonMetadata, ...)

  Json spec() const { return object.value("spec", Json::object()); }
};

// `where` prefixes errors (e.g. "config.yaml: document 3"); the object's namespace defaults to
// `default_namespace` when metadata.namespace is absent.
StatusOr<GitRepository> ParseGitRepository(const Json& object, std::string_view where = "",
                                           std::string_view default_namespace = "flux-system");
StatusOr<Kustomization> ParseKustomization(const Json& object, std::string_view where = "",
                                           std::string_view default_namespace = "flux-system");

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_FLUX_API_H_
