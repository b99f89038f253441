#include "certs/generate.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "certs/pem.h"

namespace driftguard::certs {
namespace {

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool IsDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (s.starts_with("*.")) s.remove_prefix(2);
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!IsDnsLabel(s.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Canonical text of an IP literal, or "" when `s` is not one.
std::string CanonicalIp(const std::string& s) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return inet_ntop(AF_INET, buf, out, sizeof(out)) ? out : "";
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return inet_ntop(AF_INET6, buf, out, sizeof(out)) ? out : "";
  }
  return "";
}

core::Status AddName(X509_NAME* name, const std::string& common_name) {
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return OpenSslError("setting the common name");
  }
  return core::OkStatus();
}

core::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(std::string("adding extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
  return core::OkStatus();
}

// A v3 certificate with a random 128-bit serial, the given subject, key and validity; no
// extensions, unsigned.
core::StatusOr<X509Ptr> NewCertificate(const std::string& common_name, EVP_PKEY* key,
                                       TimePoint not_before, TimePoint not_after) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslError("allocating a certificate");
  }
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return OpenSslError("generating a serial number");
  }
  serial_bytes[sizeof(serial_bytes) - 1] |= 1;  // never zero (RFC 5280 requires a positive serial)
  BignumPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (!serial || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return OpenSslError("setting the serial number");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                    static_cast<time_t>(ToUnixSeconds(not_before))) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                    static_cast<time_t>(ToUnixSeconds(not_after))) == nullptr) {
    return OpenSslError("setting the validity period");
  }
  RETURN_IF_ERROR(AddName(X509_get_subject_name(cert.get()), common_name));
  if (X509_set_pubkey(cert.get(), key) != 1) return OpenSslError("setting the public key");
  return cert;
}

core::Status Sign(X509* cert, EVP_PKEY* issuer_key) {
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) return OpenSslError("signing a certificate");
  return core::OkStatus();
}

TimePoint TruncateToSeconds(TimePoint t) { return FromUnixSeconds(ToUnixSeconds(t)); }

core::Status WriteFileAtomically(const std::filesystem::path& path, const std::string& content,
                                 mode_t mode) {
  std::string tmp = path.string() + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) {
    return core::InternalError(path.string() +
                               ": cannot create temp file: " + std::strerror(errno));
  }
  auto fail = [&](const char* what) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return core::InternalError(path.string() + ": " + what + ": " + std::strerror(err));
  };
  if (fchmod(fd, mode) != 0) return fail("chmod");
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("fsync");
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return core::InternalError(path.string() + ": close: " + std::strerror(err));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return core::InternalError(path.string() + ": rename: " + std::strerror(err));
  }
  return core::OkStatus();
}

}  // namespace

std::string_view KeyAlgorithmFlag(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::kEcdsaP256:
      return "ecdsa-p256";
    case KeyAlgorithm::kRsa2048:
      return "rsa-2048";
    case KeyAlgorithm::kRsa3072:
      return "rsa-3072";
  }
  return "unknown";
}

std::string_view KeyAlgorithmDisplayName(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::kEcdsaP256:
      return "ECDSA P-256";
    case KeyAlgorithm::kRsa2048:
      return "RSA 2048";
    case KeyAlgorithm::kRsa3072:
      return "RSA 3072";
  }
  return "unknown";
}

core::StatusOr<KeyAlgorithm> ParseKeyAlgorithm(std::string_view flag) {
  for (KeyAlgorithm a :
       {KeyAlgorithm::kEcdsaP256, KeyAlgorithm::kRsa2048, KeyAlgorithm::kRsa3072}) {
    if (flag == KeyAlgorithmFlag(a)) return a;
  }
  return core::InvalidArgumentError("unknown key algorithm \"" + std::string(flag) +
                                    "\" (want ecdsa-p256, rsa-2048 or rsa-3072)");
}

