// Real Git servers for tests, each on 127.0.0.1 with a free port and all state in a temp dir:
//   GitRepoBuilder  repositories built with the `git` CLI (served as file://);
//   GitDaemon       `git daemon` (git://);
//   SshGitServer    `sshd` with a throwaway host key and user keys (ssh://);
//   HttpsGitServer  nginx (TLS with a test CA, basic auth, a bearer-token location) in front of
//                   `git http-backend` through fcgiwrap (https://).
// Servers are started once per suite (SetUpTestSuite) and stopped by their destructors, which kill
// the whole process group; children also get SIGKILL if the test process dies.
//
// Failures to start throw std::runtime_error with the server's log, so a broken environment
// fails the suite loudly instead of skipping.
#ifndef DRIFTGUARD_TESTS_SUPPORT_GIT_SERVERS_H_
#define DRIFTGUARD_TESTS_SUPPORT_GIT_SERVERS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_util.h"

namespace driftguard::testing {

// A port that was free a moment ago (bind to port 0, read it back, close).
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("bind to 127.0.0.1:0 failed");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline bool PortAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// Runs a shell command and throws (with its output) when it fails.
inline std::string MustRun(const std::string& command) {
  CommandResult r = RunCommand(command + " 2>&1");
  if (r.exit_code != 0) {
    throw std::runtime_error("command failed (" + std::to_string(r.exit_code) + "): " + command +
                             "\n" + r.output);
  }
  return r.output;
}

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// A child process in its own process group, killed (group-wide) on destruction.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
               const std::map<std::string, std::string>& env = {}) {
    log_ = log;
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
  }
  ~ChildProcess() { Stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        ::kill(-pid_, SIGKILL);  // stragglers in the group (workers, CGI children)
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  bool Running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string Log() const {
    try {
      return ReadFile(log_);
    } catch (...) {
      return "";
    }
  }

  // Waits until 127.0.0.1:port accepts connections; throws with the log otherwise.
  void WaitForPort(int port, const std::string& what) {
    for (int i = 0; i < 500; ++i) {
      if (PortAccepts(port)) return;
      if (!Running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error(what + " did not start on port " + std::to_string(port) + ":\n" +
                             Log());
  }

 private:
  pid_t pid_ = -1;
  std::filesystem::path log_;
};

// Builds repositories with the git CLI. Commits use fixed identities; dates are real.
class GitRepoBuilder {
 public:
  // Creates a non-bare repository at `dir` whose first branch is `branch`.
  explicit GitRepoBuilder(std::filesystem::path dir, const std::string& branch = "main")
      : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    Git("init -q -b " + branch);
    Git("config user.email test@driftguard.dev");
    Git("config user.name driftguard-test");
    Git("config commit.gpgsign false");
  }

  const std::filesystem::path& dir() const { return dir_; }
  std::string FileUrl() const { return "file://" + dir_.string(); }

  std::string Git(const std::string& args) const {
    return MustRun("git -C " + ShellQuote(dir_.string()) + " " + args);
  }

  void Write(const std::string& path, const std::string& content) const {
    WriteFile(dir_ / path, content);
  }
  void Symlink(const std::string& path, const std::string& target) const {
    std::filesystem::create_directories((dir_ / path).parent_path());
    std::filesystem::create_symlink(target, dir_ / path);
  }

  // Stages everything and commits; returns the new commit's SHA.
  std::string Commit(const std::string& message) const {
    Git("add -A");
    Git("commit -q --allow-empty -m " + ShellQuote(message));
    return Head();
  }
  std::string Head() const { return Rev("HEAD"); }
  std::string Rev(const std::string& rev) const {
    std::string out = Git("rev-parse " + ShellQuote(rev));
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  void Tag(const std::string& name, bool annotated = false) const {
    Git(std::string("tag ") + (annotated ? "-a -m " + ShellQuote(name) + " " : "") +
        ShellQuote(name));
  }
  void Checkout(const std::string& args) const { Git("checkout -q " + args); }

 private:
  std::filesystem::path dir_;
};

// `git daemon` exporting every repository below `base`.
class GitDaemon {
 public:
  explicit GitDaemon(const std::filesystem::path& base) : port_(FreePort()) {
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"git", "daemon", "--reuseaddr", "--export-all",
                                 "--base-path=" + base.string(), "--listen=127.0.0.1",
                                 "--port=" + std::to_string(port_), base.string()},
        logs_.path() / "git-daemon.log");
    proc_->WaitForPort(port_, "git daemon");
  }
  int port() const { return port_; }
  std::string Url(const std::string& repo_relative) const {
    return "git://127.0.0.1:" + std::to_string(port_) + "/" + repo_relative;
  }
  void Stop() { proc_->Stop(); }

 private:
  TempDir logs_;
  int port_;
  std::unique_ptr<ChildProcess> proc_;
};

