#include "webhook/internal/tls_credentials.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace driftguard::webhook::internal {
namespace {

struct BioCloser {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioCloser>;

}  // namespace

std::string TakeOpenSslError() {
  unsigned long code = ERR_get_error();  // NOLINT(runtime/int): OpenSSL's type
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

core::StatusOr<std::shared_ptr<const TlsCredentials>> TlsCredentials::Load(
    const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  std::shared_ptr<TlsCredentials> creds(new TlsCredentials());

  BioPtr cert_bio(BIO_new_file(cert_file.c_str(), "r"));
  if (!cert_bio) {
    return core::InvalidArgumentError(cert_file + ": cannot open: " + TakeOpenSslError());
  }
  creds->cert_ = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr);
  if (creds->cert_ == nullptr) {
    return core::InvalidArgumentError(cert_file + ": no PEM certificate: " + TakeOpenSslError());
  }
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    if (creds->chain_ == nullptr) creds->chain_ = sk_X509_new_null();
    if (creds->chain_ == nullptr || sk_X509_push(creds->chain_, extra) == 0) {
      X509_free(extra);
      return core::InternalError(cert_file + ": out of memory");
    }
  }
  ERR_clear_error();  // the loop above ends on a "no start line" error

  BioPtr key_bio(BIO_new_file(key_file.c_str(), "r"));
  if (!key_bio) {
    return core::InvalidArgumentError(key_file + ": cannot open: " + TakeOpenSslError());
  }
  creds->key_ = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (creds->key_ == nullptr) {
    return core::InvalidArgumentError(key_file + ": no PEM private key: " + TakeOpenSslError());
  }
  if (X509_check_private_key(creds->cert_, creds->key_) != 1) {
    ERR_clear_error();
    return core::InvalidArgumentError(
        key_file + ": private key does not match the certificate in " + cert_file);
  }
  return std::shared_ptr<const TlsCredentials>(std::move(creds));
}

TlsCredentials::~TlsCredentials() {
  X509_free(cert_);
  EVP_PKEY_free(key_);
  if (chain_ != nullptr) sk_X509_pop_free(chain_, X509_free);
}

bool TlsCredentials::ApplyTo(SSL* ssl) const {
  if (SSL_use_certificate(ssl, cert_) != 1) return false;
  if (SSL_use_PrivateKey(ssl, key_) != 1) return false;
  if (chain_ != nullptr && SSL_set1_chain(ssl, chain_) != 1) return false;
  return true;
}

std::string TlsCredentials::SerialHex() const {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_), nullptr);
  if (bn == nullptr) return "?";
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "?";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

}  // namespace driftguard::webhook::internal