core::Status GenerateOptions::Validate() const {
  if (!IsDnsLabel(namespace_name)) {
    return core::InvalidArgumentError("namespace \"" + namespace_name +
                                      "\" is not a DNS-1123 label");
  }
  if (!IsDnsLabel(service_name)) {
    return core::InvalidArgumentError("service name \"" + service_name +
                                      "\" is not a DNS-1123 label");
  }
  for (const auto& name : extra_dns_names) {
    if (!IsDnsName(name)) {
      return core::InvalidArgumentError("extra DNS name \"" + name +
                                        "\" is not a DNS-1123 subdomain");
    }
  }
  for (const auto& ip : extra_ip_addresses) {
    if (CanonicalIp(ip).empty()) {
      return core::InvalidArgumentError("extra IP address \"" + ip + "\" is not an IP literal");
    }
  }
  if (ca_common_name.empty() || ca_common_name.size() > 64) {
    return core::InvalidArgumentError("CA common name must have 1 to 64 characters");
  }
  if (ca_validity <= backdate || serving_validity <= backdate) {
    return core::InvalidArgumentError("validity periods must be longer than the backdate");
  }
  if (backdate.count() < 0) return core::InvalidArgumentError("backdate must not be negative");
  return core::OkStatus();
}

std::vector<std::string> GenerateOptions::DnsNames() const {
  std::vector<std::string> names = {service_name, service_name + "." + namespace_name,
                                    ServingCommonName(), ServingCommonName() + ".cluster.local"};
  for (const auto& name : extra_dns_names) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

std::vector<std::string> GenerateOptions::IpAddresses() const {
  std::vector<std::string> out;
  for (const auto& ip : extra_ip_addresses) {
    std::string canonical = CanonicalIp(ip);
    if (!canonical.empty() && std::find(out.begin(), out.end(), canonical) == out.end()) {
      out.push_back(canonical);
    }
  }
  return out;
}

std::string GenerateOptions::ServingCommonName() const {
  return service_name + "." + namespace_name + ".svc";
}

std::map<std::string, std::string> Material::ToSecretData() const {
  std::map<std::string, std::string> data;
  auto put = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) data.emplace(std::string(key), value);
  };
  put(kCaCertKey, ca_cert_pem);
  put(kCaKeyKey, ca_key_pem);
  put(kTlsCertKey, tls_cert_pem);
  put(kTlsKeyKey, tls_key_pem);
  return data;
}

Material Material::FromSecretData(const std::map<std::string, std::string>& data) {
  auto get = [&](std::string_view key) {
    auto it = data.find(std::string(key));
    return it == data.end() ? std::string() : it->second;
  };
  return Material{get(kCaCertKey), get(kCaKeyKey), get(kTlsCertKey), get(kTlsKeyKey)};
}

core::StatusOr<EvpPkeyPtr> GenerateKey(KeyAlgorithm algorithm) {
  ClearOpenSslErrors();
  EvpPkeyPtr key;
  switch (algorithm) {
    case KeyAlgorithm::kEcdsaP256:
      key.reset(EVP_EC_gen("P-256"));
      break;
    case KeyAlgorithm::kRsa2048:
      key.reset(EVP_RSA_gen(2048));
      break;
    case KeyAlgorithm::kRsa3072:
      key.reset(EVP_RSA_gen(3072));
      break;
  }
  if (!key) {
    return OpenSslError("generating a " + std::string(KeyAlgorithmDisplayName(algorithm)) + " key");
  }
  return key;
}

core::StatusOr<CertAndKey> GenerateCa(const GenerateOptions& opts, TimePoint now) {
  RETURN_IF_ERROR(opts.Validate());
  now = TruncateToSeconds(now);
  ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey(opts.key_algorithm));
  ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(opts.ca_common_name, key.get(), now - opts.backdate,
                                                now + opts.ca_validity));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) {
    return OpenSslError("setting the CA issuer");
  }
  RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(Sign(cert.get(), key.get()));
  CertAndKey out;
  ASSIGN_OR_RETURN(out.cert_pem, EncodeCertificate(cert.get()));
  ASSIGN_OR_RETURN(out.key_pem, EncodePrivateKey(key.get()));
  return out;
}

