// Generation of driftguard's certificate material: a self-signed CA and a serving certificate for
// the webhook Service, plus file storage of the four PEM documents a Kubernetes TLS Secret holds.
//
//   certs::GenerateOptions opts;
//   opts.namespace_name = "driftguard-system";
//   opts.extra_ip_addresses = {"127.0.0.1"};
//   ASSIGN_OR_RETURN(certs::Material material, certs::Generate(opts, certs::SystemClock()));
//   RETURN_IF_ERROR(certs::WriteMaterial(material, "/etc/driftguard/tls"));
//
// Profile (certs/generate.sh produces the same one with the openssl CLI):
//   CA:      CN=<ca_common_name>, validity ca_validity (5 × 365 days), basicConstraints critical
//            CA:TRUE pathlen:0, keyUsage critical keyCertSign+cRLSign, subjectKeyIdentifier.
//   serving: CN=<service>.<ns>.svc, validity serving_validity (365 days, never beyond the CA's
//            notAfter), SANs DNS <service>, <service>.<ns>, <service>.<ns>.svc,
//            <service>.<ns>.svc.cluster.local, then extra_dns_names and extra_ip_addresses;
//            basicConstraints critical CA:FALSE, keyUsage critical digitalSignature
//            (+keyEncipherment for RSA), extendedKeyUsage serverAuth, subject and authority key
//            identifiers.
//   both:    random 128-bit serial, notBefore = now − backdate (5 minutes, for clock skew),
//   notAfter =
//            now + validity, SHA-256 signatures, keys ECDSA P-256 (default) or RSA 2048/3072.
//
// Thread safety: all functions are thread-safe. None throws.
#ifndef DRIFTGUARD_CERTS_GENERATE_H_
#define DRIFTGUARD_CERTS_GENERATE_H_

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "certs/clock.h"
#include "certs/openssl.h"
#include "core/status.h"

namespace driftguard::certs {

enum class KeyAlgorithm { kEcdsaP256, kRsa2048, kRsa3072 };

// "ecdsa-p256", "rsa-2048", "rsa-3072" (the spellings of generate.sh --key-type and the CLI).
std::string_view KeyAlgorithmFlag(KeyAlgorithm algorithm);
core::StatusOr<KeyAlgorithm> ParseKeyAlgorithm(std::string_view flag);
// The CertInfo::key_algorithm spelling: "ECDSA P-256", "RSA 2048", "RSA 3072".
std::string_view KeyAlgorithmDisplayName(KeyAlgorithm algorithm);

using Days = std::chrono::duration<int64_t, std::ratio<86400>>;

struct GenerateOptions {
  // Namespace and name of the webhook Service; both DNS-1123 labels.
  std::string namespace_name = "driftguard-system";
  std::string service_name = "driftguard";
  // Added after the four Service names, in this order (duplicates dropped). DNS-1123 subdomains;
  // a leading "*." wildcard label is allowed.
  std::vector<std::string> extra_dns_names;
  // IPv4 or IPv6 literals, e.g. "127.0.0.1" for tests and `make demo`.
  std::vector<std::string> extra_ip_addresses;
  KeyAlgorithm key_algorithm = KeyAlgorithm::kEcdsaP256;
  std::string ca_common_name = "driftguard-ca";
  std::chrono::seconds ca_validity = Days(5 * 365);
  std::chrono::seconds serving_validity = Days(365);
  // notBefore is set this far before "now" so that peers whose clocks lag accept a fresh
  // certificate.
  std::chrono::seconds backdate = std::chrono::minutes(5);

  // INVALID_ARGUMENT naming the first bad field.
  core::Status Validate() const;
  // The serving certificate's DNS SANs, in certificate order.
  std::vector<std::string> DnsNames() const;
  // The serving certificate's IP SANs, canonical text (inet_ntop), in order, duplicates dropped.
  // REQUIRES: Validate() is OK.
  std::vector<std::string> IpAddresses() const;
  // "<service>.<namespace>.svc".
  std::string ServingCommonName() const;
};

// Secret data keys (kubernetes.io/tls plus the CA).
inline constexpr std::string_view kCaCertKey = "ca.crt";
inline constexpr std::string_view kCaKeyKey = "ca.key";
inline constexpr std::string_view kTlsCertKey = "tls.crt";
inline constexpr std::string_view kTlsKeyKey = "tls.key";

// The four PEM documents, as stored in driftguard's Secret (decoded data) or in a directory. An
// empty field means "absent".
struct Material {
  // ca.crt: the CA bundle clients trust (and that goes into webhook caBundles). The FIRST
  // certificate is the active CA, the one ca_key_pem belongs to; during a CA rotation the previous
  // CA follows it.
  std::string ca_cert_pem;
  std::string ca_key_pem;    // ca.key: PKCS#8
  std::string tls_cert_pem;  // tls.crt: the serving certificate
  std::string tls_key_pem;   // tls.key: PKCS#8

  // {"ca.crt": ..., "ca.key": ..., "tls.crt": ..., "tls.key": ...}; absent fields are left out.
  std::map<std::string, std::string> ToSecretData() const;
  // Reads the four keys; other keys are ignored, missing ones stay empty.
  static Material FromSecretData(const std::map<std::string, std::string>& data);

  friend bool operator==(const Material&, const Material&) = default;
};

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

core::StatusOr<EvpPkeyPtr> GenerateKey(KeyAlgorithm algorithm);

// A new self-signed CA valid from now − backdate to now + ca_validity.
core::StatusOr<CertAndKey> GenerateCa(const GenerateOptions& opts, TimePoint now);

// A new serving certificate (and key) signed by the first certificate of `ca_cert_pem`, whose key
// is `ca_key_pem`. FAILED_PRECONDITION when the key does not belong to that CA certificate.
core::StatusOr<CertAndKey> IssueServingCert(const GenerateOptions& opts,
                                            std::string_view ca_cert_pem,
                                            std::string_view ca_key_pem, TimePoint now);

// A new CA plus a serving certificate signed by it, both issued at clock.Now().
core::StatusOr<Material> Generate(const GenerateOptions& opts, const Clock& clock);

// Writes the non-empty fields to <dir>/ca.crt, ca.key, tls.crt, tls.key, creating `dir` (0755) if
// needed. Keys get mode 0600, certificates 0644. Each file is replaced atomically (temp + rename).
core::Status WriteMaterial(const Material& material, const std::filesystem::path& dir);

// Reads the four files from `dir`; a missing file leaves its field empty. Any other read error is
// returned. No validation: pass the result to PlanRotation or Inspect.
core::StatusOr<Material> LoadMaterial(const std::filesystem::path& dir);

}  // namespace driftguard::certs

#endif  // DRIFTGUARD_CERTS_GENERATE_H_
