#include "certs/pem.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstdio>
#include <ctime>

namespace driftguard::certs {
namespace {

constexpr std::string_view kCertBegin = "-----BEGIN CERTIFICATE-----";

BioPtr MemoryBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

core::StatusOr<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0) return OpenSslError("reading a memory BIO");
  return std::string(data, static_cast<size_t>(len));
}

// Never prompts for a passphrase: encrypted keys are rejected instead.
int NoPassword(char*, int, int, void*) { return -1; }

bool IsNoStartLine(unsigned long err) {
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "";
  auto text = BioContents(bio.get());
  return text.ok() ? *text : "";
}

core::StatusOr<TimePoint> Asn1TimeToTimePoint(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return OpenSslError("invalid certificate time", core::StatusCode::kInvalidArgument);
  }
  return FromUnixSeconds(static_cast<int64_t>(timegm(&tm)));
}

std::string HexBytes(const unsigned char* data, size_t len, bool colons) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < len; ++i) {
    if (colons && i > 0) out += ':';
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0xF];
  }
  return out;
}

std::string KeyAlgorithmName(EVP_PKEY* key) {
  if (key == nullptr) return "unknown";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) return "ECDSA";
      std::string g(group, len);
      if (g == "prime256v1") return "ECDSA P-256";
      if (g == "secp384r1") return "ECDSA P-384";
      if (g == "secp521r1") return "ECDSA P-521";
      return "ECDSA " + g;
    }
    case EVP_PKEY_ED25519:
      return "Ed25519";
    default:
      return "unknown";
  }
}

}  // namespace

core::StatusOr<X509Ptr> ParseCertificate(std::string_view pem) {
  if (pem.find(kCertBegin) == std::string_view::npos) {
    return core::InvalidArgumentError("no PEM certificate found");
  }
  ClearOpenSslErrors();
  BioPtr bio = MemoryBio(pem);
  if (!bio) return OpenSslError("allocating a memory BIO");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
  if (!cert) {
    return OpenSslError("invalid PEM certificate", core::StatusCode::kInvalidArgument);
  }
  return cert;
}

core::StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem) {
  if (pem.find(kCertBegin) == std::string_view::npos) {
    return core::InvalidArgumentError("no PEM certificate found");
  }
  ClearOpenSslErrors();
  BioPtr bio = MemoryBio(pem);
  if (!bio) return OpenSslError("allocating a memory BIO");
  std::vector<X509Ptr> out;
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
    if (cert) {
      out.push_back(std::move(cert));
      continue;
    }
    unsigned long err = ERR_peek_last_error();
    if (!out.empty() && IsNoStartLine(err)) {
      ClearOpenSslErrors();  // the normal end of the bundle
      break;
    }
    return OpenSslError("invalid PEM certificate #" + std::to_string(out.size() + 1),
                        core::StatusCode::kInvalidArgument);
  }
  return out;
}

core::StatusOr<EvpPkeyPtr> ParsePrivateKey(std::string_view pem) {
  if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
      pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
    return core::InvalidArgumentError("encrypted private keys are not supported");
  }
  if (pem.find("PRIVATE KEY-----") == std::string_view::npos) {
    return core::InvalidArgumentError("no PEM private key found");
  }
  ClearOpenSslErrors();
  BioPtr bio = MemoryBio(pem);
  if (!bio) return OpenSslError("allocating a memory BIO");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (!key) return OpenSslError("invalid PEM private key", core::StatusCode::kInvalidArgument);
  return key;
}

core::StatusOr<std::string> EncodeCertificate(X509* cert) {
  ClearOpenSslErrors();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("encoding a certificate");
  }
  return BioContents(bio.get());
}

core::StatusOr<std::string> EncodeBundle(const std::vector<X509Ptr>& certs) {
  std::string out;
  for (const auto& cert : certs) {
    ASSIGN_OR_RETURN(std::string pem, EncodeCertificate(cert.get()));
    out += pem;
  }
  return out;
}

core::StatusOr<std::string> EncodePrivateKey(EVP_PKEY* key) {
  ClearOpenSslErrors();
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") for every key type.
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("encoding a private key");
  }
  return BioContents(bio.get());
}

