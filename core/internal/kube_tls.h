// OpenSSL and URL helpers shared by the kubeconfig loader and the HTTP client. Internal to core.
#ifndef DRIFTGUARD_CORE_INTERNAL_KUBE_TLS_H_
#define DRIFTGUARD_CORE_INTERNAL_KUBE_TLS_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace driftguard::core::internal {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct ServerUrl {
  bool tls = true;
  std::string host;  // without brackets
  int port = 443;
  std::string base_path;  // "" or "/prefix" (no trailing slash)
};

// "https://host[:port][/prefix]"; errors name the URL.
StatusOr<ServerUrl> ParseServerUrl(std::string_view url);

// Every certificate in a PEM bundle; at least one, else an error.
StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem);

struct ClientIdentity {
  X509Ptr certificate;
  PkeyPtr key;
};
// The first certificate of `cert_pem` and the key of `key_pem`, checked to match.
StatusOr<ClientIdentity> ParseClientIdentity(std::string_view cert_pem, std::string_view key_pem);

// Drains the OpenSSL error queue into one line ("" when empty).
std::string DrainOpenSslErrors();

}  // namespace driftguard::core::internal

#endif  // DRIFTGUARD_CORE_INTERNAL_KUBE_TLS_H_
