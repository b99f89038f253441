// PEM encoding and decoding of certificates, private keys (PKCS#8) and bundles; certificate
// inspection; chain verification; key/certificate match.
//
//   ASSIGN_OR_RETURN(certs::CertInfo info, certs::Inspect(material.tls_cert_pem));
//   RETURN_IF_ERROR(certs::VerifyChain(material.tls_cert_pem, material.ca_cert_pem));
//   RETURN_IF_ERROR(certs::CheckKeyMatchesCert(material.tls_cert_pem, material.tls_key_pem));
//
// Every function is thread-safe and never throws. Errors are INVALID_ARGUMENT for bad input (with a
// message naming what is wrong) and INTERNAL for OpenSSL failures on valid input.
#ifndef DRIFTGUARD_CERTS_PEM_H_
#define DRIFTGUARD_CERTS_PEM_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "certs/clock.h"
#include "certs/openssl.h"
#include "core/json.h"
#include "core/status.h"

namespace driftguard::certs {

// Decodes the first certificate in `pem`; text around the PEM block is ignored.
// Errors: "no PEM certificate found" when there is no "-----BEGIN CERTIFICATE-----" block;
// otherwise "invalid PEM certificate: <OpenSSL reason>".
core::StatusOr<X509Ptr> ParseCertificate(std::string_view pem);

// Decodes every certificate in `pem` (a bundle), in order. At least one is required; a bad block
// is named by position: "invalid PEM certificate #2: <OpenSSL reason>".
core::StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem);

// Decodes a private key (PKCS#8 "PRIVATE KEY", or the traditional RSA/EC forms). Encrypted keys are
// rejected. Errors: "no PEM private key found" / "invalid PEM private key: <OpenSSL reason>".
core::StatusOr<EvpPkeyPtr> ParsePrivateKey(std::string_view pem);

core::StatusOr<std::string> EncodeCertificate(X509* cert);
// Concatenates the PEM encodings of `certs` in order.
core::StatusOr<std::string> EncodeBundle(const std::vector<X509Ptr>& certs);
// Unencrypted PKCS#8 ("-----BEGIN PRIVATE KEY-----").
core::StatusOr<std::string> EncodePrivateKey(EVP_PKEY* key);

// What `driftguard certs inspect` prints and what rotation decides on.
struct CertInfo {
  std::string subject;  // RFC 2253, e.g. "CN=driftguard.ns.svc"
  std::string issuer;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries, in certificate order
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, textual (inet_ntop)
  TimePoint not_before;
  TimePoint not_after;
  std::string serial_hex;  // uppercase hex, no separators
  bool is_ca = false;      // basicConstraints CA:TRUE
  std::string
      sha256_fingerprint;     // uppercase hex bytes joined by ':' (as `openssl x509 -fingerprint`)
  std::string key_algorithm;  // "ECDSA P-256", "RSA 2048", "RSA 3072", ...

  // {"subject", "issuer", "dnsNames", "ipAddresses", "notBefore", "notAfter" (RFC 3339 UTC),
  //  "serial", "isCA", "sha256Fingerprint", "keyAlgorithm"}
  core::Json ToJson() const;
};

core::StatusOr<CertInfo> InspectCertificate(X509* cert);
// Inspects the first certificate in `pem`.
core::StatusOr<CertInfo> Inspect(std::string_view pem);
// Inspects every certificate of a bundle, in order.
core::StatusOr<std::vector<CertInfo>> InspectAll(std::string_view pem);

// Verifies that the first certificate of `leaf_pem` chains to one of the certificates of
// `bundle_pem` (all of them trusted anchors) and may serve TLS (serverAuth purpose), at `at`
// (default: the current time). Error: FAILED_PRECONDITION "certificate verify failed: <reason>"
// with OpenSSL's verification reason, e.g. "unable to get local issuer certificate".
core::Status VerifyChain(std::string_view leaf_pem, std::string_view bundle_pem,
                         std::optional<TimePoint> at = std::nullopt);
core::Status VerifyChain(X509* leaf, const std::vector<X509Ptr>& trusted,
                         std::optional<TimePoint> at = std::nullopt);

// OK when the public key of `cert_pem`'s certificate belongs to `key_pem`'s private key; otherwise
// FAILED_PRECONDITION "private key does not match certificate".
core::Status CheckKeyMatchesCert(std::string_view cert_pem, std::string_view key_pem);
core::Status CheckKeyMatchesCert(X509* cert, EVP_PKEY* key);

// "2026-01-01T00:00:00Z".
std::string FormatTime(TimePoint t);

}  // namespace driftguard::certs

#endif  // DRIFTGUARD_CERTS_PEM_H_