core::StatusOr<CertInfo> InspectCertificate(X509* cert) {
  ClearOpenSslErrors();
  CertInfo info;
  info.subject = NameToString(X509_get_subject_name(cert));
  info.issuer = NameToString(X509_get_issuer_name(cert));

  int crit = 0;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
      if (name->type == GEN_DNS) {
        const ASN1_IA5STRING* s = name->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<size_t>(ASN1_STRING_length(s)));
      } else if (name->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = name->d.iPAddress;
        int len = ASN1_STRING_length(s);
        char buf[INET6_ADDRSTRLEN] = {};
        int family = len == 4 ? AF_INET : (len == 16 ? AF_INET6 : 0);
        if (family == 0 ||
            inet_ntop(family, ASN1_STRING_get0_data(s), buf, sizeof(buf)) == nullptr) {
          return core::InvalidArgumentError("certificate has a malformed IP address SAN");
        }
        info.ip_addresses.emplace_back(buf);
      }
    }
  }

  ASSIGN_OR_RETURN(info.not_before, Asn1TimeToTimePoint(X509_get0_notBefore(cert)));
  ASSIGN_OR_RETURN(info.not_after, Asn1TimeToTimePoint(X509_get0_notAfter(cert)));

  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!serial) return OpenSslError("reading the certificate serial");
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return OpenSslError("formatting the certificate serial");
  info.serial_hex = hex;
  OPENSSL_free(hex);

  // X509_get_extension_flags computes the cached extension data (basicConstraints among them).
  info.is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &digest_len) != 1) {
    return OpenSslError("computing the certificate fingerprint");
  }
  info.sha256_fingerprint = HexBytes(digest, digest_len, /*colons=*/true);
  info.key_algorithm = KeyAlgorithmName(X509_get0_pubkey(cert));
  return info;
}

core::StatusOr<CertInfo> Inspect(std::string_view pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(pem));
  return InspectCertificate(cert.get());
}

core::StatusOr<std::vector<CertInfo>> InspectAll(std::string_view pem) {
  ASSIGN_OR_RETURN(std::vector<X509Ptr> certs, ParseCertificates(pem));
  std::vector<CertInfo> out;
  for (const auto& cert : certs) {
    ASSIGN_OR_RETURN(CertInfo info, InspectCertificate(cert.get()));
    out.push_back(std::move(info));
  }
  return out;
}

core::Json CertInfo::ToJson() const {
  return core::Json{{"subject", subject},
                    {"issuer", issuer},
                    {"dnsNames", dns_names},
                    {"ipAddresses", ip_addresses},
                    {"notBefore", FormatTime(not_before)},
                    {"notAfter", FormatTime(not_after)},
                    {"serial", serial_hex},
                    {"isCA", is_ca},
                    {"sha256Fingerprint", sha256_fingerprint},
                    {"keyAlgorithm", key_algorithm}};
}

core::Status VerifyChain(X509* leaf, const std::vector<X509Ptr>& trusted,
                         std::optional<TimePoint> at) {
  ClearOpenSslErrors();
  X509StorePtr store(X509_STORE_new());
  if (!store) return OpenSslError("allocating an X509_STORE");
  for (const auto& cert : trusted) {
    if (X509_STORE_add_cert(store.get(), cert.get()) != 1) {
      return OpenSslError("adding a CA certificate to the trust store");
    }
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1) {
    return OpenSslError("initializing certificate verification");
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  if (at.has_value()) {
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                               static_cast<time_t>(ToUnixSeconds(*at)));
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ClearOpenSslErrors();
    return core::FailedPreconditionError(std::string("certificate verify failed: ") +
                                         X509_verify_cert_error_string(err));
  }
  return core::OkStatus();
}

core::Status VerifyChain(std::string_view leaf_pem, std::string_view bundle_pem,
                         std::optional<TimePoint> at) {
  auto leaf = ParseCertificate(leaf_pem);
  if (!leaf.ok()) return leaf.status().WithPrefix("leaf");
  auto bundle = ParseCertificates(bundle_pem);
  if (!bundle.ok()) return bundle.status().WithPrefix("bundle");
  return VerifyChain(leaf->get(), *bundle, at);
}

core::Status CheckKeyMatchesCert(X509* cert, EVP_PKEY* key) {
  ClearOpenSslErrors();
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (pub == nullptr || EVP_PKEY_eq(pub, key) != 1) {
    ClearOpenSslErrors();
    return core::FailedPreconditionError("private key does not match certificate");
  }
  return core::OkStatus();
}

core::Status CheckKeyMatchesCert(std::string_view cert_pem, std::string_view key_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem));
  ASSIGN_OR_RETURN(EvpPkeyPtr key, ParsePrivateKey(key_pem));
  return CheckKeyMatchesCert(cert.get(), key.get());
}

std::string FormatTime(TimePoint t) {
  time_t secs = static_cast<time_t>(ToUnixSeconds(t));
  struct tm tm = {};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace driftguard::certs
