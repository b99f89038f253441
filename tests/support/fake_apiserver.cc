#include "tests/support/fake_apiserver.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <variant>

#include "core/object_ref.h"
#include "core/yaml.h"
#include "tests/support/test_util.h"

namespace driftguard::testing {
namespace {

using core::Json;

// Certificates shared by every FakeApiServer of the process, made once with the openssl CLI.
struct FakeCerts {
  TempDir dir;
  std::string ca_pem, client_cert_pem, client_key_pem, other_ca_pem;
  std::string File(const std::string& name) const { return (dir.path() / name).string(); }
};

void Openssl(const std::filesystem::path& dir, const std::string& args) {
  CommandResult r = RunCommand("cd '" + dir.string() + "' && openssl " + args + " 2>&1");
  if (r.exit_code != 0) throw std::runtime_error("openssl " + args + " failed:\n" + r.output);
}

void MakeLeaf(const std::filesystem::path& dir, const std::string& name, const std::string& subj,
              const std::string& ext) {
  WriteFile(dir / (name + ".ext"), ext);
  Openssl(dir, "req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout " + name +
                   ".key -out " + name + ".csr -subj " + subj);
  Openssl(dir, "x509 -req -in " + name +
                   ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
                   "-out " +
                   name + ".crt -extfile " + name + ".ext");
}

const FakeCerts& Certs() {
  static FakeCerts* certs = [] {
    auto* c = new FakeCerts();
    const auto& d = c->dir.path();
    Openssl(d,
            "req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "
            "ca.key -out ca.crt -days 2 -subj /CN=fake-apiserver-ca");
    Openssl(d,
            "req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "
            "other.key -out other.crt -days 2 -subj /CN=unrelated-ca");
    MakeLeaf(d, "server", "/CN=fake-apiserver",
             "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
             "extendedKeyUsage=serverAuth\n");
    MakeLeaf(d, "client", "/O=system:masters/CN=driftguard-test",
             "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
    c->ca_pem = ReadFile(d / "ca.crt");
    c->other_ca_pem = ReadFile(d / "other.crt");
    c->client_cert_pem = ReadFile(d / "client.crt");
    c->client_key_pem = ReadFile(d / "client.key");
    return c;
  }();
  return *certs;
}

std::string Now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string StatusReason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

Json StatusBody(int code, const std::string& reason, const std::string& message,
                Json details = nullptr) {
  Json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = std::move(details);
  return s;
}

// An error the handlers return; rendered as a Status body.
struct ApiError {
  int code;
  std::string reason;
  std::string message;
  Json details = nullptr;
};

std::string StrAt(const Json& j, const char* pointer) {
  const Json* v = core::FindPointer(j, pointer);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

bool IsDnsSubdomain(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return !s.empty() && s.size() <= 253 && std::regex_match(s, re);
}

// ---- label selectors ----

struct Requirement {
  std::string key;
  enum Op { kIn, kNotIn, kExists, kNotExists } op;
  std::set<std::string> values;
};

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(' ');
  size_t e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool ParseSelector(const std::string& text, std::vector<Requirement>& out) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  for (std::string p : parts) {
    p = Trim(p);
    if (p.empty()) return false;
    Requirement r;
    size_t pos;
    if (p[0] == '!') {
      r.key = Trim(p.substr(1));
      r.op = Requirement::kNotExists;
    } else if ((pos = p.find("!=")) != std::string::npos) {
      r.key = Trim(p.substr(0, pos));
      r.op = Requirement::kNotIn;
      r.values.insert(Trim(p.substr(pos + 2)));
    } else if ((pos = p.find("==")) != std::string::npos) {
      r.key = Trim(p.substr(0, pos));
      r.op = Requirement::kIn;
      r.values.insert(Trim(p.substr(pos + 2)));
    } else if ((pos = p.find('=')) != std::string::npos) {
      r.key = Trim(p.substr(0, pos));
      r.op = Requirement::kIn;
      r.values.insert(Trim(p.substr(pos + 1)));
    } else if ((pos = p.find(" notin ")) != std::string::npos ||
               (pos = p.find(" in ")) != std::string::npos) {
      bool notin = p.compare(pos, 7, " notin ") == 0;
      r.key = Trim(p.substr(0, pos));
      r.op = notin ? Requirement::kNotIn : Requirement::kIn;
      std::string rest = Trim(p.substr(pos + (notin ? 7 : 4)));
      if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return false;
      std::stringstream ss(rest.substr(1, rest.size() - 2));
      for (std::string v; std::getline(ss, v, ',');) r.values.insert(Trim(v));
    } else {
      r.key = p;
      r.op = Requirement::kExists;
    }
    if (r.key.empty()) return false;
    out.push_back(std::move(r));
  }
  return true;
}

bool Matches(const std::vector<Requirement>& reqs, const Json& object) {
  const Json* labels = core::FindPointer(object, "/metadata/labels");
  for (const Requirement& r : reqs) {
    const Json* v = nullptr;
    if (labels != nullptr && labels->is_object()) {
      auto it = labels->find(r.key);
      if (it != labels->end()) v = &*it;
    }
    std::string value = v != nullptr && v->is_string() ? v->get<std::string>() : "";
    switch (r.op) {
      case Requirement::kExists:
        if (v == nullptr) return false;
        break;
      case Requirement::kNotExists:
        if (v != nullptr) return false;
        break;
      case Requirement::kIn:
        if (v == nullptr || !r.values.contains(value)) return false;
        break;
      case Requirement::kNotIn:
        if (v != nullptr && r.values.contains(value)) return false;
        break;
    }
  }
  return true;
}

// ---- field sets (server-side apply) ----

using FieldSet = std::set<std::string>;  // JSON pointers of owned leaves

bool IgnoredField(const std::string& p, bool skip_status) {
  static const std::set<std::string> kIgnored = {"/apiVersion",
                                                 "/kind",
                                                 "/metadata/name",
                                                 "/metadata/namespace",
                                                 "/metadata/uid",
                                                 "/metadata/resourceVersion",
                                                 "/metadata/generation",
                                                 "/metadata/creationTimestamp",
                                                 "/metadata/managedFields",
                                                 "/metadata/selfLink",
                                                 "/metadata/deletionTimestamp"};
  if (kIgnored.contains(p)) return true;
  return skip_status && (p == "/status" || p.starts_with("/status/"));
}

void CollectLeaves(const Json& j, const std::string& prefix, bool skip_status, FieldSet& out) {
  if (IgnoredField(prefix, skip_status)) return;
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      CollectLeaves(it.value(), prefix + "/" + core::EscapePointerToken(it.key()), skip_status,
                    out);
    }
    return;
  }
  if (!prefix.empty()) out.insert(prefix);
}

FieldSet Leaves(const Json& j, bool skip_status) {
  FieldSet out;
  CollectLeaves(j, "", skip_status, out);
  return out;
}

bool Related(const std::string& a, const std::string& b) {
  if (a == b) return true;
  auto under = [](const std::string& x, const std::string& y) {
    return x.size() > y.size() && x.starts_with(y) && x[y.size()] == '/';
  };
  return under(a, b) || under(b, a);
}

const Json* At(const Json& j, const std::string& pointer) { return core::FindPointer(j, pointer); }

std::string Unescape(std::string token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size()) {
      out += token[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

std::vector<std::string> Tokens(const std::string& pointer) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= pointer.size()) {
    size_t slash = pointer.find('/', start);
    if (slash == std::string::npos) slash = pointer.size();
    out.push_back(Unescape(pointer.substr(start, slash - start)));
    start = slash + 1;
  }
  return out;
}

// ".spec.replicas" as SSA conflict messages name fields.
std::string DottedPath(const std::string& pointer) {
  std::string out;
  for (const std::string& t : Tokens(pointer)) out += "." + t;
  return out;
}

void Erase(Json& j, const std::string& pointer) {
  std::vector<std::string> tokens = Tokens(pointer);
  Json* cur = &j;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    if (!cur->is_object() || !cur->contains(tokens[i])) return;
    cur = &(*cur)[tokens[i]];
  }
  if (cur->is_object()) cur->erase(tokens.back());
}

