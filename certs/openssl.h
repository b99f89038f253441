// RAII owners for OpenSSL objects and the one adapter that turns the OpenSSL error queue into a
// core::Status.
//
//   certs::EvpPkeyPtr key(EVP_EC_gen("P-256"));
//   if (!key) return certs::OpenSslError("generating the CA key");
//
// Ownership: each *Ptr owns exactly one reference and frees it with the matching *_free function.
// Thread safety: OpenSSL's error queue is thread-local, so OpenSslError reports the failures of the
// calling thread only.
#ifndef DRIFTGUARD_CERTS_OPENSSL_H_
#define DRIFTGUARD_CERTS_OPENSSL_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace driftguard::certs {

namespace internal {
template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};
}  // namespace internal

using X509Ptr = std::unique_ptr<X509, internal::OpenSslDeleter<X509, X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, internal::OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using X509StorePtr =
    std::unique_ptr<X509_STORE, internal::OpenSslDeleter<X509_STORE, X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, internal::OpenSslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, internal::OpenSslDeleter<BIO, BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, internal::OpenSslDeleter<BIGNUM, BN_free>>;
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION, internal::OpenSslDeleter<X509_EXTENSION, X509_EXTENSION_free>>;
using GeneralNamesPtr =
    std::unique_ptr<GENERAL_NAMES, internal::OpenSslDeleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

// Drains the calling thread's OpenSSL error queue into one Status:
// "<context>: <library>: <reason>[; <library>: <reason>...]" (oldest error first), or just
// "<context>" when the queue is empty. The queue is empty afterwards.
core::Status OpenSslError(std::string_view context,
                          core::StatusCode code = core::StatusCode::kInternal);

// Clears stale entries so that the next OpenSslError only reports the failure that follows.
void ClearOpenSslErrors();

// Returns an extra reference to `cert` (X509_up_ref).
X509Ptr ShareCertificate(X509* cert);

}  // namespace driftguard::certs

#endif  // DRIFTGUARD_CERTS_OPENSSL_H_
