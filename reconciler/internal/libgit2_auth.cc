#include "reconciler/internal/libgit2_auth.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <sstream>
#include <utility>

#include "core/base64.h"

namespace driftguard::reconciler::internal {
namespace {

std::vector<std::string> SplitFields(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t b = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > b) out.emplace_back(line.substr(b, i - b));
  }
  return out;
}

// known_hosts host patterns use only '*' and '?'.
bool HostGlob(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EntryMatchesHost(const KnownHost& e, const std::string& name) {
  if (!e.hashed_salt.empty()) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha1(), e.hashed_salt.data(), static_cast<int>(e.hashed_salt.size()),
         reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len) == e.hashed_host;
  }
  bool matched = false;
  for (const std::string& p : e.patterns) {
    bool negated = !p.empty() && p[0] == '!';
    std::string_view pat = negated ? std::string_view(p).substr(1) : std::string_view(p);
    if (HostGlob(Lower(pat), Lower(name))) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace

std::string Base64Decode(std::string_view in, bool* ok) {
  std::string clean;
  for (char c : in) {
    if (c != '\n' && c != '\r' && c != ' ') clean += c;
  }
  auto decoded = core::Base64Decode(clean);
  *ok = decoded.ok();
  return decoded.ok() ? std::move(*decoded) : std::string();
}

core::StatusOr<std::vector<KnownHost>> ParseKnownHosts(std::string_view text) {
  std::vector<KnownHost> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> f = SplitFields(line);
    if (f.empty() || f[0][0] == '#') continue;
    KnownHost e;
    size_t i = 0;
    if (f[0][0] == '@') {
      if (f[0] == "@revoked") {
        e.revoked = true;
      } else if (f[0] == "@cert-authority") {
        e.cert_authority = true;
      } else {
        return core::InvalidArgumentError("known_hosts line " + std::to_string(lineno) +
                                          ": unknown marker " + f[0]);
      }
      i = 1;
    }
    if (f.size() < i + 3) {
      return core::InvalidArgumentError("known_hosts line " + std::to_string(lineno) +
                                        ": expected \"hosts keytype base64-key\"");
    }
    const std::string& hosts = f[i];
    if (hosts.rfind("|1|", 0) == 0) {
      size_t bar = hosts.find('|', 3);
      bool ok1 = false, ok2 = false;
      if (bar != std::string::npos) {
        e.hashed_salt = Base64Decode(hosts.substr(3, bar - 3), &ok1);
        e.hashed_host = Base64Decode(hosts.substr(bar + 1), &ok2);
      }
      if (!ok1 || !ok2 || e.hashed_salt.empty()) {
        return core::InvalidArgumentError("known_hosts line " + std::to_string(lineno) +
                                          ": malformed hashed host");
      }
    } else {
      std::stringstream ss(hosts);
      std::string p;
      while (std::getline(ss, p, ',')) {
        if (!p.empty()) e.patterns.push_back(p);
      }
    }
    e.key_type = f[i + 1];
    bool ok = false;
    e.key_blob = Base64Decode(f[i + 2], &ok);
    if (!ok || SshKeyType(e.key_blob) != e.key_type) {
      return core::InvalidArgumentError("known_hosts line " + std::to_string(lineno) +
                                        ": key is not valid base64 of a " + e.key_type + " key");
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string KnownHostsName(std::string_view host, int port) {
  if (port == 22 || port <= 0) return std::string(host);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

std::string SshFingerprint(std::string_view key_blob) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key_blob.data()), key_blob.size(), digest);
  std::string b64(4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), digest, SHA256_DIGEST_LENGTH);
  b64.resize(static_cast<size_t>(n));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

std::string SshKeyType(std::string_view blob) {
  if (blob.size() < 4) return "";
  uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(blob[0])) << 24) |
                 (static_cast<uint32_t>(static_cast<unsigned char>(blob[1])) << 16) |
                 (static_cast<uint32_t>(static_cast<unsigned char>(blob[2])) << 8) |
                 static_cast<uint32_t>(static_cast<unsigned char>(blob[3]));
  if (len == 0 || len > 64 || blob.size() < 4 + len) return "";
  return std::string(blob.substr(4, len));
}

core::Status VerifyHostKey(const std::vector<KnownHost>& known_hosts, std::string_view host,
                           int port, std::string_view key_blob) {
  const std::string name = KnownHostsName(host, port);
  const std::string offered = SshKeyType(key_blob) + " " + SshFingerprint(key_blob);
  bool host_known = false;
  for (const KnownHost& e : known_hosts) {
    if (e.cert_authority || !EntryMatchesHost(e, name)) continue;
    if (e.key_blob == key_blob) {
      if (e.revoked) {
        return core::UnauthenticatedError("host key verification failed for " + name +
                                          ": the key is marked @revoked (" + offered + ")");
      }
      return core::OkStatus();
    }
    if (!e.revoked) host_known = true;
  }
  for (const KnownHost& e : known_hosts) {
    if (e.revoked && e.key_blob == key_blob) {
      return core::UnauthenticatedError("host key verification failed for " + name +
                                        ": the key is marked @revoked (" + offered + ")");
    }
  }
  return core::UnauthenticatedError("host key verification failed for " + name + ": " +
                                    (host_known
                                         ? "the server's key does not match the known_hosts entries"
                                         : "no known_hosts entry for this host") +
                                    " (" + offered + ")");
}

core::Status VerifyServerCertificate(std::string_view der, std::string_view ca_pem,
                                     std::string_view host) {
  ERR_clear_error();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free);
  if (!cert) {
    return core::UnauthenticatedError("cannot parse the server certificate: " + OpenSslErrors());
  }
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())), BIO_free);
  int added = 0;
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store.get(), ca);
    X509_free(ca);
    ++added;
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (added == 0) {
    return core::InvalidArgumentError("the CA bundle (ca.crt/caFile) holds no PEM certificate");
  }
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  std::string h(host);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str()) != 1) {
    ERR_clear_error();
    X509_VERIFY_PARAM_set1_host(param, h.c_str(), h.size());
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    return core::UnauthenticatedError(
        "the server certificate for " + h +
        " is not trusted by the given CA: " + X509_verify_cert_error_string(err));
  }
  return core::OkStatus();
}

}  // namespace driftguard::reconciler::internal