core::StatusOr<CertAndKey> IssueServingCert(const GenerateOptions& opts,
                                            std::string_view ca_cert_pem,
                                            std::string_view ca_key_pem, TimePoint now) {
  RETURN_IF_ERROR(opts.Validate());
  now = TruncateToSeconds(now);
  auto ca_cert = ParseCertificate(ca_cert_pem);
  if (!ca_cert.ok()) return ca_cert.status().WithPrefix("CA certificate");
  auto ca_key = ParsePrivateKey(ca_key_pem);
  if (!ca_key.ok()) return ca_key.status().WithPrefix("CA key");
  RETURN_IF_ERROR(CheckKeyMatchesCert(ca_cert->get(), ca_key->get()).WithPrefix("CA key"));

  ASSIGN_OR_RETURN(CertInfo ca_info, InspectCertificate(ca_cert->get()));
  TimePoint not_after = std::min(now + opts.serving_validity, ca_info.not_after);
  ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey(opts.key_algorithm));
  ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(opts.ServingCommonName(), key.get(),
                                                now - opts.backdate, not_after));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert->get())) != 1) {
    return OpenSslError("setting the issuer");
  }
  X509* ca = ca_cert->get();
  RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_key_usage,
                               opts.key_algorithm == KeyAlgorithm::kEcdsaP256
                                   ? "critical,digitalSignature"
                                   : "critical,digitalSignature,keyEncipherment"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_authority_key_identifier, "keyid:always"));
  std::string sans;
  for (const auto& name : opts.DnsNames()) sans += (sans.empty() ? "DNS:" : ",DNS:") + name;
  for (const auto& ip : opts.IpAddresses()) sans += ",IP:" + ip;
  RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_subject_alt_name, sans));
  RETURN_IF_ERROR(Sign(cert.get(), ca_key->get()));
  CertAndKey out;
  ASSIGN_OR_RETURN(out.cert_pem, EncodeCertificate(cert.get()));
  ASSIGN_OR_RETURN(out.key_pem, EncodePrivateKey(key.get()));
  return out;
}

core::StatusOr<Material> Generate(const GenerateOptions& opts, const Clock& clock) {
  TimePoint now = clock.Now();
  ASSIGN_OR_RETURN(CertAndKey ca, GenerateCa(opts, now));
  ASSIGN_OR_RETURN(CertAndKey leaf, IssueServingCert(opts, ca.cert_pem, ca.key_pem, now));
  return Material{std::move(ca.cert_pem), std::move(ca.key_pem), std::move(leaf.cert_pem),
                  std::move(leaf.key_pem)};
}

core::Status WriteMaterial(const Material& material, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::InternalError(dir.string() + ": cannot create directory: " + ec.message());
  struct Entry {
    std::string_view name;
    const std::string* content;
    mode_t mode;
  };
  for (const Entry& e : {Entry{kCaCertKey, &material.ca_cert_pem, 0644},
                         Entry{kCaKeyKey, &material.ca_key_pem, 0600},
                         Entry{kTlsCertKey, &material.tls_cert_pem, 0644},
                         Entry{kTlsKeyKey, &material.tls_key_pem, 0600}}) {
    if (e.content->empty()) continue;
    RETURN_IF_ERROR(WriteFileAtomically(dir / e.name, *e.content, e.mode));
  }
  return core::OkStatus();
}

core::StatusOr<Material> LoadMaterial(const std::filesystem::path& dir) {
  auto read = [&](std::string_view name, std::string* out) -> core::Status {
    std::filesystem::path path = dir / name;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return core::OkStatus();
      return core::InternalError(path.string() + ": cannot read: " + std::strerror(errno));
    }
    char buf[8192];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close(fd);
        return core::InternalError(path.string() + ": cannot read: " + std::strerror(err));
      }
      if (n == 0) break;
      out->append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return core::OkStatus();
  };
  Material m;
  RETURN_IF_ERROR(read(kCaCertKey, &m.ca_cert_pem));
  RETURN_IF_ERROR(read(kCaKeyKey, &m.ca_key_pem));
  RETURN_IF_ERROR(read(kTlsCertKey, &m.tls_cert_pem));
  RETURN_IF_ERROR(read(kTlsKeyKey, &m.tls_key_pem));
  return m;
}

}  // namespace driftguard::certs
