// Test helpers for the webhook server tests: certificates generated with the `openssl` CLI and a
// raw OpenSSL client that can stall, trickle, pin protocol versions and read the peer certificate.
#ifndef DRIFTGUARD_TESTS_WEBHOOK_TLS_TEST_UTIL_H_
#define DRIFTGUARD_TESTS_WEBHOOK_TLS_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "tests/support/test_util.h"

namespace driftguard::testing {

// Runs `openssl <args>` in `dir`; throws with openssl's output when it fails.
inline void Openssl(const std::filesystem::path& dir, const std::string& args) {
  CommandResult r = RunCommand("cd '" + dir.string() + "' && openssl " + args + " 2>&1");
  if (r.exit_code != 0) throw std::runtime_error("openssl " + args + " failed:\n" + r.output);
}

// A CA (ca.crt/ca.key) in `dir`.
inline void MakeCa(const std::filesystem::path& dir, const std::string& name) {
  Openssl(dir, "req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout " +
                   name + ".key -out " + name + ".crt -days 2 -subj /CN=" + name);
}

// A leaf certificate `name`.crt/.key signed by CA `ca`, with the given hex serial. `server`
// selects serverAuth with SANs 127.0.0.1/localhost, otherwise clientAuth.
inline void MakeLeaf(const std::filesystem::path& dir, const std::string& ca,
                     const std::string& name, const std::string& serial_hex, bool server) {
  WriteFile(dir / (name + ".ext"),
            server ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                     "extendedKeyUsage=serverAuth\n"
                   : "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  Openssl(dir, "req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout " + name +
                   ".key -out " + name + ".csr -subj /CN=" + name);
  Openssl(dir, "x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
                   ".key -set_serial 0x" + serial_hex + " -days 2 -out " + name + ".crt -extfile " +
                   name + ".ext");
}

// Writes `content` to `path` atomically (temp file in the same directory, then rename).
inline void ReplaceFileAtomically(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  WriteFile(tmp, content);
  std::filesystem::rename(tmp, path);
}

inline int ConnectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{20, 0};  // never hang a test
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  return fd;
}

// True once the peer of socket `fd` has closed or shut down the connection (FIN or RST
// received); does not consume data.
inline bool PeerHungUp(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

struct TlsClientOptions {
  int min_version = 0;  // 0 = library default
  int max_version = 0;
  std::string cipher_list;  // "" = default
  int security_level = -1;  // -1 = default
  std::string cert_file;    // client certificate, optional
  std::string key_file;
};

// A blocking TLS client connection on a raw socket (no certificate verification: tests inspect
// the peer certificate themselves).
class TlsConn {
 public:
  // Returns null and fills *error when the TCP connect or the handshake fails.
  static std::unique_ptr<TlsConn> Connect(int port, const TlsClientOptions& options,
                                          std::string* error) {
    std::unique_ptr<TlsConn> c(new TlsConn());
    c->ctx_ = SSL_CTX_new(TLS_client_method());
    if (options.security_level >= 0) SSL_CTX_set_security_level(c->ctx_, options.security_level);
    if (options.min_version) SSL_CTX_set_min_proto_version(c->ctx_, options.min_version);
    if (options.max_version) SSL_CTX_set_max_proto_version(c->ctx_, options.max_version);
    if (!options.cipher_list.empty()) SSL_CTX_set_cipher_list(c->ctx_, options.cipher_list.c_str());
    if (!options.cert_file.empty()) {
      SSL_CTX_use_certificate_file(c->ctx_, options.cert_file.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(c->ctx_, options.key_file.c_str(), SSL_FILETYPE_PEM);
    }
    c->fd_ = ConnectTcp(port);
    c->ssl_ = SSL_new(c->ctx_);
    SSL_set_fd(c->ssl_, c->fd_);
    if (SSL_connect(c->ssl_) != 1) {
      unsigned long code = ERR_get_error();
      char buf[256] = "handshake failed";
      if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
      ERR_clear_error();
      *error = buf;
      return nullptr;
    }
    return c;
  }

  ~TlsConn() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  bool Write(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads until the peer closes (or 20 s pass without data).
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    while (true) {
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ERR_clear_error();
    return out;
  }

  // Reads until `marker` has arrived (or the peer closes, or 20 s pass without data).
  std::string ReadUntil(const std::string& marker) {
    std::string out;
    char buf[4096];
    while (out.find(marker) == std::string::npos) {
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ERR_clear_error();
    return out;
  }

  std::string PeerSerialHex() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return "";
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    char* hex = BN_bn2hex(bn);
    std::string out = hex;
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(cert);
    return out;
  }

  // True once the server has closed or shut down the connection (FIN or RST received); does not
  // consume data.
  bool PeerHungUp() const { return testing::PeerHungUp(fd_); }

  std::string Version() const { return SSL_get_version(ssl_); }
  std::string Cipher() const { return SSL_get_cipher_name(ssl_); }

 private:
  TlsConn() = default;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

}  // namespace driftguard::testing

#endif  // DRIFTGUARD_TESTS_WEBHOOK_TLS_TEST_UTIL_H_
