#include "core/kube_config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/internal/kube_tls.h"
#include "core/json.h"
#include "core/yaml.h"

namespace driftguard::core {
namespace {

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

StatusOr<std::string> DecodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned int acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = value(c);
    if (v < 0 || padding) return InvalidArgumentError("not valid base64");
    acc = (acc << 6) | static_cast<unsigned int>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string StringAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

const Json* FindNamed(const Json& root, const char* list, std::string_view name) {
  auto it = root.find(list);
  if (it == root.end() || !it->is_array()) return nullptr;
  for (const Json& entry : *it) {
    if (entry.is_object() && StringAt(entry, "name") == name) return &entry;
  }
  return nullptr;
}

std::string Resolve(std::string_view base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / p).string();
}

// Reads "<key>-data" (base64) or "<key>" (a file); "" when neither is set.
StatusOr<std::string> DataOrFile(const Json& obj, const std::string& key, std::string_view base_dir,
                                 const std::string& what) {
  std::string data = StringAt(obj, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded.ok()) return InvalidArgumentError(what + ": " + key + "-data: not valid base64");
    return *decoded;
  }
  std::string file = StringAt(obj, key.c_str());
  if (file.empty()) return std::string();
  auto content = ReadWholeFile(Resolve(base_dir, file));
  if (!content.ok())
    return InvalidArgumentError(what + ": " + key + ": " + content.status().message());
  return *content;
}

}  // namespace

Status KubeConfig::Validate() const {
  auto parsed = internal::ParseServerUrl(server);
  if (!parsed.ok()) return parsed.status();
  if (!certificate_authority_pem.empty()) {
    auto certs = internal::ParseCertificates(certificate_authority_pem);
    if (!certs.ok()) return certs.status().WithPrefix("certificate authority");
  }
  if (client_certificate_pem.empty() != client_key_pem.empty()) {
    return InvalidArgumentError(
        "client certificate and client key must be given together (one is missing)");
  }
  if (!client_certificate_pem.empty()) {
    auto identity = internal::ParseClientIdentity(client_certificate_pem, client_key_pem);
    if (!identity.ok()) return identity.status();
  }
  if (!token.empty() && !token_file.empty()) {
    return InvalidArgumentError("token and token_file are exclusive; set one");
  }
  if (max_concurrent_requests < 1) {
    return InvalidArgumentError("max_concurrent_requests must be at least 1");
  }
  if (max_idle_connections < 0) return InvalidArgumentError("max_idle_connections must be >= 0");
  if (max_retries < 0) return InvalidArgumentError("max_retries must be >= 0");
  if (connect_timeout.count() <= 0 || request_timeout.count() <= 0) {
    return InvalidArgumentError("connect_timeout and request_timeout must be positive");
  }
  if (field_manager.empty()) return InvalidArgumentError("field_manager must not be empty");
  return OkStatus();
}

