// A serving certificate chain and its private key, loaded from PEM files and checked to match.
//
//   ASSIGN_OR_RETURN(std::shared_ptr<const TlsCredentials> creds,
//                    TlsCredentials::Load("/certs/tls.crt", "/certs/tls.key"));
//   SSL_use_certificate(ssl, creds->cert());
//
// Immutable after Load; share it through shared_ptr<const TlsCredentials> across threads.
#ifndef DRIFTGUARD_WEBHOOK_INTERNAL_TLS_CREDENTIALS_H_
#define DRIFTGUARD_WEBHOOK_INTERNAL_TLS_CREDENTIALS_H_

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "core/status.h"

namespace driftguard::webhook::internal {

class TlsCredentials {
 public:
  // Reads the leaf certificate (first PEM block of `cert_file`), any further certificates in it as
  // the chain, and the private key. InvalidArgument naming the file when a file is unreadable,
  // holds no certificate/key, or the key does not belong to the certificate. Clears the OpenSSL
  // error queue of the calling thread.
  static core::StatusOr<std::shared_ptr<const TlsCredentials>> Load(const std::string& cert_file,
                                                                    const std::string& key_file);
  ~TlsCredentials();
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;

  X509* cert() const { return cert_; }
  EVP_PKEY* key() const { return key_; }
  STACK_OF(X509) * chain() const { return chain_; }  // null when the file holds only the leaf

  // Installs the pair (and chain) on one connection. Returns false on an OpenSSL error.
  bool ApplyTo(SSL* ssl) const;

  // Leaf serial number in upper-case hex, e.g. "1A2B"; used in logs.
  std::string SerialHex() const;

 private:
  TlsCredentials() = default;
  X509* cert_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  STACK_OF(X509) * chain_ = nullptr;
};

// Takes the first error from the calling thread's OpenSSL error queue as text and clears the queue;
// "unknown OpenSSL error" when the queue is empty.
std::string TakeOpenSslError();

}  // namespace driftguard::webhook::internal

#endif  // DRIFTGUARD_WEBHOOK_INTERNAL_TLS_CREDENTIALS_H_
