#include "reconciler/internal/libgit2_error.h"

namespace driftguard::reconciler::internal {

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    size_t pos = 0;
    while ((pos = text.find(secret, pos)) != std::string::npos) {
      text.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return text;
}

core::Status GitStatus(int code, std::string_view context, const std::vector<std::string>& redact) {
  if (code >= 0) return core::OkStatus();
  const git_error* err = git_error_last();
  std::string detail = (err != nullptr && err->message != nullptr) ? err->message : "";
  int klass = err != nullptr ? err->klass : GIT_ERROR_NONE;
  git_error_clear();
  if (detail.empty()) detail = "libgit2 error " + std::to_string(code);
  std::string message = Redact(std::string(context) + ": " + detail, redact);

  switch (code) {
    case GIT_ENOTFOUND:
      return core::NotFoundError(std::move(message));
    case GIT_EAUTH:
    case GIT_ECERTIFICATE:
      return core::UnauthenticatedError(std::move(message));
    case GIT_EINVALIDSPEC:
    case GIT_EINVALID:
      return core::InvalidArgumentError(std::move(message));
    default:
      break;
  }
  switch (klass) {
    case GIT_ERROR_NET:
    case GIT_ERROR_SSH:
    case GIT_ERROR_SSL:
    case GIT_ERROR_HTTP:
      return core::UnavailableError(std::move(message));
    default:
      return core::InternalError(std::move(message));
  }
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof(buf), &oid);
  return std::string(buf);
}

}  // namespace driftguard::reconciler::internal
