#include "certs/openssl.h"

#include <openssl/err.h>

namespace driftguard::certs {

core::Status OpenSslError(std::string_view context, core::StatusCode code) {
  std::string message(context);
  bool first = true;
  unsigned long err;
  while ((err = ERR_get_error()) != 0) {
    message += first ? ": " : "; ";
    first = false;
    const char* lib = ERR_lib_error_string(err);
    const char* reason = ERR_reason_error_string(err);
    if (lib != nullptr) {
      message += lib;
      message += ": ";
    }
    if (reason != nullptr) {
      message += reason;
    } else {
      message += "error " + std::to_string(ERR_GET_REASON(err));
    }
  }
  return core::Status(code, std::move(message));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

X509Ptr ShareCertificate(X509* cert) {
  if (cert == nullptr || X509_up_ref(cert) != 1) return X509Ptr();
  return X509Ptr(cert);
}

}  // namespace driftguard::certs