void DeepMerge(Json& into, const Json& from) {
  if (!into.is_object() || !from.is_object()) {
    into = from;
    return;
  }
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (it.value().is_object() && into.contains(it.key()) && into[it.key()].is_object()) {
      DeepMerge(into[it.key()], it.value());
    } else {
      into[it.key()] = it.value();
    }
  }
}

Json FieldsV1(const FieldSet& fields) {
  Json out = Json::object();
  for (const std::string& p : fields) {
    Json* cur = &out;
    for (const std::string& t : Tokens(p)) cur = &(*cur)["f:" + t];
    if (cur->is_null()) *cur = Json::object();
  }
  return out;
}

struct ManagerEntry {
  std::string operation;  // "Apply" or "Update"
  std::string api_version;
  std::string time;
  std::string subresource;
  FieldSet fields;
};

struct Stored {
  Json object;
  std::map<std::string, ManagerEntry> managers;  // keyed by manager + "\n" + operation
};

struct Event {
  int64_t rv;
  std::string type;
  std::string resource_key;  // group/plural
  std::string ns;
  Json object;
};

struct Route {
  FakeResource res;
  std::string ns;
  std::string name;
  std::string subresource;
};

std::string ResourceKey(const FakeResource& r) { return r.group + "/" + r.plural; }

}  // namespace

class FakeApiServer::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {
    for (const FakeResource& r : options_.resources) AddResource(r);
    for (const std::string& ns : options_.namespaces) {
      Put(Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    }
    if (options_.install_flux_crds) {
      for (const Json& crd : FluxCrds()) Put(crd);
    }
    required_token_ = options_.required_token;
    Start(0);
  }

  ~Impl() { Down(); }

  int port() const { return port_; }

  // ---- lifecycle ----

