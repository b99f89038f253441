// Where the Kubernetes API server is and how to authenticate to it.
//
// A KubeConfig comes from a kubeconfig file (the current context or a named one) or from the
// in-cluster service account. Certificates and keys are held as PEM text (file references are read
// at load time, relative paths resolved against the kubeconfig's folder, as kubectl does); the
// bearer token is either held inline or named by `token_file`, which the client re-reads whenever
// the file changes (projected service account tokens rotate).
//
//   ASSIGN_OR_RETURN(KubeConfig config, LoadKubeConfigFile("/root/.kube/config", "prod"));
//   config.field_manager = "driftguard";
//   RETURN_IF_ERROR(config.Validate());
//
// Supported: cluster server, certificate-authority(-data), insecure-skip-tls-verify; user
// client-certificate(-data)/client-key(-data), token, tokenFile. Refused with a clear error
// (never silently ignored): `exec` and `auth-provider` credential plugins, basic auth,
// tls-server-name, proxy-url.
//
// Components never read the environment: main.cc calls InClusterEnvironment::FromProcess() and
// passes the result to LoadInClusterConfig.
#ifndef DRIFTGUARD_CORE_KUBE_CONFIG_H_
#define DRIFTGUARD_CORE_KUBE_CONFIG_H_

#include <chrono>
#include <string>
#include <string_view>

#include "core/status.h"

namespace driftguard::core {

struct KubeConfig {
  // "https://host:port" (an optional path prefix is kept); "http://" only for tests and proxies.
  std::string server;
  // PEM certificates trusted for the server; empty = the system's trust store.
  std::string certificate_authority_pem;
  // Skips server certificate verification (kubeconfig insecure-skip-tls-verify). Never default.
  bool insecure_skip_tls_verify = false;
  // Client certificate and key (PEM); both or neither.
  std::string client_certificate_pem;
  std::string client_key_pem;
  // Bearer token, or a file holding it (re-read when it changes). At most one of the two.
  std::string token;
  std::string token_file;
  // The context's namespace (or the service account's); "default" when none is given.
  std::string namespace_ = "default";
  // Where the configuration came from, for messages ("kubeconfig /x (context prod)", "in-cluster").
  std::string source;

  // Client behaviour.
  std::string user_agent = "driftguard";
  // Field manager for server-side apply and updates.
  std::string field_manager = "driftguard";
  // Requests in flight at once (watches excluded); also the size of the connection pool.
  int max_concurrent_requests = 8;
  // Idle keep-alive connections kept for reuse.
  int max_idle_connections = 4;
  std::chrono::milliseconds connect_timeout{5000};
  // Bound on one request (not on a watch, whose server-side timeout bounds it).
  std::chrono::milliseconds request_timeout{30000};
  // Retries after 429 (Retry-After honoured) and, for reads, after 5xx and connection failures.
  int max_retries = 3;
  // Upper bound of one wait between retries, whatever Retry-After says.
  std::chrono::milliseconds max_retry_wait{10000};
  // Wait before the first retry when the server names none; doubles on each further retry.
  std::chrono::milliseconds retry_backoff{200};
  // Discovery is re-read when a kind is unknown, at most once per this interval.
  std::chrono::milliseconds discovery_min_refresh_interval{2000};

  // OK when the server URL parses, certificates and keys are valid PEM that match, and the
  // numbers are positive. Messages name the offending field.
  Status Validate() const;
};

// Parses kubeconfig text. `context` empty = current-context. `base_dir` resolves relative file
// references. Errors start with "kubeconfig <source>: ..." or "kubeconfig user \"u\": ..." /
// "kubeconfig cluster \"c\": ...".
StatusOr<KubeConfig> ParseKubeConfig(std::string_view text, std::string_view source,
                                     std::string_view base_dir, std::string_view context = "");

// Reads and parses a kubeconfig file.
StatusOr<KubeConfig> LoadKubeConfigFile(const std::string& path, std::string_view context = "");

// What the in-cluster configuration reads. The paths are injectable for tests.
struct InClusterEnvironment {
  std::string service_host;  // KUBERNETES_SERVICE_HOST
  std::string service_port;  // KUBERNETES_SERVICE_PORT
  std::string token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_path = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

  // Reads KUBERNETES_SERVICE_HOST/PORT from the process environment (for main.cc only).
  static InClusterEnvironment FromProcess();
};

// Builds the in-cluster configuration: server https://host:port (IPv6 hosts bracketed), the CA
// file's content, token_file = token_path (so rotation is picked up), namespace from its file.
StatusOr<KubeConfig> LoadInClusterConfig(const InClusterEnvironment& env);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_KUBE_CONFIG_H_
