// FakeApiServer: a TEST DOUBLE of the Kubernetes API server, in-process, over real HTTPS on
// 127.0.0.1 (port 0), for tests of the client and the reconciler. Not for production.
//
// It follows the API conventions driftguard depends on:
//  - discovery (/api, /api/v1, /apis, /apis/<g>/<v>, /version) for a configurable resource set;
//    creating a CustomResourceDefinition adds its resource once it is established (at once by
//    default; Options::establish_crds = false leaves that to EstablishCrd);
//  - an in-memory store: resourceVersion from one global counter, uid, creationTimestamp,
//    generation bumped when anything outside metadata and status changes, no-op writes that
//    change nothing and bump nothing;
//  - errors as the API server's `Status` objects: 404 NotFound, 409 AlreadyExists / Conflict
//    (stale resourceVersion, SSA conflicts), 410 Expired, 422 Invalid (name validation, immutable
//    paths) with causes, 400 BadRequest, 401 Unauthorized (when a token is required);
//  - LIST with labelSelector (=, ==, !=, in, notin, exists, !exists), fieldSelector
//    (metadata.name, metadata.namespace), limit/continue; built-in kinds' items carry no
//    apiVersion/kind, as the real server's;
//  - WATCH streams (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR) from a resourceVersion, synthetic
//    ADDED events without one, bookmarks every Options::bookmark_interval, timeoutSeconds, and a
//    410 Expired ERROR event for versions older than the last CompactHistory();
//  - server-side apply (application/apply-patch+yaml): the applied config is merged into the live
//    object (maps merge, lists and scalars replace: lists are atomic), metadata.managedFields
//    lists each manager's fields (FieldsV1), a field owned by another manager with a different
//    value is a 409 conflict unless force=true (which takes it over), and fields the manager
//    applied before but no longer applies are removed unless another manager owns them;
//  - dryRun=All (nothing persisted, no version bump), merge patch, PUT, the status subresource
//    (main-resource writes keep status, status writes change only status), DELETE with
//    propagation (immediate; Background/Foreground delete dependents by ownerReferences, Orphan
//    strips the references; deleting a Namespace deletes its objects), namespaces must exist.
//
// Fault injection: FailNext (the next N matching requests fail with a code, optional
// Retry-After), SetLatency, Down/Up (an outage: connections refused, open watches cut), and
// CloseWatches (servers end watch streams cleanly). Requests() logs every request.
//
// Not modelled: admission, defaulting, finalizers and graceful deletion, strategic merge patch,
// list-map merge keys in SSA, continue-token expiry, consistent snapshots across list pages.
//
// Thread safety: all methods may be called from any thread while the server runs.
//
//   FakeApiServer api;                      // starts; throws std::runtime_error if it cannot
//   KubeConfig config = api.Config();       // server URL, CA, token
//   api.FailNext(2, 429, {.method = "GET"}, /*retry_after_seconds=*/1);
#ifndef DRIFTGUARD_TESTS_SUPPORT_FAKE_APISERVER_H_
#define DRIFTGUARD_TESTS_SUPPORT_FAKE_APISERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/kube_config.h"

namespace driftguard::testing {

struct FakeResource {
  std::string group;  // "" = core
  std::string version;
  std::string kind;
  std::string plural;
  std::string singular;
  bool namespaced = true;
  bool has_status = false;
  // JSON pointers whose value may not change after creation (422 "field is immutable").
  std::vector<std::string> immutable_paths;
  bool is_crd = false;  // set for resources added by a CustomResourceDefinition
};

// Core v1 ConfigMaps, Secrets, Services, Namespaces, ServiceAccounts, Events; apps/v1
// Deployments, StatefulSets, DaemonSets; batch/v1 Jobs; apiextensions.k8s.io/v1 CRDs;
// coordination.k8s.io/v1 Leases; admissionregistration.k8s.io/v1 webhook configurations.
std::vector<FakeResource> DefaultFakeResources();

// CRDs for kustomize.toolkit.fluxcd.io/v1 Kustomization and source.toolkit.fluxcd.io/v1
// GitRepository (with status subresources).
std::vector<core::Json> FluxCrds();

struct RecordedRequest {
  std::string method;
  std::string path;   // without query
  std::string query;  // raw, without '?'
  std::string content_type;
  size_t request_bytes = 0;
  size_t response_bytes = 0;  // 0 for watch streams
  int status = 0;
};

struct FaultMatch {
  std::string method;          // "" = any
  std::string path_substring;  // "" = any
};

class FakeApiServer {
 public:
  struct Options {
    std::vector<FakeResource> resources = DefaultFakeResources();
    bool install_flux_crds = true;
    bool establish_crds = true;
    // When set, requests need "Authorization: Bearer <token>" (401 otherwise).
    std::string required_token;
    // When set, TLS requires a client certificate signed by the fake's CA.
    bool require_client_certificate = false;
    std::chrono::milliseconds bookmark_interval{200};
    // Namespaces that exist from the start.
    std::vector<std::string> namespaces = {"default", "kube-system"};
  };

  FakeApiServer();
  explicit FakeApiServer(Options options);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  int port() const;
  std::string url() const;  // "https://127.0.0.1:<port>"
  // The CA that signed the serving and client certificates (PEM), and its file.
  const std::string& ca_pem() const;
  std::string ca_file() const;
  // A client certificate/key signed by the CA (CN "driftguard-test", O "system:masters").
  const std::string& client_cert_pem() const;
  const std::string& client_key_pem() const;
  std::string client_cert_file() const;
  std::string client_key_file() const;
  // A PEM CA that did NOT sign the serving certificate (for "bad CA" tests).
  const std::string& other_ca_pem() const;

  // A client configuration for this server: URL, CA, the required token (if any), fast retries.
  core::KubeConfig Config() const;

  // Store access that bypasses HTTP (and the request log). Put creates or replaces, assigning
  // metadata as a create/update would (manager "fake-seed"); returns the stored object.
  core::Json Put(const core::Json& object);
  // Put, then `object`'s status (absent = none) as a status-subresource write would store it
  // (what a controller does: e.g. a Deployment's replica counts); returns the stored object.
  core::Json PutStatus(const core::Json& object);
  std::optional<core::Json> Object(const std::string& api_version, const std::string& kind,
                                   const std::string& ns, const std::string& name) const;
  int64_t resource_version() const;
  // Forgets the watch history: watches from any earlier version get 410 Expired.
  void CompactHistory();
  // Marks a CRD established and adds its resources (for Options::establish_crds = false).
  void EstablishCrd(const std::string& name);

  void SetRequiredToken(const std::string& token);
  // The next `count` requests matching `match` fail with `http_code` (a `Status` body).
  void FailNext(int count, int http_code, FaultMatch match = {},
                std::optional<int> retry_after_seconds = std::nullopt);
  void SetLatency(std::chrono::milliseconds latency);
  // Outage: stops listening and cuts every connection and watch; Up() listens again on the
  // same port with the same state.
  void Down();
  void Up();
  // Ends every open watch stream cleanly (as a server-side timeout does).
  void CloseWatches();

  std::vector<RecordedRequest> Requests() const;
  void ClearRequests();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftguard::testing

#endif  // DRIFTGUARD_TESTS_SUPPORT_FAKE_APISERVER_H_
