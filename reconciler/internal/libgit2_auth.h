// Server identity checks for the Git transports: OpenSSH known_hosts matching for SSH host keys
// and X.509 verification against a caller-supplied CA bundle for HTTPS. Private to
// driftguard::reconciler; pure functions, safe to call concurrently.
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_AUTH_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_AUTH_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace driftguard::reconciler::internal {

// One known_hosts line: host patterns (plain, wildcard, negated with '!', "[host]:port", or one
// hashed "|1|salt|hash" entry), the key in SSH wire format, and a marker.
struct KnownHost {
  std::vector<std::string> patterns;
  std::string hashed_salt;  // set for "|1|salt|hash" entries (raw bytes)
  std::string hashed_host;  // HMAC-SHA1(salt, host) (raw bytes)
  std::string key_type;     // "ssh-ed25519", ...
  std::string key_blob;     // decoded base64
  bool revoked = false;     // "@revoked"
  bool cert_authority = false;
};

// Parses known_hosts text; comments and blank lines are skipped. The error names the line.
core::StatusOr<std::vector<KnownHost>> ParseKnownHosts(std::string_view text);

// The name a host has in known_hosts: "host" on port 22, "[host]:port" otherwise.
std::string KnownHostsName(std::string_view host, int port);

// OK when a non-revoked entry for `host`:`port` carries exactly `key_blob`. Otherwise
// UNAUTHENTICATED: "host key verification failed for <name>: <why> (<type> <SHA256 fingerprint>)".
core::Status VerifyHostKey(const std::vector<KnownHost>& known_hosts, std::string_view host,
                           int port, std::string_view key_blob);

// "SHA256:<unpadded base64 of SHA-256(blob)>", as ssh-keygen -l prints.
std::string SshFingerprint(std::string_view key_blob);

// The key type named inside an SSH wire-format key blob ("ssh-ed25519"), or "" when malformed.
std::string SshKeyType(std::string_view key_blob);

// Verifies a DER server certificate against the PEM CA bundle and the host name (or IP address)
// the client connected to. UNAUTHENTICATED with OpenSSL's reason when it does not verify.
core::Status VerifyServerCertificate(std::string_view der, std::string_view ca_pem,
                                     std::string_view host);

std::string Base64Decode(std::string_view in, bool* ok);

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_AUTH_H_