// sshd on 127.0.0.1 accepting the user key `user_key` for the current user.
class SshGitServer {
 public:
  SshGitServer() : port_(FreePort()) {
    const std::filesystem::path d = dir_.path();
    MustRun("ssh-keygen -q -t ed25519 -N '' -C host -f " + ShellQuote((d / "host_key").string()));
    MustRun("ssh-keygen -q -t ed25519 -N '' -C user -f " + ShellQuote((d / "user_key").string()));
    MustRun("ssh-keygen -q -t ed25519 -N '' -C other -f " + ShellQuote((d / "other_key").string()));
    MustRun("ssh-keygen -q -t ed25519 -N 'pass phrase' -C locked -f " +
            ShellQuote((d / "locked_key").string()));
    MustRun("ssh-keygen -q -t ed25519 -N '' -C unrelated -f " +
            ShellQuote((d / "unrelated_host_key").string()));
    WriteFile(d / "authorized_keys", ReadFile(d / "user_key.pub") + ReadFile(d / "locked_key.pub"));
    if (::geteuid() == 0) std::filesystem::create_directories("/run/sshd");
    WriteFile(d / "sshd_config", "ListenAddress 127.0.0.1:" + std::to_string(port_) + "\n" +
                                     "HostKey " + (d / "host_key").string() + "\n" +
                                     "AuthorizedKeysFile " + (d / "authorized_keys").string() +
                                     "\n" + "PidFile " + (d / "sshd.pid").string() + "\n" +
                                     "StrictModes no\n"
                                     "PermitRootLogin prohibit-password\n"
                                     "PubkeyAuthentication yes\n"
                                     "PasswordAuthentication no\n"
                                     "KbdInteractiveAuthentication no\n"
                                     "UsePAM no\n"
                                     "LogLevel VERBOSE\n");
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/usr/sbin/sshd", "-D", "-e", "-f", (d / "sshd_config").string()},
        d / "sshd.log");
    proc_->WaitForPort(port_, "sshd");
  }

  int port() const { return port_; }
  std::string User() const {
    const passwd* pw = ::getpwuid(::geteuid());
    return pw != nullptr ? pw->pw_name : "root";
  }
  // ssh://<user>@127.0.0.1:<port><absolute repo path>
  std::string Url(const std::filesystem::path& repo) const {
    return "ssh://" + User() + "@127.0.0.1:" + std::to_string(port_) + repo.string();
  }
  std::string PrivateKey(const std::string& name = "user_key") const {
    return ReadFile(dir_.path() / name);
  }
  std::string PublicKey(const std::string& name = "user_key") const {
    return ReadFile(dir_.path() / (name + ".pub"));
  }
  // "[127.0.0.1]:<port> ssh-ed25519 AAAA..." for the server's (or another) host key.
  std::string KnownHostsLine(const std::string& key = "host_key") const {
    std::string pub = ReadFile(dir_.path() / (key + ".pub"));
    std::string type_and_key = pub.substr(0, pub.rfind(' '));
    return "[127.0.0.1]:" + std::to_string(port_) + " " + type_and_key + "\n";
  }
  // "SHA256:..." of a host key, as ssh-keygen prints it.
  std::string Fingerprint(const std::string& key = "host_key") const {
    std::string out = MustRun("ssh-keygen -l -E sha256 -f " +
                              ShellQuote((dir_.path() / (key + ".pub")).string()));
    size_t b = out.find("SHA256:");
    return out.substr(b, out.find(' ', b) - b);
  }
  std::string Log() const { return proc_->Log(); }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<ChildProcess> proc_;
};