  void Start(int port) {
    const FakeCerts& certs = Certs();
    server_ = std::make_unique<httplib::SSLServer>(
        certs.File("server.crt").c_str(), certs.File("server.key").c_str(),
        options_.require_client_certificate ? certs.File("ca.crt").c_str() : nullptr);
    if (!server_->is_valid()) throw std::runtime_error("FakeApiServer: TLS setup failed");
    server_->new_task_queue = [] { return new httplib::ThreadPool(48); };
    server_->set_keep_alive_timeout(1);
    server_->set_tcp_nodelay(true);
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res);
    };
    server_->Get(".*", handler);
    server_->Post(".*", handler);
    server_->Put(".*", handler);
    server_->Patch(".*", handler);
    server_->Delete(".*", handler);
    if (port == 0) {
      port_ = server_->bind_to_any_port("127.0.0.1");
      if (port_ <= 0) throw std::runtime_error("FakeApiServer: bind to 127.0.0.1:0 failed");
    } else {
      bool bound = false;
      for (int i = 0; i < 100 && !bound; ++i) {
        bound = server_->bind_to_port("127.0.0.1", port);
        if (!bound) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (!bound) throw std::runtime_error("FakeApiServer: cannot bind the same port again");
    }
    stopping_ = false;
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 200 && !server_->is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void Down() {
    if (!server_) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  void Up() {
    if (server_) return;
    Start(port_);
  }

  void CloseWatches() {
    std::lock_guard<std::mutex> lock(mu_);
    ++close_generation_;
    cv_.notify_all();
  }

  // ---- configuration ----

  void AddResource(const FakeResource& r) {
    std::lock_guard<std::mutex> lock(mu_);
    AddResourceLocked(r);
  }

  void AddResourceLocked(const FakeResource& r) {
    for (FakeResource& existing : resources_) {
      if (existing.group == r.group && existing.version == r.version &&
          existing.plural == r.plural) {
        existing = r;
        return;
      }
    }
    resources_.push_back(r);
  }

  void SetRequiredToken(const std::string& token) {
    std::lock_guard<std::mutex> lock(mu_);
    required_token_ = token;
  }

  void FailNext(int count, int code, FaultMatch match, std::optional<int> retry_after) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.push_back({count, code, std::move(match), retry_after});
  }

  void SetLatency(std::chrono::milliseconds latency) { latency_ms_ = latency.count(); }

  std::vector<RecordedRequest> Requests() const {
    std::lock_guard<std::mutex> lock(log_mu_);
    return requests_;
  }
  void ClearRequests() {
    std::lock_guard<std::mutex> lock(log_mu_);
    requests_.clear();
  }

  int64_t resource_version() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rv_;
  }

  void CompactHistory() {
    std::lock_guard<std::mutex> lock(mu_);
    history_.clear();
    compacted_rv_ = rv_;
  }

  // ---- direct store access ----

  Json Put(const Json& object) {
    std::lock_guard<std::mutex> lock(mu_);
    core::GroupVersion gv = core::GroupVersion::Parse(StrAt(object, "/apiVersion"));
    const FakeResource* res = FindByKind(gv.group, gv.version, StrAt(object, "/kind"));
    if (res == nullptr) throw std::runtime_error("FakeApiServer::Put: unknown kind");
    Route route{*res, res->namespaced ? StrAt(object, "/metadata/namespace") : "",
                StrAt(object, "/metadata/name"), ""};
    std::string key = StoreKey(route);
    if (store_.contains(key)) {
      Json body = object;
      body["metadata"]["resourceVersion"] = store_[key].object["metadata"]["resourceVersion"];
      auto r = UpdateLocked(route, body, "fake-seed", false);
      if (auto* e = std::get_if<ApiError>(&r)) throw std::runtime_error(e->message);
      return std::get<Json>(r);
    }
    auto r = CreateLocked(route, object, "fake-seed", false);
    if (auto* e = std::get_if<ApiError>(&r)) throw std::runtime_error(e->message);
    return std::get<Json>(r);
  }

  Json PutStatus(const Json& object) {
    Json stored = Put(object);
    std::lock_guard<std::mutex> lock(mu_);
    core::GroupVersion gv = core::GroupVersion::Parse(StrAt(object, "/apiVersion"));
    const FakeResource* res = FindByKind(gv.group, gv.version, StrAt(object, "/kind"));
    if (!res->has_status) return stored;
    Route route{*res, res->namespaced ? StrAt(object, "/metadata/namespace") : "",
                StrAt(object, "/metadata/name"), "status"};
    Json body = stored;
    body["metadata"].erase("resourceVersion");
    if (object.contains("status")) {
      body["status"] = object["status"];
    } else {
      body.erase("status");
    }
    auto r = UpdateLocked(route, body, "fake-seed", false);
    if (auto* e = std::get_if<ApiError>(&r)) throw std::runtime_error(e->message);
    return std::get<Json>(r);
  }

  std::optional<Json> Object(const std::string& api_version, const std::string& kind,
                             const std::string& ns, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    core::GroupVersion gv = core::GroupVersion::Parse(api_version);
    const FakeResource* res = FindByKind(gv.group, gv.version, kind);
    if (res == nullptr) return std::nullopt;
    auto it = store_.find(StoreKey({*res, res->namespaced ? ns : "", name, ""}));
    if (it == store_.end()) return std::nullopt;
    return it->second.object;
  }

  void EstablishCrd(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    const FakeResource* crd_res =
        FindByPlural("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    auto it = store_.find(StoreKey({*crd_res, "", name, ""}));
    if (it == store_.end()) return;
    EstablishLocked(it->second.object);
    BumpAndRecord("MODIFIED", *crd_res, it->second);
  }

 private:
  using Result = std::variant<Json, ApiError>;

  struct Fault {
    int remaining;
    int code;
    FaultMatch match;
    std::optional<int> retry_after;
  };

  // ---- resource lookup (mu_ held) ----

  const FakeResource* FindByKind(const std::string& group, const std::string& version,
                                 const std::string& kind) const {
    for (const FakeResource& r : resources_) {
      if (r.group == group && r.version == version && r.kind == kind) return &r;
    }
    return nullptr;
  }
  const FakeResource* FindByPlural(const std::string& group, const std::string& version,
                                   const std::string& plural) const {
    for (const FakeResource& r : resources_) {
      if (r.group == group && r.version == version && r.plural == plural) return &r;
    }
    return nullptr;
  }

  static std::string StoreKey(const Route& r) {
    return ResourceKey(r.res) + "|" + r.ns + "|" + r.name;
  }
  static std::string QualifiedPlural(const FakeResource& r) {
    return r.group.empty() ? r.plural : r.plural + "." + r.group;
  }
  static std::string QualifiedKind(const FakeResource& r) {
    return r.group.empty() ? r.kind : r.kind + "." + r.group;
  }
  static Json Details(const FakeResource& r, const std::string& name, bool kind_is_kind = false) {
    Json d = {{"name", name}, {"kind", kind_is_kind ? r.kind : r.plural}};
    if (!r.group.empty()) d["group"] = r.group;
    return d;
  }

  ApiError NotFound(const FakeResource& r, const std::string& name) const {
    return {404, "NotFound", QualifiedPlural(r) + " \"" + name + "\" not found", Details(r, name)};
  }
  ApiError StaleConflict(const FakeResource& r, const std::string& name) const {
    return {409, "Conflict",
            "Operation cannot be fulfilled on " + QualifiedPlural(r) + " \"" + name +
                "\": the object has been modified; please apply your changes to the latest "
                "version and try again",
            Details(r, name)};
  }
  ApiError Invalid(const FakeResource& r, const std::string& name, const std::string& field,
                   const std::string& cause_message, const std::string& cause_reason) const {
    Json details = Details(r, name, true);
    details["causes"] =
        Json::array({{{"reason", cause_reason}, {"message", cause_message}, {"field", field}}});
    return {422, "Invalid",
            QualifiedKind(r) + " \"" + name + "\" is invalid: " + field + ": " + cause_message,
            details};
  }

  // ---- request handling ----

  // Recorded when the handler finishes, before the response is written, so a client that has
  // its response always finds its request in the log.
  void Record(const httplib::Request& req, const httplib::Response& res) {
    RecordedRequest r;
    r.method = req.method;
    r.path = req.path;
    size_t q = req.target.find('?');
    if (q != std::string::npos) r.query = req.target.substr(q + 1);
    r.content_type = req.get_header_value("Content-Type");
    r.request_bytes = req.body.size();
    r.response_bytes = res.body.size();
    r.status = res.status;
    std::lock_guard<std::mutex> lock(log_mu_);
    requests_.push_back(std::move(r));
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    HandleUnrecorded(req, res);
    Record(req, res);
  }

  void HandleUnrecorded(const httplib::Request& req, httplib::Response& res) {
    try {
      if (int64_t ms = latency_ms_.load(); ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      }
      if (ApplyFault(req, res)) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!required_token_.empty() &&
            req.get_header_value("Authorization") != "Bearer " + required_token_) {
          Send(res, 401, StatusBody(401, "Unauthorized", "Unauthorized"));
          return;
        }
      }
      Dispatch(req, res);
    } catch (const std::exception& e) {
      Send(res, 500, StatusBody(500, "InternalError", std::string("fake: ") + e.what()));
    }
  }

  bool ApplyFault(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    for (Fault& f : faults_) {
      if (f.remaining <= 0) continue;
      if (!f.match.method.empty() && f.match.method != req.method) continue;
      if (!f.match.path_substring.empty() &&
          req.path.find(f.match.path_substring) == std::string::npos) {
        continue;
      }
      --f.remaining;
      std::string reason = StatusReason(f.code);
      std::string message = f.code == 429 ? "Too many requests, please try again later."
                                          : "injected fault (HTTP " + std::to_string(f.code) + ")";
      if (f.retry_after) res.set_header("Retry-After", std::to_string(*f.retry_after));
      Send(res, f.code, StatusBody(f.code, reason, message));
      return true;
    }
    return false;
  }

  static void Send(httplib::Response& res, int code, const Json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
  }
  static void SendError(httplib::Response& res, const ApiError& e) {
    Send(res, e.code, StatusBody(e.code, e.reason, e.message, e.details));
  }

  void Dispatch(const httplib::Request& req, httplib::Response& res) {
    const std::string& path = req.path;
    if (req.method == "GET") {
      if (path == "/version") {
        Send(res, 200, {{"major", "1"}, {"minor", "29"}, {"gitVersion", "v1.29.0-fake"}});
        return;
      }
      if (path == "/api") {
        Send(res, 200, {{"kind", "APIVersions"}, {"versions", {"v1"}}});
        return;
      }
      if (path == "/apis") {
        Send(res, 200, GroupList());
        return;
      }
    }
    std::optional<Route> route;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (req.method == "GET" && DiscoveryDoc(path, res)) return;
      route = ParseRoute(path);
    }
    if (!route) {
      Send(res, 404,
           StatusBody(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    const bool dry_run = req.get_param_value("dryRun") == "All";
    std::string manager = req.get_param_value("fieldManager");
    if (manager.empty()) {
      std::string agent = req.get_header_value("User-Agent");
      manager = agent.substr(0, agent.find('/'));
      if (manager.empty()) manager = "unknown";
    }
    if (req.method == "GET") {
      if (!route->name.empty()) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = store_.find(StoreKey(*route));
        if (it == store_.end()) return SendError(res, NotFound(route->res, route->name));
        return Send(res, 200, it->second.object);
      }
      const std::string watch = req.get_param_value("watch");
      if (watch == "true" || watch == "1") return StartWatch(req, res, *route);
      return ListObjects(req, res, *route);
    }
    Result result = ApiError{405, "MethodNotAllowed", "the server does not allow this method"};
    const std::string content_type = req.get_header_value("Content-Type");
    Json body;
    if (req.method != "DELETE" || !req.body.empty()) {
      auto parsed = content_type.starts_with("application/apply-patch+yaml")
                        ? core::ParseYaml(req.body, "request body")
                        : core::ParseJson(req.body, "request body");
      if (!parsed.ok() || (!parsed->is_object() && !parsed->is_null())) {
        return SendError(res,
                         {400, "BadRequest",
                          "the request body is not a valid object: " + parsed.status().message()});
      }
      body = std::move(parsed).value();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (req.method == "POST" && route->name.empty()) {
      result = CreateLocked(*route, body, manager, dry_run);
      if (std::holds_alternative<Json>(result)) {
        Send(res, dry_run ? 200 : 201, std::get<Json>(result));
        return;
      }
    } else if (req.method == "PUT" && !route->name.empty()) {
      result = UpdateLocked(*route, body, manager, dry_run);
    } else if (req.method == "PATCH" && !route->name.empty()) {
      if (content_type.starts_with("application/apply-patch+yaml")) {
        if (req.get_param_value("fieldManager").empty()) {
          result = ApiError{400, "BadRequest", "fieldManager is required for apply requests"};
        } else {
          result =
              ApplyLocked(*route, body, manager, req.get_param_value("force") == "true", dry_run);
        }
      } else if (content_type.starts_with("application/merge-patch+json")) {
        result = MergePatchLocked(*route, body, manager, dry_run);
      } else {
        result = ApiError{415, "UnsupportedMediaType",
                          "the body of the request was in an unknown format - accepted media "
                          "types include: application/merge-patch+json, "
                          "application/apply-patch+yaml"};
      }
    } else if (req.method == "DELETE" && !route->name.empty()) {
      result = DeleteLocked(*route, body, dry_run);
    }
    if (auto* e = std::get_if<ApiError>(&result)) return SendError(res, *e);
    Send(res, 200, std::get<Json>(result));
  }

  // ---- discovery ----

  Json GroupList() {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, std::vector<std::string>> groups;
    std::vector<std::string> order;
    for (const FakeResource& r : resources_) {
      if (r.group.empty()) continue;
      if (!groups.contains(r.group)) order.push_back(r.group);
      auto& versions = groups[r.group];
      if (std::find(versions.begin(), versions.end(), r.version) == versions.end()) {
        versions.push_back(r.version);
      }
    }
    Json list = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", Json::array()}};
    for (const std::string& g : order) {
      Json group = {{"name", g}, {"versions", Json::array()}};
      for (const std::string& v : groups[g]) {
        group["versions"].push_back({{"groupVersion", g + "/" + v}, {"version", v}});
      }
      group["preferredVersion"] = group["versions"][0];
      list["groups"].push_back(group);
    }
    return list;
  }

  bool DiscoveryDoc(const std::string& path, httplib::Response& res) {
    std::string group, version;
    if (path.starts_with("/api/") && path.find('/', 5) == std::string::npos) {
      version = path.substr(5);
    } else if (path.starts_with("/apis/")) {
      std::string rest = path.substr(6);
      size_t slash = rest.find('/');
      if (slash == std::string::npos || rest.find('/', slash + 1) != std::string::npos) {
        return false;
      }
      group = rest.substr(0, slash);
      version = rest.substr(slash + 1);
    } else {
      return false;
    }
    Json resources = Json::array();
    for (const FakeResource& r : resources_) {
      if (r.group != group || r.version != version) continue;
      resources.push_back(
          {{"name", r.plural},
           {"singularName", r.singular},
           {"namespaced", r.namespaced},
           {"kind", r.kind},
           {"verbs",
            {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}}});
      if (r.has_status) {
        resources.push_back({{"name", r.plural + "/status"},
                             {"singularName", ""},
                             {"namespaced", r.namespaced},
                             {"kind", r.kind},
                             {"verbs", {"get", "patch", "update"}}});
      }
    }
    if (resources.empty()) return false;
    std::string gv = group.empty() ? version : group + "/" + version;
    Send(res, 200,
         {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", gv},
          {"resources", resources}});
    return true;
  }

  // /api/v1/[namespaces/<ns>/]<plural>[/<name>[/<sub>]] and /apis/<g>/<v>/...
  std::optional<Route> ParseRoute(const std::string& path) const {
    std::vector<std::string> seg;
    std::stringstream ss(path);
    for (std::string s; std::getline(ss, s, '/');) {
      if (!s.empty()) seg.push_back(s);
    }
    std::string group, version;
    size_t i;
    if (seg.size() >= 3 && seg[0] == "api") {
      version = seg[1];
      i = 2;
    } else if (seg.size() >= 4 && seg[0] == "apis") {
      group = seg[1];
      version = seg[2];
      i = 3;
    } else {
      return std::nullopt;
    }
    std::vector<std::string> rest(seg.begin() + i, seg.end());
    if (rest.size() >= 3 && rest[0] == "namespaces") {
      const FakeResource* r = FindByPlural(group, version, rest[2]);
      if (r != nullptr && r->namespaced && rest.size() <= 5) {
        return Route{*r, rest[1], rest.size() > 3 ? rest[3] : "", rest.size() > 4 ? rest[4] : ""};
      }
    }
    if (rest.empty() || rest.size() > 3) return std::nullopt;
    const FakeResource* r = FindByPlural(group, version, rest[0]);
    if (r == nullptr) return std::nullopt;
    return Route{*r, "", rest.size() > 1 ? rest[1] : "", rest.size() > 2 ? rest[2] : ""};
  }

  // ---- list and watch ----

  bool Visible(const Route& route, const std::string& key) const {
    std::string prefix = ResourceKey(route.res) + "|";
    if (!key.starts_with(prefix)) return false;
    if (route.res.namespaced && !route.ns.empty()) return key.starts_with(prefix + route.ns + "|");
    return true;
  }

  static bool FieldMatch(const std::string& selector, const Json& object) {
    if (selector.empty()) return true;
    std::stringstream ss(selector);
    for (std::string part; std::getline(ss, part, ',');) {
      bool negate = false;
      size_t pos = part.find("!=");
      if (pos != std::string::npos) {
        negate = true;
      } else {
        pos = part.find("==");
        if (pos == std::string::npos) pos = part.find('=');
      }
      if (pos == std::string::npos) return false;
      std::string field = Trim(part.substr(0, pos));
      std::string value =
          Trim(part.substr(pos + (part[pos] == '=' && part[pos + 1] != '=' ? 1 : 2)));
      std::string actual = field == "metadata.name"        ? StrAt(object, "/metadata/name")
                           : field == "metadata.namespace" ? StrAt(object, "/metadata/namespace")
                                                           : "\x01";
      if ((actual == value) == negate) return false;
    }
    return true;
  }

  Json ForList(const FakeResource& r, Json object) const {
    if (!r.is_crd) {
      object.erase("apiVersion");
      object.erase("kind");
    }
    return object;
  }

  void ListObjects(const httplib::Request& req, httplib::Response& res, const Route& route) {
    std::vector<Requirement> selector;
    if (!ParseSelector(req.get_param_value("labelSelector"), selector) &&
        !req.get_param_value("labelSelector").empty()) {
      return SendError(res,
                       {400, "BadRequest",
                        "unable to parse requirement: " + req.get_param_value("labelSelector")});
    }
    const std::string field_selector = req.get_param_value("fieldSelector");
    int64_t limit = 0;
    if (req.has_param("limit")) limit = std::stoll(req.get_param_value("limit"));
    std::string after = req.get_param_value("continue");
    std::lock_guard<std::mutex> lock(mu_);
    Json items = Json::array();
    std::string last_key;
    int64_t remaining = 0;
    for (auto it = after.empty() ? store_.begin() : store_.upper_bound(after); it != store_.end();
         ++it) {
      if (!Visible(route, it->first)) continue;
      const Json& obj = it->second.object;
      if (!Matches(selector, obj) || !FieldMatch(field_selector, obj)) continue;
      if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
        ++remaining;
        continue;
      }
      items.push_back(ForList(route.res, obj));
      last_key = it->first;
    }
    Json list = {
        {"kind", route.res.kind + "List"},
        {"apiVersion",
         route.res.group.empty() ? route.res.version : route.res.group + "/" + route.res.version},
        {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
        {"items", items}};
    if (remaining > 0) {
      list["metadata"]["continue"] = last_key;
      list["metadata"]["remainingItemCount"] = remaining;
    }
    Send(res, 200, list);
  }

  struct WatchState {
    Route route;
    std::vector<Requirement> selector;
    std::string field_selector;
    int64_t next_rv;  // deliver history events with rv >= next_rv
    bool bookmarks;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point next_bookmark;
    std::chrono::steady_clock::time_point next_heartbeat;
    uint64_t close_generation;
    std::vector<Json> pending;  // initial events
    bool expired = false;
    int64_t requested_rv = 0;
  };

  void StartWatch(const httplib::Request& req, httplib::Response& res, const Route& route) {
    auto state = std::make_shared<WatchState>();
    state->route = route;
    if (!ParseSelector(req.get_param_value("labelSelector"), state->selector) &&
        !req.get_param_value("labelSelector").empty()) {
      return SendError(res, {400, "BadRequest", "unable to parse requirement"});
    }
    state->field_selector = req.get_param_value("fieldSelector");
    state->bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
    int64_t timeout = 1800;
    if (req.has_param("timeoutSeconds"))
      timeout = std::stoll(req.get_param_value("timeoutSeconds"));
    auto now = std::chrono::steady_clock::now();
    state->deadline = now + std::chrono::seconds(timeout);
    state->next_bookmark = now + options_.bookmark_interval;
    state->next_heartbeat = now + std::chrono::seconds(1);
    std::string rv_param = req.get_param_value("resourceVersion");
    {
      std::lock_guard<std::mutex> lock(mu_);
      state->close_generation = close_generation_;
      if (rv_param.empty() || rv_param == "0") {
        for (const auto& [key, stored] : store_) {
          if (!Visible(route, key)) continue;
          if (!Matches(state->selector, stored.object) ||
              !FieldMatch(state->field_selector, stored.object)) {
            continue;
          }
          state->pending.push_back({{"type", "ADDED"}, {"object", stored.object}});
        }
        state->next_rv = rv_ + 1;
      } else {
        int64_t rv = std::stoll(rv_param);
        state->requested_rv = rv;
        if (rv < compacted_rv_) {
          state->expired = true;
        }
        state->next_rv = rv + 1;
      }
    }
    res.status = 200;
    res.set_chunked_content_provider(
        "application/json",
        [this, state](size_t, httplib::DataSink& sink) { return WatchStep(*state, sink); });
  }

  // One step of a watch stream; returns false to abort the connection.
  bool WatchStep(WatchState& st, httplib::DataSink& sink) {
    std::string out;
    if (st.expired) {
      int64_t current;
      {
        std::lock_guard<std::mutex> lock(mu_);
        current = rv_;
      }
      Json event = {
          {"type", "ERROR"},
          {"object", StatusBody(410, "Expired",
                                "too old resource version: " + std::to_string(st.requested_rv) +
                                    " (" + std::to_string(current) + ")")}};
      out = event.dump() + "\n";
      sink.write(out.data(), out.size());
      sink.done();
      return true;
    }
    for (const Json& e : st.pending) out += e.dump() + "\n";
    st.pending.clear();
    if (!out.empty()) {
      if (!sink.write(out.data(), out.size())) return false;
      out.clear();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(50), [&] {
      return stopping_ || close_generation_ != st.close_generation ||
             (!history_.empty() && history_.back().rv >= st.next_rv);
    });
    if (stopping_) return false;
    if (close_generation_ != st.close_generation) {
      lock.unlock();
      sink.done();
      return true;
    }
    for (const Event& e : history_) {
      if (e.rv < st.next_rv) continue;
      st.next_rv = e.rv + 1;
      if (e.resource_key != ResourceKey(st.route.res)) continue;
      if (st.route.res.namespaced && !st.route.ns.empty() && e.ns != st.route.ns) continue;
      if (!Matches(st.selector, e.object) || !FieldMatch(st.field_selector, e.object)) continue;
      out += Json({{"type", e.type}, {"object", e.object}}).dump() + "\n";
    }
    int64_t current = rv_;
    lock.unlock();
    auto now = std::chrono::steady_clock::now();
    if (st.bookmarks && now >= st.next_bookmark) {
      st.next_bookmark = now + options_.bookmark_interval;
      Json bookmark = {
          {"type", "BOOKMARK"},
          {"object",
           {{"kind", st.route.res.kind},
            {"apiVersion", st.route.res.group.empty()
                               ? st.route.res.version
                               : st.route.res.group + "/" + st.route.res.version},
            {"metadata",
             {{"resourceVersion", std::to_string(std::max(current, st.next_rv - 1))}}}}}};
      out += bookmark.dump() + "\n";
    }
    if (out.empty() && now >= st.next_heartbeat) out = "\n";  // finds clients that went away
    if (!out.empty()) {
      st.next_heartbeat = now + std::chrono::seconds(1);
      if (!sink.write(out.data(), out.size())) return false;
    }
    if (now >= st.deadline) sink.done();
    return true;
  }

  // ---- writes (mu_ held) ----

  bool NamespaceExists(const std::string& ns) const {
    const FakeResource* nsr = FindByPlural("", "v1", "namespaces");
    if (nsr == nullptr) return true;
    return store_.contains(StoreKey({*nsr, "", ns, ""}));
  }

  std::optional<ApiError> CheckTarget(const Route& route, Json& body, bool creating) const {
    if (!route.subresource.empty() && route.subresource != "status") {
      return ApiError{404, "NotFound", "the server could not find the requested resource"};
    }
    if (!route.subresource.empty() && !route.res.has_status) {
      return ApiError{404, "NotFound", "the server could not find the requested resource"};
    }
    std::string api_version = StrAt(body, "/apiVersion");
    std::string kind = StrAt(body, "/kind");
    std::string want_av =
        route.res.group.empty() ? route.res.version : route.res.group + "/" + route.res.version;
    if ((!api_version.empty() && api_version != want_av) ||
        (!kind.empty() && kind != route.res.kind)) {
      return ApiError{400, "BadRequest",
                      "the API version in the data (" + api_version +
                          ") does not match the expected API version (" + want_av + ")"};
    }
    body["apiVersion"] = want_av;
    body["kind"] = route.res.kind;
    if (!body.contains("metadata") || !body["metadata"].is_object()) {
      body["metadata"] = Json::object();
    }
    std::string body_ns = StrAt(body, "/metadata/namespace");
    if (route.res.namespaced) {
      if (!body_ns.empty() && body_ns != route.ns) {
        return ApiError{400, "BadRequest",
                        "the namespace of the provided object does not match the namespace sent "
                        "on the request"};
      }
      body["metadata"]["namespace"] = route.ns;
      if (creating && !NamespaceExists(route.ns)) {
        const FakeResource* nsr = FindByPlural("", "v1", "namespaces");
        return NotFound(*nsr, route.ns);
      }
    } else {
      body["metadata"].erase("namespace");
    }
    if (!route.name.empty()) {
      std::string body_name = StrAt(body, "/metadata/name");
      if (!body_name.empty() && body_name != route.name) {
        return ApiError{400, "BadRequest",
                        "the name of the object (" + body_name +
                            ") does not match the name on the URL (" + route.name + ")"};
      }
      body["metadata"]["name"] = route.name;
    }
    return std::nullopt;
  }

  std::string NewUid() {
    std::uniform_int_distribution<int> hex(0, 15);
    std::string out;
    const char* digits = "0123456789abcdef";
    for (int i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
      out += digits[hex(rng_)];
    }
    return out;
  }

  static Json Spec(const Json& object) {
    Json copy = object;
    copy.erase("metadata");
    copy.erase("status");
    return copy;
  }

  void RenderManagedFields(Stored& s) {
    Json mf = Json::array();
    for (const auto& [key, m] : s.managers) {
      if (m.fields.empty()) continue;
      Json entry = {{"manager", key.substr(0, key.find('\n'))},
                    {"operation", m.operation},
                    {"apiVersion", m.api_version},
                    {"time", m.time},
                    {"fieldsType", "FieldsV1"},
                    {"fieldsV1", FieldsV1(m.fields)}};
      if (!m.subresource.empty()) entry["subresource"] = m.subresource;
      mf.push_back(entry);
    }
    if (mf.empty()) {
      s.object["metadata"].erase("managedFields");
    } else {
      s.object["metadata"]["managedFields"] = mf;
    }
  }

  void BumpAndRecord(const std::string& type, const FakeResource& r, Stored& s) {
    ++rv_;
    s.object["metadata"]["resourceVersion"] = std::to_string(rv_);
    history_.push_back(
        {rv_, type, ResourceKey(r), StrAt(s.object, "/metadata/namespace"), s.object});
    if (history_.size() > 10000) history_.pop_front();
    cv_.notify_all();
  }

  // Takes the fields a non-apply write changed: they become `manager`'s, other managers lose
  // them; fields that disappeared leave every manager.
  void TrackUpdate(Stored& s, const Json& before, const std::string& manager,
                   const std::string& subresource) {
    bool skip_status = subresource.empty();
    FieldSet changed;
    for (const std::string& p : Leaves(s.object, skip_status)) {
      if (subresource == "status" && !(p == "/status" || p.starts_with("/status/"))) continue;
      const Json* old = At(before, p);
      if (old == nullptr || *old != *At(s.object, p)) changed.insert(p);
    }
    for (auto& [key, m] : s.managers) {
      for (auto it = m.fields.begin(); it != m.fields.end();) {
        bool gone = At(s.object, *it) == nullptr;
        bool taken = std::any_of(changed.begin(), changed.end(),
                                 [&](const std::string& c) { return Related(c, *it); });
        it = (gone || taken) ? m.fields.erase(it) : std::next(it);
      }
    }
    if (changed.empty()) return;
    ManagerEntry& entry = s.managers[manager + "\nUpdate" + subresource];
    entry.operation = "Update";
    entry.api_version = StrAt(s.object, "/apiVersion");
    entry.time = Now();
    entry.subresource = subresource;
    entry.fields.insert(changed.begin(), changed.end());
  }

  std::optional<ApiError> Validate(const Route& route, const Json& object, const Json* live) {
    std::string name = StrAt(object, "/metadata/name");
    if (name.empty()) {
      return Invalid(route.res, "", "metadata.name",
                     "Required value: name or generateName is required", "FieldValueRequired");
    }
    if (!IsDnsSubdomain(name)) {
      return Invalid(route.res, name, "metadata.name",
                     "Invalid value: \"" + name +
                         "\": a lowercase RFC 1123 subdomain must consist of lower case "
                         "alphanumeric characters, '-' or '.', and must start and end with an "
                         "alphanumeric character (e.g. 'example.com', regex used for validation "
                         "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                     "FieldValueInvalid");
    }
    if (live != nullptr) {
      for (const std::string& p : route.res.immutable_paths) {
        const Json* a = At(*live, p);
        const Json* b = At(object, p);
        if ((a == nullptr) != (b == nullptr) || (a != nullptr && *a != *b)) {
          std::string field = DottedPath(p).substr(1);
          return Invalid(route.res, name, field,
                         "Invalid value: " + (b == nullptr ? std::string("null") : b->dump()) +
                             ": field is immutable",
                         "FieldValueInvalid");
        }
      }
    }
    return std::nullopt;
  }

  Result CreateLocked(const Route& in_route, const Json& in_body, const std::string& manager,
                      bool dry_run) {
    Json body = in_body.is_object() ? in_body : Json::object();
    Route route = in_route;
    std::string name = StrAt(body, "/metadata/name");
    if (name.empty() && !StrAt(body, "/metadata/generateName").empty()) {
      name = StrAt(body, "/metadata/generateName") + NewUid().substr(0, 5);
      body["metadata"]["name"] = name;
    }
    route.name = name;
    if (auto e = CheckTarget(route, body, true)) return *e;
    if (auto e = Validate(route, body, nullptr)) return *e;
    if (store_.contains(StoreKey(route))) {
      return ApiError{409, "AlreadyExists",
                      QualifiedPlural(route.res) + " \"" + name + "\" already exists",
                      Details(route.res, name)};
    }
    Stored s;
    s.object = body;
    if (route.res.has_status) s.object.erase("status");
    Json& meta = s.object["metadata"];
    for (const char* f : {"resourceVersion", "managedFields", "deletionTimestamp"}) meta.erase(f);
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = Now();
    meta["generation"] = 1;
    TrackUpdate(s, Json::object(), manager, "");
    RenderManagedFields(s);
    if (dry_run) return s.object;
    if (route.res.plural == "customresourcedefinitions" && options_.establish_crds) {
      EstablishLocked(s.object);
    }
    BumpAndRecord("ADDED", route.res, s);
    Json out = s.object;
    store_[StoreKey(route)] = std::move(s);
    return out;
  }

  // Writes `next` (the complete new object) over the stored one.
  Result CommitLocked(const Route& route, Stored& live, Json next, const std::string& manager,
                      bool dry_run, bool track_update) {
    const Json& before = live.object;
    // System metadata always comes from the live object.
    for (const char* f : {"uid", "creationTimestamp", "generation", "resourceVersion"}) {
      if (before["metadata"].contains(f)) next["metadata"][f] = before["metadata"][f];
    }
    next["metadata"].erase("managedFields");
    if (before["metadata"].contains("managedFields")) {
      next["metadata"]["managedFields"] = before["metadata"]["managedFields"];
    }
    if (auto e = Validate(route, next, &before)) return *e;
    if (Spec(next) != Spec(before)) {
      next["metadata"]["generation"] = before["metadata"].value("generation", 1) + 1;
    }
    Stored updated = live;
    updated.object = std::move(next);
    if (track_update) TrackUpdate(updated, before, manager, route.subresource);
    RenderManagedFields(updated);
    if (updated.object == before) return before;  // a no-op write bumps nothing
    if (dry_run) return updated.object;
    if (route.res.plural == "customresourcedefinitions" && options_.establish_crds) {
      EstablishLocked(updated.object);
    }
    live = std::move(updated);
    BumpAndRecord("MODIFIED", route.res, live);
    return live.object;
  }

  // The object a main-resource or status write produces from `body`.
  static Json Overlay(const Route& route, const Json& live, const Json& body) {
    if (route.subresource == "status") {
      Json next = live;
      if (body.contains("status")) {
        next["status"] = body["status"];
      } else {
        next.erase("status");
      }
      return next;
    }
    Json next = body;
    if (route.res.has_status) {
      if (live.contains("status")) {
        next["status"] = live["status"];
      } else {
        next.erase("status");
      }
    }
    return next;
  }

  Result UpdateLocked(const Route& route, const Json& in_body, const std::string& manager,
                      bool dry_run) {
    Json body = in_body.is_object() ? in_body : Json::object();
    if (auto e = CheckTarget(route, body, false)) return *e;
    auto it = store_.find(StoreKey(route));
    if (it == store_.end()) return NotFound(route.res, route.name);
    std::string rv = StrAt(body, "/metadata/resourceVersion");
    if (!rv.empty() && rv != StrAt(it->second.object, "/metadata/resourceVersion")) {
      return StaleConflict(route.res, route.name);
    }
    return CommitLocked(route, it->second, Overlay(route, it->second.object, body), manager,
                        dry_run, true);
  }

  Result MergePatchLocked(const Route& route, const Json& patch, const std::string& manager,
                          bool dry_run) {
    if (!route.subresource.empty() && route.subresource != "status") {
      return ApiError{404, "NotFound", "the server could not find the requested resource"};
    }
    auto it = store_.find(StoreKey(route));
    if (it == store_.end()) return NotFound(route.res, route.name);
    std::string rv = StrAt(patch, "/metadata/resourceVersion");
    if (!rv.empty() && rv != StrAt(it->second.object, "/metadata/resourceVersion")) {
      return StaleConflict(route.res, route.name);
    }
    Json patched = it->second.object;
    patched.merge_patch(patch);
    Json body = patched;
    if (auto e = CheckTarget(route, body, false)) return *e;
    return CommitLocked(route, it->second, Overlay(route, it->second.object, body), manager,
                        dry_run, true);
  }

  Result ApplyLocked(const Route& route, const Json& in_body, const std::string& manager,
                     bool force, bool dry_run) {
    Json body = in_body.is_object() ? in_body : Json::object();
    if (StrAt(body, "/apiVersion").empty() || StrAt(body, "/kind").empty()) {
      return ApiError{400, "BadRequest", "apiVersion and kind must be set in an applied config"};
    }
    if (auto e = CheckTarget(route, body, false)) return *e;
    const std::string key = StoreKey(route);
    const bool status_apply = route.subresource == "status";
    FieldSet applied = Leaves(body, !status_apply && route.res.has_status);
    if (status_apply) {
      std::erase_if(applied, [](const std::string& p) {
        return !(p == "/status" || p.starts_with("/status/"));
      });
    }
    const std::string entry_key = manager + "\nApply" + route.subresource;
    auto it = store_.find(key);
    if (it == store_.end()) {
      if (status_apply) return NotFound(route.res, route.name);
      Json create_body = body;
      if (route.res.has_status) create_body.erase("status");
      Result created = CreateLocked(route, create_body, manager, true);
      if (std::holds_alternative<ApiError>(created)) return created;
      Stored s;
      s.object = std::get<Json>(created);
      s.managers.clear();
      ManagerEntry& entry = s.managers[entry_key];
      entry = {"Apply", StrAt(body, "/apiVersion"), Now(), "", applied};
      RenderManagedFields(s);
      if (dry_run) return s.object;
      if (route.res.plural == "customresourcedefinitions" && options_.establish_crds) {
        EstablishLocked(s.object);
      }
      BumpAndRecord("ADDED", route.res, s);
      Json out = s.object;
      store_[key] = std::move(s);
      return out;
    }
    Stored& live = it->second;
    std::string rv = StrAt(body, "/metadata/resourceVersion");
    if (!rv.empty() && rv != StrAt(live.object, "/metadata/resourceVersion")) {
      return StaleConflict(route.res, route.name);
    }
    // Conflicts: another manager owns a field this apply sets to a different value.
    std::map<std::string, std::vector<std::string>> conflicts;  // manager -> dotted paths
    Json conflict_causes = Json::array();
    std::vector<std::pair<std::string, std::string>> taken;  // (manager key, owned path)
    for (auto& [mkey, m] : live.managers) {
      if (mkey == entry_key) continue;
      for (const std::string& owned : m.fields) {
        for (const std::string& p : applied) {
          if (!Related(owned, p)) continue;
          const Json* want = At(body, p);
          const Json* have = At(live.object, p);
          if (have != nullptr && want != nullptr && *have == *want && owned == p) continue;
          taken.emplace_back(mkey, owned);
          std::string name = mkey.substr(0, mkey.find('\n'));
          conflicts[name].push_back(DottedPath(p));
          conflict_causes.push_back(
              {{"type", "FieldManagerConflict"},
               {"message", "conflict with \"" + name + "\" using " + m.api_version},
               {"field", DottedPath(p)}});
          break;
        }
      }
    }
    if (!conflicts.empty() && !force) {
      size_t total = 0;
      for (auto& [n, paths] : conflicts) total += paths.size();
      std::string message = "Apply failed with " + std::to_string(total) +
                            (total == 1 ? " conflict: " : " conflicts: ");
      bool first = true;
      for (auto& [n, paths] : conflicts) {
        const ManagerEntry* m = nullptr;
        for (auto& [mk, me] : live.managers) {
          if (mk.substr(0, mk.find('\n')) == n) m = &me;
        }
        std::string using_av = m != nullptr ? m->api_version : "";
        if (!first) message += "\n";
        first = false;
        if (paths.size() == 1) {
          message += "conflict with \"" + n + "\" using " + using_av + ": " + paths[0];
        } else {
          message += "conflicts with \"" + n + "\" using " + using_av + ":";
          for (const std::string& p : paths) message += "\n- " + p;
        }
      }
      Json details = Details(route.res, route.name);
      details["causes"] = conflict_causes;
      return ApiError{409, "Conflict", message, details};
    }
    Stored updated = live;
    for (const auto& [mkey, owned] : taken) updated.managers[mkey].fields.erase(owned);
    // Fields this manager applied before and no longer applies, owned by nobody else, go away.
    Json next = live.object;
    if (auto prev = live.managers.find(entry_key); prev != live.managers.end()) {
      for (const std::string& p : prev->second.fields) {
        if (applied.contains(p)) continue;
        bool shared = false;
        for (const auto& [mkey, m] : updated.managers) {
          if (mkey != entry_key && m.fields.contains(p)) shared = true;
        }
        if (!shared) Erase(next, p);
      }
    }
    Json merge = body;
    if (status_apply) {
      merge = Json{{"status", body.value("status", Json::object())}};
    } else if (route.res.has_status) {
      merge.erase("status");
    }
    merge.erase("metadata");
    DeepMerge(next, merge);
    if (!status_apply && body.contains("metadata")) {
      Json meta = body["metadata"];
      for (const char* f : {"resourceVersion", "uid", "creationTimestamp", "generation",
                            "managedFields", "name", "namespace"}) {
        meta.erase(f);
      }
      DeepMerge(next["metadata"], meta);
    }
    ManagerEntry& entry = updated.managers[entry_key];
    if (entry.operation.empty() || entry.fields != applied ||
        entry.api_version != StrAt(body, "/apiVersion")) {
      entry.time = Now();  // unchanged ownership keeps its time, so a no-op apply stays a no-op
    }
    entry.operation = "Apply";
    entry.api_version = StrAt(body, "/apiVersion");
    entry.subresource = route.subresource;
    entry.fields = applied;
    Result result = CommitLocked(route, updated, next, manager, true, false);
    if (std::holds_alternative<ApiError>(result)) return result;
    // CommitLocked ran as a dry run on the copy; persist it unless asked not to.
    Json out = std::get<Json>(result);
    if (dry_run || out == live.object) return out;
    updated.object = out;
    live = std::move(updated);
    if (route.res.plural == "customresourcedefinitions" && options_.establish_crds) {
      EstablishLocked(live.object);
    }
    BumpAndRecord("MODIFIED", route.res, live);
    return live.object;
  }

  Result DeleteLocked(const Route& route, const Json& options, bool dry_run) {
    auto it = store_.find(StoreKey(route));
    if (it == store_.end()) return NotFound(route.res, route.name);
    std::string want_rv = StrAt(options, "/preconditions/resourceVersion");
    std::string have_rv = StrAt(it->second.object, "/metadata/resourceVersion");
    if (!want_rv.empty() && want_rv != have_rv) {
      return ApiError{409, "Conflict",
                      "Operation cannot be fulfilled on " + QualifiedPlural(route.res) + " \"" +
                          route.name + "\": the ResourceVersion in the precondition (" + want_rv +
                          ") does not match the ResourceVersion in record (" + have_rv +
                          "). The object might have been modified",
                      Details(route.res, route.name)};
    }
    Json object = it->second.object;
    if (dry_run) return object;
    std::string policy =
        options.is_object() ? options.value("propagationPolicy", "Background") : "Background";
    RemoveLocked(route.res, it->first, policy);
    return object;
  }

  void RemoveLocked(const FakeResource& res, const std::string& key, const std::string& policy) {
    auto it = store_.find(key);
    if (it == store_.end()) return;
    Stored gone = std::move(it->second);
    store_.erase(it);
    BumpAndRecord("DELETED", res, gone);
    const std::string uid = StrAt(gone.object, "/metadata/uid");
    if (res.plural == "customresourcedefinitions") {
      std::string group = StrAt(gone.object, "/spec/group");
      std::string plural = StrAt(gone.object, "/spec/names/plural");
      std::erase_if(resources_, [&](const FakeResource& r) {
        return r.is_crd && r.group == group && r.plural == plural;
      });
    }
    // Dependents: by ownerReferences, and everything in a deleted namespace.
    std::vector<std::pair<FakeResource, std::string>> dependents;
    for (auto& [k, s] : store_) {
      const FakeResource* r = ResourceOfKey(k);
      if (r == nullptr) continue;
      if (res.plural == "namespaces" && res.group.empty() &&
          StrAt(s.object, "/metadata/namespace") == StrAt(gone.object, "/metadata/name")) {
        dependents.emplace_back(*r, k);
        continue;
      }
      const Json* owners = core::FindPointer(s.object, "/metadata/ownerReferences");
      if (owners == nullptr || !owners->is_array()) continue;
      bool owned = std::any_of(owners->begin(), owners->end(),
                               [&](const Json& o) { return o.value("uid", "") == uid; });
      if (!owned) continue;
      if (policy == "Orphan") {
        Json& refs = s.object["metadata"]["ownerReferences"];
        Json kept = Json::array();
        for (const Json& o : refs) {
          if (o.value("uid", "") != uid) kept.push_back(o);
        }
        if (kept.empty()) {
          s.object["metadata"].erase("ownerReferences");
        } else {
          refs = kept;
        }
        BumpAndRecord("MODIFIED", *r, s);
      } else {
        dependents.emplace_back(*r, k);
      }
    }
    for (auto& [r, k] : dependents) RemoveLocked(r, k, policy == "Orphan" ? "Background" : policy);
  }

  const FakeResource* ResourceOfKey(const std::string& key) const {
    std::string rk = key.substr(0, key.find('|'));
    for (const FakeResource& r : resources_) {
      if (ResourceKey(r) == rk) return &r;
    }
    return nullptr;
  }

  void EstablishLocked(Json& crd) {
    std::string group = StrAt(crd, "/spec/group");
    std::string kind = StrAt(crd, "/spec/names/kind");
    std::string plural = StrAt(crd, "/spec/names/plural");
    std::string singular = StrAt(crd, "/spec/names/singular");
    bool namespaced = StrAt(crd, "/spec/scope") != "Cluster";
    const Json* versions = core::FindPointer(crd, "/spec/versions");
    if (versions == nullptr || !versions->is_array()) return;
    for (const Json& v : *versions) {
      if (!v.value("served", true)) continue;
      FakeResource r;
      r.group = group;
      r.version = v.value("name", "");
      r.kind = kind;
      r.plural = plural;
      r.singular = singular.empty() ? plural : singular;
      r.namespaced = namespaced;
      r.has_status = core::FindPointer(v, "/subresources/status") != nullptr;
      r.is_crd = true;
      AddResourceLocked(r);
    }
    crd["status"] = {
        {"conditions",
         {{{"type", "NamesAccepted"}, {"status", "True"}, {"reason", "NoConflicts"}},
          {{"type", "Established"}, {"status", "True"}, {"reason", "InitialNamesAccepted"}}}},
        {"acceptedNames", {{"kind", kind}, {"plural", plural}}}};
  }

  Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<FakeResource> resources_;
  std::map<std::string, Stored> store_;
  std::deque<Event> history_;
  int64_t rv_ = 0;
  int64_t compacted_rv_ = 0;
  uint64_t close_generation_ = 0;
  bool stopping_ = false;
  std::string required_token_;
  std::vector<Fault> faults_;
  std::atomic<int64_t> latency_ms_{0};
  std::mt19937_64 rng_{std::random_device{}()};

  mutable std::mutex log_mu_;
  std::vector<RecordedRequest> requests_;

  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
};

std::vector<FakeResource> DefaultFakeResources() {
  return {
      {"", "v1", "ConfigMap", "configmaps", "configmap", true, false, {}},
      {"", "v1", "Secret", "secrets", "secret", true, false, {}},
      {"", "v1", "Service", "services", "service", true, true, {"/spec/clusterIP"}},
      {"", "v1", "Namespace", "namespaces", "namespace", false, true, {}},
      {"", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, false, {}},
      {"", "v1", "Event", "events", "event", true, false, {}},
      {"apps", "v1", "Deployment", "deployments", "deployment", true, true, {"/spec/selector"}},
      {"apps",
       "v1",
       "StatefulSet",
       "statefulsets",
       "statefulset",
       true,
       true,
       {"/spec/selector", "/spec/serviceName"}},
      {"apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, true, {"/spec/selector"}},
      {"batch", "v1", "Job", "jobs", "job", true, true, {"/spec/selector", "/spec/template"}},
      {"apiextensions.k8s.io",
       "v1",
       "CustomResourceDefinition",
       "customresourcedefinitions",
       "customresourcedefinition",
       false,
       true,
       {}},
      {"coordination.k8s.io", "v1", "Lease", "leases", "lease", true, false, {}},
      {"admissionregistration.k8s.io",
       "v1",
       "ValidatingWebhookConfiguration",
       "validatingwebhookconfigurations",
       "validatingwebhookconfiguration",
       false,
       false,
       {}},
      {"admissionregistration.k8s.io",
       "v1",
       "MutatingWebhookConfiguration",
       "mutatingwebhookconfigurations",
       "mutatingwebhookconfiguration",
       false,
       false,
       {}},
  };
}

std::vector<Json> FluxCrds() {
  auto crd = [](const std::string& group, const std::string& kind, const std::string& plural,
                const std::string& singular) {
    return Json{
        {"apiVersion", "apiextensions.k8s.io/v1"},
        {"kind", "CustomResourceDefinition"},
        {"metadata", {{"name", plural + "." + group}}},
        {"spec",
         {{"group", group},
          {"names", {{"kind", kind}, {"plural", plural}, {"singular", singular}}},
          {"scope", "Namespaced"},
          {"versions",
           {{{"name", "v1"},
             {"served", true},
             {"storage", true},
             {"subresources", {{"status", Json::object()}}},
             {"schema",
              {{"openAPIV3Schema",
                {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}}}}}}};
  };
  return {crd("kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations", "kustomization"),
          crd("source.toolkit.fluxcd.io", "GitRepository", "gitrepositories", "gitrepository")};
}

FakeApiServer::FakeApiServer() : FakeApiServer(Options()) {}
FakeApiServer::FakeApiServer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
FakeApiServer::~FakeApiServer() = default;

int FakeApiServer::port() const { return impl_->port(); }
std::string FakeApiServer::url() const { return "https://127.0.0.1:" + std::to_string(port()); }
const std::string& FakeApiServer::ca_pem() const { return Certs().ca_pem; }
std::string FakeApiServer::ca_file() const { return Certs().File("ca.crt"); }
const std::string& FakeApiServer::client_cert_pem() const { return Certs().client_cert_pem; }
const std::string& FakeApiServer::client_key_pem() const { return Certs().client_key_pem; }
std::string FakeApiServer::client_cert_file() const { return Certs().File("client.crt"); }
std::string FakeApiServer::client_key_file() const { return Certs().File("client.key"); }
const std::string& FakeApiServer::other_ca_pem() const { return Certs().other_ca_pem; }

core::KubeConfig FakeApiServer::Config() const {
  core::KubeConfig config;
  config.server = url();
  config.certificate_authority_pem = ca_pem();
  config.source = "fake-apiserver";
  config.retry_backoff = std::chrono::milliseconds(10);
  config.max_retry_wait = std::chrono::milliseconds(2000);
  config.connect_timeout = std::chrono::milliseconds(2000);
  config.request_timeout = std::chrono::milliseconds(10000);
  config.discovery_min_refresh_interval = std::chrono::milliseconds(0);
  return config;
}

Json FakeApiServer::Put(const Json& object) { return impl_->Put(object); }
Json FakeApiServer::PutStatus(const Json& object) { return impl_->PutStatus(object); }
std::optional<Json> FakeApiServer::Object(const std::string& api_version, const std::string& kind,
                                          const std::string& ns, const std::string& name) const {
  return impl_->Object(api_version, kind, ns, name);
}
int64_t FakeApiServer::resource_version() const { return impl_->resource_version(); }
void FakeApiServer::CompactHistory() { impl_->CompactHistory(); }
void FakeApiServer::EstablishCrd(const std::string& name) { impl_->EstablishCrd(name); }
void FakeApiServer::SetRequiredToken(const std::string& token) { impl_->SetRequiredToken(token); }
void FakeApiServer::FailNext(int count, int http_code, FaultMatch match,
                             std::optional<int> retry_after_seconds) {
  impl_->FailNext(count, http_code, std::move(match), retry_after_seconds);
}
void FakeApiServer::SetLatency(std::chrono::milliseconds latency) { impl_->SetLatency(latency); }
void FakeApiServer::Down() { impl_->Down(); }
void FakeApiServer::Up() { impl_->Up(); }
void FakeApiServer::CloseWatches() { impl_->CloseWatches(); }
std::vector<RecordedRequest> FakeApiServer::Requests() const { return impl_->Requests(); }
void FakeApiServer::ClearRequests() { impl_->ClearRequests(); }

}  // namespace driftguard::testing