StatusOr<KubeConfig> ParseKubeConfig(std::string_view text, std::string_view source,
                                     std::string_view base_dir, std::string_view context) {
  const std::string where = "kubeconfig " + std::string(source);
  auto parsed = ParseYaml(text, source);
  if (!parsed.ok()) return InvalidArgumentError(where + ": " + parsed.status().message());
  const Json& root = *parsed;
  if (!root.is_object()) return InvalidArgumentError(where + ": not a kubeconfig (expected a map)");

  std::string context_name(context);
  if (context_name.empty()) context_name = StringAt(root, "current-context");
  if (context_name.empty()) {
    return InvalidArgumentError(where + ": current-context is not set; name a context");
  }
  const Json* ctx_entry = FindNamed(root, "contexts", context_name);
  if (ctx_entry == nullptr) {
    return NotFoundError(where + ": context \"" + context_name + "\" not found");
  }
  const Json empty = Json::object();
  const Json& ctx = ctx_entry->contains("context") ? (*ctx_entry)["context"] : empty;
  const std::string cluster_name = StringAt(ctx, "cluster");
  const std::string user_name = StringAt(ctx, "user");

  const Json* cluster_entry = FindNamed(root, "clusters", cluster_name);
  if (cluster_entry == nullptr) {
    return NotFoundError(where + ": context \"" + context_name + "\" refers to cluster \"" +
                         cluster_name + "\", which is not defined");
  }
  const Json& cluster = cluster_entry->contains("cluster") ? (*cluster_entry)["cluster"] : empty;

  KubeConfig config;
  config.source = where + " (context " + context_name + ")";
  const std::string cluster_what = "kubeconfig cluster \"" + cluster_name + "\"";
  config.server = StringAt(cluster, "server");
  if (config.server.empty()) return InvalidArgumentError(cluster_what + ": server is not set");
  if (!StringAt(cluster, "tls-server-name").empty()) {
    return InvalidArgumentError(cluster_what + ": tls-server-name is not supported");
  }
  if (!StringAt(cluster, "proxy-url").empty()) {
    return InvalidArgumentError(cluster_what + ": proxy-url is not supported");
  }
  ASSIGN_OR_RETURN(config.certificate_authority_pem,
                   DataOrFile(cluster, "certificate-authority", base_dir, cluster_what));
  if (!config.certificate_authority_pem.empty()) {
    auto certs = internal::ParseCertificates(config.certificate_authority_pem);
    if (!certs.ok()) {
      return InvalidArgumentError(cluster_what +
                                  ": certificate authority: " + certs.status().message());
    }
  }
  if (auto it = cluster.find("insecure-skip-tls-verify"); it != cluster.end()) {
    if (!it->is_boolean()) {
      return InvalidArgumentError(cluster_what +
                                  ": insecure-skip-tls-verify must be true or false");
    }
    config.insecure_skip_tls_verify = it->get<bool>();
  }

  if (!user_name.empty()) {
    const Json* user_entry = FindNamed(root, "users", user_name);
    if (user_entry == nullptr) {
      return NotFoundError(where + ": context \"" + context_name + "\" refers to user \"" +
                           user_name + "\", which is not defined");
    }
    const Json& user = user_entry->contains("user") ? (*user_entry)["user"] : empty;
    const std::string user_what = "kubeconfig user \"" + user_name + "\"";
    if (user.contains("exec")) {
      return UnimplementedError(user_what +
                                ": exec credential plugins are not supported; use a token or "
                                "client certificate");
    }
    if (user.contains("auth-provider")) {
      return UnimplementedError(user_what +
                                ": auth-provider plugins are not supported; use a token or client "
                                "certificate");
    }
    if (!StringAt(user, "username").empty() || !StringAt(user, "password").empty()) {
      return UnimplementedError(user_what +
                                ": basic authentication is not supported; use a token or client "
                                "certificate");
    }
    ASSIGN_OR_RETURN(config.client_certificate_pem,
                     DataOrFile(user, "client-certificate", base_dir, user_what));
    ASSIGN_OR_RETURN(config.client_key_pem, DataOrFile(user, "client-key", base_dir, user_what));
    if (config.client_certificate_pem.empty() != config.client_key_pem.empty()) {
      return InvalidArgumentError(user_what +
                                  ": client-certificate and client-key must be given together");
    }
    if (!config.client_certificate_pem.empty()) {
      auto identity =
          internal::ParseClientIdentity(config.client_certificate_pem, config.client_key_pem);
      if (!identity.ok())
        return InvalidArgumentError(user_what + ": " + identity.status().message());
    }
    config.token = StringAt(user, "token");
    std::string token_file = StringAt(user, "tokenFile");
    if (!token_file.empty()) {
      if (!config.token.empty()) {
        return InvalidArgumentError(user_what + ": token and tokenFile are exclusive");
      }
      config.token_file = Resolve(base_dir, token_file);
    }
  }
  std::string ns = StringAt(ctx, "namespace");
  if (!ns.empty()) config.namespace_ = ns;
  return config;
}

StatusOr<KubeConfig> LoadKubeConfigFile(const std::string& path, std::string_view context) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return InvalidArgumentError("kubeconfig: " + text.status().message());
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  return ParseKubeConfig(*text, path, base_dir, context);
}

InClusterEnvironment InClusterEnvironment::FromProcess() {
  InClusterEnvironment env;
  if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST")) env.service_host = host;
  if (const char* port = std::getenv("KUBERNETES_SERVICE_PORT")) env.service_port = port;
  return env;
}

StatusOr<KubeConfig> LoadInClusterConfig(const InClusterEnvironment& env) {
  if (env.service_host.empty() || env.service_port.empty()) {
    return FailedPreconditionError(
        "in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
        "set (not running in a pod?)");
  }
  KubeConfig config;
  config.source = "in-cluster";
  std::string host = env.service_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  config.server = "https://" + host + ":" + env.service_port;
  auto ca = ReadWholeFile(env.ca_path);
  if (!ca.ok())
    return FailedPreconditionError("in-cluster configuration: " + ca.status().message());
  config.certificate_authority_pem = *ca;
  auto certs = internal::ParseCertificates(config.certificate_authority_pem);
  if (!certs.ok()) {
    return InvalidArgumentError("in-cluster configuration: " + env.ca_path + ": " +
                                certs.status().message());
  }
  auto token = ReadWholeFile(env.token_path);
  if (!token.ok()) {
    return FailedPreconditionError("in-cluster configuration: " + token.status().message());
  }
  config.token_file = env.token_path;
  auto ns = ReadWholeFile(env.namespace_path);
  if (ns.ok()) {
    std::string value = *ns;
    while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
    if (!value.empty()) config.namespace_ = value;
  }
  return config;
}

}  // namespace driftguard::core