// nginx with TLS (certificate from a test CA, SAN 127.0.0.1) serving `git http-backend` for every
// repository below `base`: /git/<repo> behind basic auth, /bearer/<repo> behind a bearer token.
class HttpsGitServer {
 public:
  HttpsGitServer(const std::filesystem::path& base, const std::string& user,
                 const std::string& password, const std::string& token)
      : port_(FreePort()) {
    const std::filesystem::path d = dir_.path();
    auto q = [](const std::filesystem::path& p) { return ShellQuote(p.string()); };
    for (const char* ca : {"ca", "other_ca"}) {
      MustRun("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + std::string(ca) +
              " -keyout " + q(d / (std::string(ca) + ".key")) + " -out " +
              q(d / (std::string(ca) + ".crt")));
    }
    WriteFile(d / "san.ext", "subjectAltName=IP:127.0.0.1\n");
    MustRun("openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout " +
            q(d / "server.key") + " -out " + q(d / "server.csr"));
    MustRun("openssl x509 -req -days 2 -in " + q(d / "server.csr") + " -CA " + q(d / "ca.crt") +
            " -CAkey " + q(d / "ca.key") + " -CAcreateserial -extfile " + q(d / "san.ext") +
            " -out " + q(d / "server.crt"));
    std::string hash = MustRun("openssl passwd -apr1 " + ShellQuote(password));
    while (!hash.empty() && hash.back() == '\n') hash.pop_back();
    WriteFile(d / "htpasswd", user + ":" + hash + "\n");

    const std::string socket = (d / "fcgi.sock").string();
    fcgi_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"fcgiwrap", "-c", "2", "-s", "unix:" + socket},
        d / "fcgiwrap.log");
    for (int i = 0; i < 500 && !std::filesystem::exists(socket); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!std::filesystem::exists(socket)) {
      throw std::runtime_error("fcgiwrap did not create " + socket + ":\n" + fcgi_->Log());
    }

    std::string backend = "      include " + (d / "fastcgi_git").string() + ";\n";
    WriteFile(d / "fastcgi_git",
              "fastcgi_pass unix:" + socket + ";\n" +
                  "fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;\n"
                  "fastcgi_param GIT_PROJECT_ROOT " +
                  base.string() + ";\n" +
                  "fastcgi_param GIT_HTTP_EXPORT_ALL \"\";\n"
                  "fastcgi_param QUERY_STRING $query_string;\n"
                  "fastcgi_param REQUEST_METHOD $request_method;\n"
                  "fastcgi_param CONTENT_TYPE $content_type;\n"
                  "fastcgi_param CONTENT_LENGTH $content_length;\n"
                  "fastcgi_param REMOTE_USER $remote_user;\n"
                  "fastcgi_param REMOTE_ADDR $remote_addr;\n"
                  "fastcgi_param SERVER_PROTOCOL $server_protocol;\n"
                  "fastcgi_param GATEWAY_INTERFACE CGI/1.1;\n");
    std::string conf =
        std::string(::geteuid() == 0 ? "user root;\n" : "") +
        "worker_processes 1;\n"
        "error_log " +
        (d / "error.log").string() + " info;\n" +
        "events { worker_connections 64; }\n"
        "http {\n"
        "  access_log " +
        (d / "access.log").string() + ";\n" + "  client_body_temp_path " + (d / "body").string() +
        ";\n" + "  fastcgi_temp_path " + (d / "fastcgi").string() + ";\n" + "  proxy_temp_path " +
        (d / "proxy").string() + ";\n" + "  uwsgi_temp_path " + (d / "uwsgi").string() + ";\n" +
        "  scgi_temp_path " + (d / "scgi").string() + ";\n" +
        "  client_max_body_size 0;\n"
        "  server {\n"
        "    listen 127.0.0.1:" +
        std::to_string(port_) + " ssl;\n" + "    ssl_certificate " + (d / "server.crt").string() +
        ";\n" + "    ssl_certificate_key " + (d / "server.key").string() + ";\n" +
        "    location ~ ^/git(/.*)$ {\n"
        "      auth_basic \"git\";\n"
        "      auth_basic_user_file " +
        (d / "htpasswd").string() + ";\n" + "      fastcgi_param PATH_INFO $1;\n" + backend +
        "    }\n"
        "    location ~ ^/bearer(/.*)$ {\n"
        "      if ($http_authorization != \"Bearer " +
        token + "\") { return 401; }\n" + "      fastcgi_param PATH_INFO $1;\n" + backend +
        "    }\n"
        "  }\n"
        "}\n";
    WriteFile(d / "nginx.conf", conf);
    nginx_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"nginx", "-p", d.string(), "-e", (d / "error.log").string(), "-c",
                                 (d / "nginx.conf").string(), "-g",
                                 "daemon off; pid " + (d / "nginx.pid").string() + ";"},
        d / "nginx.out");
    try {
      nginx_->WaitForPort(port_, "nginx");
    } catch (const std::runtime_error& e) {
      std::string log;
      try {
        log = ReadFile(d / "error.log");
      } catch (...) {
      }
      throw std::runtime_error(std::string(e.what()) + "\n" + log);
    }
  }

  int port() const { return port_; }
  std::string BasicUrl(const std::string& repo) const {
    return "https://127.0.0.1:" + std::to_string(port_) + "/git/" + repo;
  }
  std::string BearerUrl(const std::string& repo) const {
    return "https://127.0.0.1:" + std::to_string(port_) + "/bearer/" + repo;
  }
  std::string CaPem() const { return ReadFile(dir_.path() / "ca.crt"); }
  std::string OtherCaPem() const { return ReadFile(dir_.path() / "other_ca.crt"); }
  std::string ErrorLog() const { return ReadFile(dir_.path() / "error.log"); }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<ChildProcess> fcgi_;
  std::unique_ptr<ChildProcess> nginx_;
};

}  // namespace driftguard::testing

#endif  // DRIFTGUARD_TESTS_SUPPORT_GIT_SERVERS_H_
