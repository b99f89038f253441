// HttpKubeClient against the FakeApiServer test double, over real TLS on 127.0.0.1.
#include "core/kube_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/kube_config.h"
#include "tests/support/fake_apiserver.h"
#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

using ::driftguard::testing::FakeApiServer;
using ::driftguard::testing::FaultMatch;
using ::driftguard::testing::RecordedRequest;
using ::driftguard::testing::TempDir;
using ::driftguard::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const GroupVersionKind kConfigMap{"", "v1", "ConfigMap"};
const GroupVersionKind kDeployment{"apps", "v1", "Deployment"};
const GroupVersionKind kNamespace{"", "v1", "Namespace"};

std::string Base64(const std::string& in) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kChars[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += "=";
  }
  return out;
}

Json ConfigMap(const std::string& name, Json data, Json labels = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
          {"data", data}};
}

std::unique_ptr<HttpKubeClient> MustClient(const KubeConfig& config) {
  auto client = HttpKubeClient::Create(config);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(client).value() : nullptr;
}

std::vector<RecordedRequest> RequestsTo(const FakeApiServer& api, const std::string& method,
                                        const std::string& path) {
  std::vector<RecordedRequest> out;
  for (const RecordedRequest& r : api.Requests()) {
    if (r.method == method && r.path == path) out.push_back(r);
  }
  return out;
}

// Collects watch events; waits (bounded) for conditions on them.
class EventSink {
 public:
  WatchCallbacks Callbacks() {
    return {[this](const WatchEvent& e) {
              std::lock_guard<std::mutex> lock(mu_);
              events_.push_back(e);
              cv_.notify_all();
              return true;
            },
            [this](const Status& s) {
              std::lock_guard<std::mutex> lock(mu_);
              closed_ = s;
              cv_.notify_all();
            }};
  }
  bool WaitFor(const std::function<bool(const std::vector<WatchEvent>&)>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(15), [&] { return pred(events_); });
  }
  std::optional<Status> WaitClosed() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(15), [&] { return closed_.has_value(); });
    return closed_;
  }
  std::optional<Status> Closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  // "ADDED c1" lines for non-bookmark events.
  std::vector<std::string> Summary() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const WatchEvent& e : events_) {
      if (e.type == WatchEvent::Type::kBookmark) continue;
      out.push_back(std::string(WatchEventTypeName(e.type)) + " " +
                    e.object["metadata"].value("name", ""));
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
  std::optional<Status> closed_;
};

bool HasNamed(const std::vector<WatchEvent>& events, WatchEvent::Type type,
              const std::string& name) {
  for (const WatchEvent& e : events) {
    if (e.type == type && e.object["metadata"].value("name", "") == name) return true;
  }
  return false;
}

// ---------------------------------------------------------------- kubeconfig

TEST(KubeConfigTest, ParsesCurrentContextWithTokenAndCaData) {
  std::string text = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: )" +
                     Base64("-----BEGIN CERTIFICATE-----\nbad") + R"(
- name: fake
  cluster:
    server: https://127.0.0.1:6443/prefix
    certificate-authority-data: )" +
                     Base64(FakeApiServer().ca_pem()) + R"(
contexts:
- name: dev
  context: {cluster: fake, user: alice, namespace: team-a}
users:
- name: alice
  user: {token: s3cr3t}
)";
  auto config = ParseKubeConfig(text, "test.yaml", "/tmp");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443/prefix");
  EXPECT_EQ(config->token, "s3cr3t");
  EXPECT_EQ(config->namespace_, "team-a");
  EXPECT_THAT(config->certificate_authority_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_EQ(config->source, "kubeconfig test.yaml (context dev)");
  EXPECT_TRUE(config->Validate().ok());
}

const char* kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
- name: badca
  cluster: {server: "https://127.0.0.1:1", certificate-authority-data: bm90IGEgY2VydA==}
contexts:
- name: a
  context: {cluster: c, user: tok}
- name: plugin
  context: {cluster: c, user: eks}
- name: provider
  context: {cluster: c, user: gcp}
- name: broken-ca
  context: {cluster: badca, user: tok}
- name: dangling
  context: {cluster: nowhere, user: tok}
users:
- name: tok
  user: {tokenFile: token.txt}
- name: eks
  user:
    exec: {command: aws, args: [eks, get-token]}
- name: gcp
  user:
    auth-provider: {name: gcp}
)";

TEST(KubeConfigTest, NamedContextAndRelativeTokenFile) {
  auto config = ParseKubeConfig(kTwoContexts, "k.yaml", "/etc/kube", "a");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->token_file, "/etc/kube/token.txt");
  EXPECT_EQ(config->namespace_, "default");
}

TEST(KubeConfigTest, ExactErrors) {
  EXPECT_EQ(ParseKubeConfig(kTwoContexts, "k.yaml", "", "missing").status(),
            NotFoundError("kubeconfig k.yaml: context \"missing\" not found"));
  EXPECT_EQ(ParseKubeConfig(kTwoContexts, "k.yaml", "", "plugin").status(),
            UnimplementedError("kubeconfig user \"eks\": exec credential plugins are not "
                               "supported; use a token or client certificate"));
  EXPECT_EQ(ParseKubeConfig(kTwoContexts, "k.yaml", "", "provider").status(),
            UnimplementedError("kubeconfig user \"gcp\": auth-provider plugins are not "
                               "supported; use a token or client certificate"));
  EXPECT_EQ(ParseKubeConfig(kTwoContexts, "k.yaml", "", "broken-ca").status(),
            InvalidArgumentError("kubeconfig cluster \"badca\": certificate authority: no PEM "
                                 "certificate found"));
  EXPECT_EQ(ParseKubeConfig(kTwoContexts, "k.yaml", "", "dangling").status(),
            NotFoundError("kubeconfig k.yaml: context \"dangling\" refers to cluster "
                          "\"nowhere\", which is not defined"));
  EXPECT_EQ(ParseKubeConfig("kind: Config\n", "k.yaml", "").status(),
            InvalidArgumentError("kubeconfig k.yaml: current-context is not set; name a context"));
}

TEST(KubeConfigTest, ValidateNamesTheField) {
  KubeConfig config;
  config.server = "ftp://x";
  EXPECT_EQ(config.Validate(),
            InvalidArgumentError("server URL \"ftp://x\": must start with https:// or http://"));
  config.server = "https://127.0.0.1:99999";
  EXPECT_EQ(config.Validate(),
            InvalidArgumentError("server URL \"https://127.0.0.1:99999\": bad port \"99999\""));
  config.server = "https://127.0.0.1:6443";
  config.client_certificate_pem = FakeApiServer().client_cert_pem();
  EXPECT_EQ(config.Validate(),
            InvalidArgumentError(
                "client certificate and client key must be given together (one is missing)"));
  config.client_key_pem = FakeApiServer().client_key_pem();
  EXPECT_TRUE(config.Validate().ok());
}

TEST(KubeConfigTest, ClientCertificateFilesAuthenticateOverMutualTls) {
  FakeApiServer::Options options;
  options.require_client_certificate = true;
  FakeApiServer api(options);
  TempDir dir;
  std::filesystem::copy_file(api.client_cert_file(), dir.path() / "client.crt");
  std::filesystem::copy_file(api.client_key_file(), dir.path() / "client.key");
  std::filesystem::copy_file(api.ca_file(), dir.path() / "ca.crt");
  WriteFile(dir.path() / "config",
            "apiVersion: v1\nkind: Config\ncurrent-context: m\n"
            "clusters:\n- name: m\n  cluster:\n    server: " +
                api.url() +
                "\n    certificate-authority: ca.crt\n"
                "contexts:\n- name: m\n  context: {cluster: m, user: u}\n"
                "users:\n- name: u\n  user:\n"
                "    client-certificate: client.crt\n"
                "    client-key: client.key\n");
  auto config = LoadKubeConfigFile((dir.path() / "config").string());
  ASSERT_TRUE(config.ok()) << config.status();
  auto client = MustClient(*config);
  auto ns = client->Get(kNamespace, "", "default");
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ((*ns)["metadata"]["name"], "default");

  // Without the client certificate the handshake is refused.
  KubeConfig anonymous = *config;
  anonymous.client_certificate_pem.clear();
  anonymous.client_key_pem.clear();
  anonymous.max_retries = 0;
  auto denied = MustClient(anonymous)->GetPath("/version");
  EXPECT_EQ(denied.status().code(), StatusCode::kUnavailable);
}

TEST(KubeConfigTest, WrongCaFailsVerification) {
  FakeApiServer api;
  KubeConfig config = api.Config();
  config.certificate_authority_pem = api.other_ca_pem();
  config.max_retries = 0;
  auto result = MustClient(config)->GetPath("/version");
  EXPECT_EQ(result.status(), UnavailableError("GET 127.0.0.1/version: TLS server certificate "
                                              "verification failed"));
  config.insecure_skip_tls_verify = true;
  auto insecure = MustClient(config)->GetPath("/version");
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_EQ((*insecure)["gitVersion"], "v1.29.0-fake");
}

TEST(InClusterConfigTest, InjectedPathsAndTokenRotation) {
  FakeApiServer::Options options;
  options.required_token = "token-one";
  FakeApiServer api(options);
  TempDir dir;
  WriteFile(dir.path() / "token", "token-one\n");
  WriteFile(dir.path() / "ca.crt", api.ca_pem());
  WriteFile(dir.path() / "namespace", "driftguard-system");
  InClusterEnvironment env;
  env.service_host = "127.0.0.1";
  env.service_port = std::to_string(api.port());
  env.token_path = (dir.path() / "token").string();
  env.ca_path = (dir.path() / "ca.crt").string();
  env.namespace_path = (dir.path() / "namespace").string();
  auto config = LoadInClusterConfig(env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, api.url());
  EXPECT_EQ(config->namespace_, "driftguard-system");
  EXPECT_EQ(config->source, "in-cluster");
  config->max_retries = 0;
  auto client = MustClient(*config);
  ASSERT_TRUE(client->Get(kNamespace, "", "default").ok());

  api.SetRequiredToken("rotated-token-two");
  EXPECT_EQ(client->Get(kNamespace, "", "default").status(),
            UnauthenticatedError("Unauthorized (HTTP 401 Unauthorized)"));
  WriteFile(dir.path() / "token", "rotated-token-two\n");
  auto after = client->Get(kNamespace, "", "default");
  EXPECT_TRUE(after.ok()) << after.status();
}

TEST(InClusterConfigTest, OutsideAPodIsAClearError) {
  EXPECT_EQ(LoadInClusterConfig(InClusterEnvironment{}).status(),
            FailedPreconditionError("in-cluster configuration: KUBERNETES_SERVICE_HOST and "
                                    "KUBERNETES_SERVICE_PORT must be set (not running in a pod?)"));
  InClusterEnvironment env;
  env.service_host = "fd00::1";
  env.service_port = "443";
  env.ca_path = "/nonexistent/ca.crt";
  EXPECT_EQ(LoadInClusterConfig(env).status(),
            FailedPreconditionError("in-cluster configuration: cannot read /nonexistent/ca.crt"));
}

// ---------------------------------------------------------------- shared server

class KubeClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { api_ = new FakeApiServer(); }
  static void TearDownTestSuite() {
    delete api_;
    api_ = nullptr;
  }
  void SetUp() override {
    client_ = MustClient(api_->Config());
    ASSERT_NE(client_, nullptr);
  }
  static FakeApiServer* api_;
  std::unique_ptr<HttpKubeClient> client_;
};
FakeApiServer* KubeClientTest::api_ = nullptr;

TEST_F(KubeClientTest, DiscoveryMapsKindsToResources) {
  auto cm = client_->Mapping(kConfigMap);
  ASSERT_TRUE(cm.ok()) << cm.status();
  EXPECT_EQ(cm->resource, "configmaps");
  EXPECT_TRUE(cm->namespaced);
  EXPECT_EQ(cm->Path("default", "x"), "/api/v1/namespaces/default/configmaps/x");
  auto deploy = client_->Mapping(kDeployment);
  ASSERT_TRUE(deploy.ok());
  EXPECT_THAT(deploy->subresources, ElementsAre("status"));
  EXPECT_EQ(deploy->Path("prod", "web", "status"),
            "/apis/apps/v1/namespaces/prod/deployments/web/status");
  auto ns = client_->Mapping(kNamespace);
  ASSERT_TRUE(ns.ok());
  EXPECT_FALSE(ns->namespaced);
  EXPECT_EQ(ns->Path("ignored", "prod"), "/api/v1/namespaces/prod");
  auto ks = client_->Mapping({"kustomize.toolkit.fluxcd.io", "v1", "Kustomization"});
  ASSERT_TRUE(ks.ok()) << ks.status();
  EXPECT_EQ(ks->resource, "kustomizations");
  EXPECT_EQ(client_->Mapping({"example.com", "v1", "Widget"}).status(),
            NotFoundError("no resource for kind Widget.v1.example.com in discovery"));
}

Json WidgetCrd(const std::string& group) {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "widgets." + group}}},
          {"spec",
           {{"group", group},
            {"names", {{"kind", "Widget"}, {"plural", "widgets"}, {"singular", "widget"}}},
            {"scope", "Namespaced"},
            {"versions", {{{"name", "v1"}, {"served", true}, {"storage", true}}}}}}};
}

TEST_F(KubeClientTest, CrdAppearingIsDiscoveredOnDemand) {
  const GroupVersionKind widget{"crd-appears.example.com", "v1", "Widget"};
  ASSERT_FALSE(client_->Mapping(widget).ok());
  auto crd = client_->Create(WidgetCrd(widget.group));
  ASSERT_TRUE(crd.ok()) << crd.status();
  auto created = client_->Create({{"apiVersion", widget.ApiVersion()},
                                  {"kind", "Widget"},
                                  {"metadata", {{"name", "w1"}}},
                                  {"spec", {{"size", 3}}}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["namespace"], "default");
  auto list = client_->List(widget, "default");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0]["spec"]["size"], 3);
}

TEST_F(KubeClientTest, DiscoveryRefreshIsRateLimited) {
  KubeConfig config = api_->Config();
  config.discovery_min_refresh_interval = std::chrono::hours(1);
  auto client = MustClient(config);
  ASSERT_TRUE(client->Mapping(kConfigMap).ok());  // first discovery
  api_->ClearRequests();
  const GroupVersionKind widget{"rate-limited.example.com", "v1", "Widget"};
  EXPECT_EQ(client->Mapping(widget).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(client->Create(WidgetCrd(widget.group)).ok());
  // Within the interval the unknown kind stays unknown and discovery is not re-read.
  EXPECT_FALSE(client->Mapping(widget).ok());
  EXPECT_TRUE(RequestsTo(*api_, "GET", "/api").empty());
  ASSERT_TRUE(client->RefreshDiscovery().ok());
  EXPECT_TRUE(client->Mapping(widget).ok());
}

TEST_F(KubeClientTest, CreateGetUpdateAndErrors) {
  auto created = client_->Create(ConfigMap("crud", {{"k", "v1"}}));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ((*created)["metadata"]["generation"], 1);
  std::string rv1 = (*created)["metadata"]["resourceVersion"];

  Status exists = client_->Create(ConfigMap("crud", {{"k", "v1"}})).status();
  EXPECT_EQ(exists, AlreadyExistsError("configmaps \"crud\" already exists (HTTP 409 "
                                       "AlreadyExists)"));
  EXPECT_TRUE(IsAlreadyExists(exists));
  EXPECT_FALSE(IsConflict(exists));

  Json update = *created;
  update["data"]["k"] = "v2";
  auto updated = client_->Update(update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], rv1);
  EXPECT_EQ((*updated)["metadata"]["generation"], 2);

  Status stale = client_->Update(update).status();  // still carries rv1
  EXPECT_EQ(stale, AbortedError("Operation cannot be fulfilled on configmaps \"crud\": the object "
                                "has been modified; please apply your changes to the latest "
                                "version and try again (HTTP 409 Conflict)"));
  EXPECT_TRUE(IsConflict(stale));

  auto got = client_->Get(kConfigMap, "default", "crud");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["k"], "v2");

  Status missing = client_->Get(kConfigMap, "default", "nope").status();
  EXPECT_EQ(missing, NotFoundError("configmaps \"nope\" not found (HTTP 404 NotFound)"));
  EXPECT_TRUE(IsNotFound(missing));
  EXPECT_TRUE(IsNotFound(missing.WithPrefix("reading config")));
  auto info = KubeErrorOf(missing.WithPrefix("reading config"));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->http_code, 404);
  EXPECT_EQ(info->reason, "NotFound");

  Json elsewhere = ConfigMap("x", {});
  elsewhere["metadata"]["namespace"] = "absent";
  Status no_ns = client_->Create(elsewhere).status();
  EXPECT_EQ(no_ns, NotFoundError("namespaces \"absent\" not found (HTTP 404 NotFound)"));
}

TEST_F(KubeClientTest, InvalidObjectsAre422WithTheFieldNamed) {
  Status bad_name = client_->Create(ConfigMap("Bad_Name", {})).status();
  EXPECT_TRUE(IsInvalid(bad_name));
  EXPECT_EQ(bad_name.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_name.message(),
              ::testing::StartsWith("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid "
                                    "value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
  EXPECT_THAT(bad_name.message(), ::testing::EndsWith(" (HTTP 422 Invalid)"));

  Json deploy = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", {{"name", "immutable"}, {"namespace", "default"}}},
                 {"spec", {{"selector", {{"matchLabels", {{"app", "a"}}}}}, {"replicas", 1}}}};
  ASSERT_TRUE(client_->Apply(deploy).ok());
  deploy["spec"]["selector"]["matchLabels"]["app"] = "b";
  EXPECT_EQ(client_->Apply(deploy).status(),
            InvalidArgumentError("Deployment.apps \"immutable\" is invalid: spec.selector: "
                                 "Invalid value: {\"matchLabels\":{\"app\":\"b\"}}: field is "
                                 "immutable (HTTP 422 Invalid)"));
}

TEST_F(KubeClientTest, ListPaginatesAndSelectsByLabel) {
  ASSERT_TRUE(
      client_
          ->Create(
              {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "paging"}}}})
          .ok());
  for (int i = 0; i < 7; ++i) {
    Json cm = ConfigMap("page-" + std::to_string(i), {{"i", std::to_string(i)}},
                        {{"tier", i % 2 == 0 ? "even" : "odd"}});
    cm["metadata"]["namespace"] = "paging";
    ASSERT_TRUE(client_->Create(cm).ok());
  }
  api_->ClearRequests();
  auto all = client_->List(kConfigMap, "paging", {.limit = 3});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->items.size(), 7u);
  EXPECT_EQ(all->items[0]["kind"], "ConfigMap");  // filled in by the client
  EXPECT_EQ(all->items[0]["apiVersion"], "v1");
  EXPECT_EQ(all->items[6]["metadata"]["name"], "page-6");
  auto pages = RequestsTo(*api_, "GET", "/api/v1/namespaces/paging/configmaps");
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].query, "limit=3");
  EXPECT_THAT(pages[1].query, HasSubstr("continue="));
  EXPECT_FALSE(all->resource_version.empty());

  auto even = client_->List(kConfigMap, "paging", {.label_selector = "tier=even"});
  ASSERT_TRUE(even.ok());
  EXPECT_EQ(even->items.size(), 4u);
  auto set_based = client_->List(kConfigMap, "paging", {.label_selector = "tier in (odd),!nope"});
  ASSERT_TRUE(set_based.ok());
  EXPECT_EQ(set_based->items.size(), 3u);
  auto by_name = client_->List(kConfigMap, "paging", {.field_selector = "metadata.name=page-3"});
  ASSERT_TRUE(by_name.ok());
  ASSERT_EQ(by_name->items.size(), 1u);
}

TEST_F(KubeClientTest, ServerSideApplyConflictsForceAndRemoval) {
  Json desired = ConfigMap("ssa", {{"owned", "a"}, {"extra", "x"}});
  auto first = client_->Apply(desired);
  ASSERT_TRUE(first.ok()) << first.status();
  auto requests = RequestsTo(*api_, "PATCH", "/api/v1/namespaces/default/configmaps/ssa");
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back().content_type, "application/apply-patch+yaml");
  EXPECT_EQ(requests.back().query, "fieldManager=driftguard");
  EXPECT_EQ((*first)["metadata"]["managedFields"][0]["manager"], "driftguard");
  EXPECT_EQ((*first)["metadata"]["managedFields"][0]["operation"], "Apply");

  // Re-applying the same config changes nothing.
  auto again = client_->Apply(desired);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)["metadata"]["resourceVersion"], (*first)["metadata"]["resourceVersion"]);

  // Another manager setting our field to another value conflicts...
  Json theirs = ConfigMap("ssa", {{"owned", "b"}});
  Status conflict = client_->Apply(theirs, {.field_manager = "kubectl"}).status();
  EXPECT_EQ(conflict, AbortedError("Apply failed with 1 conflict: conflict with \"driftguard\" "
                                   "using v1: .data.owned (HTTP 409 Conflict)"));
  EXPECT_TRUE(IsConflict(conflict));
  // ...unless forced, which takes the field over.
  auto forced = client_->Apply(theirs, {.force = true, .field_manager = "kubectl"});
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ((*forced)["data"]["owned"], "b");
  // Our next apply now conflicts with kubectl; driftguard forces it back (drift repair).
  EXPECT_TRUE(IsConflict(client_->Apply(desired).status()));
  auto repaired = client_->Apply(desired, {.force = true});
  ASSERT_TRUE(repaired.ok());
  EXPECT_EQ((*repaired)["data"]["owned"], "a");

  // A field dropped from our applied config is removed (we own it alone).
  auto dropped = client_->Apply(ConfigMap("ssa", {{"owned", "a"}}));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_FALSE((*dropped)["data"].contains("extra"));
  EXPECT_EQ((*dropped)["data"]["owned"], "a");
}

TEST_F(KubeClientTest, DryRunPersistsNothing) {
  int64_t before = api_->resource_version();
  auto created = client_->Create(ConfigMap("dry", {{"a", "1"}}), {.dry_run = true});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["data"]["a"], "1");
  EXPECT_FALSE(api_->Object("v1", "ConfigMap", "default", "dry").has_value());
  auto applied = client_->Apply(ConfigMap("dry", {{"a", "1"}}), {.dry_run = true});
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(api_->Object("v1", "ConfigMap", "default", "dry").has_value());
  EXPECT_EQ(api_->resource_version(), before);

  ASSERT_TRUE(client_->Create(ConfigMap("dry", {{"a", "1"}})).ok());
  auto patched = client_->MergePatch(kConfigMap, "default", "dry", {{"data", {{"a", "2"}}}},
                                     {.dry_run = true});
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ((*patched)["data"]["a"], "2");
  EXPECT_EQ((*api_->Object("v1", "ConfigMap", "default", "dry"))["data"]["a"], "1");
  auto deleted = client_->Delete(kConfigMap, "default", "dry", {.dry_run = true});
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "default", "dry").has_value());
  auto dry_patches = RequestsTo(*api_, "PATCH", "/api/v1/namespaces/default/configmaps/dry");
  ASSERT_FALSE(dry_patches.empty());
  EXPECT_THAT(dry_patches.back().query, HasSubstr("dryRun=All"));
  EXPECT_EQ(dry_patches.back().content_type, "application/merge-patch+json");
}

TEST_F(KubeClientTest, MergePatchStatusAndDeletePropagation) {
  Json deploy = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", {{"name", "owner"}, {"namespace", "default"}}},
                 {"spec", {{"selector", {{"matchLabels", {{"app", "o"}}}}}, {"replicas", 1}}},
                 {"status", {{"readyReplicas", 9}}}};
  auto created = client_->Create(deploy);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->contains("status"));  // status is not writable through the main resource

  Json status_update = *created;
  status_update["status"] = {{"readyReplicas", 1}, {"observedGeneration", 1}};
  status_update["spec"]["replicas"] = 5;  // ignored by the status subresource
  auto with_status = client_->Update(status_update, {.subresource = "status"});
  ASSERT_TRUE(with_status.ok()) << with_status.status();
  EXPECT_EQ((*with_status)["status"]["readyReplicas"], 1);
  EXPECT_EQ((*with_status)["spec"]["replicas"], 1);

  auto patched =
      client_->MergePatch(kDeployment, "default", "owner", {{"spec", {{"replicas", 3}}}});
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ((*patched)["spec"]["replicas"], 3);
  EXPECT_EQ((*patched)["metadata"]["generation"], 2);
  EXPECT_EQ((*patched)["status"]["readyReplicas"], 1);

  std::string uid = (*created)["metadata"]["uid"];
  auto dependent = [&](const std::string& name) {
    Json cm = ConfigMap(name, {});
    cm["metadata"]["ownerReferences"] = {
        {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "owner"}, {"uid", uid}}};
    return cm;
  };
  ASSERT_TRUE(client_->Create(dependent("dep-a")).ok());
  auto stale =
      client_->Delete(kDeployment, "default", "owner", {.precondition_resource_version = "1"});
  EXPECT_TRUE(IsConflict(stale.status())) << stale.status();
  ASSERT_TRUE(
      client_->Delete(kDeployment, "default", "owner", {.propagation = PropagationPolicy::kOrphan})
          .ok());
  auto orphan = client_->Get(kConfigMap, "default", "dep-a");
  ASSERT_TRUE(orphan.ok());
  EXPECT_FALSE((*orphan)["metadata"].contains("ownerReferences"));
  auto delete_requests =
      RequestsTo(*api_, "DELETE", "/apis/apps/v1/namespaces/default/deployments/owner");
  ASSERT_FALSE(delete_requests.empty());

  auto again = client_->Create(deploy);
  ASSERT_TRUE(again.ok());
  uid = (*again)["metadata"]["uid"];
  ASSERT_TRUE(client_->Create(dependent("dep-b")).ok());
  ASSERT_TRUE(client_->Delete(kDeployment, "default", "owner").ok());
  EXPECT_TRUE(IsNotFound(client_->Get(kConfigMap, "default", "dep-b").status()));
  EXPECT_TRUE(IsNotFound(client_->Get(kDeployment, "default", "owner").status()));
  EXPECT_TRUE(IsNotFound(client_->Delete(kDeployment, "default", "owner").status()));
}

TEST_F(KubeClientTest, WatchDeliversEventsBookmarksAndResumes) {
  ASSERT_TRUE(
      client_
          ->Create(
              {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "watched"}}}})
          .ok());
  auto in_ns = [](Json cm) {
    cm["metadata"]["namespace"] = "watched";
    return cm;
  };
  ASSERT_TRUE(client_->Create(in_ns(ConfigMap("before", {}))).ok());
  auto list = client_->List(kConfigMap, "watched");
  ASSERT_TRUE(list.ok());
  EventSink sink;
  auto watch = client_->Watch(kConfigMap, "watched", {.resource_version = list->resource_version},
                              sink.Callbacks());
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(client_->Create(in_ns(ConfigMap("w1", {{"a", "1"}}))).ok());
  ASSERT_TRUE(client_->MergePatch(kConfigMap, "watched", "w1", {{"data", {{"a", "2"}}}}).ok());
  ASSERT_TRUE(client_->Delete(kConfigMap, "watched", "w1").ok());
  ASSERT_TRUE(sink.WaitFor(
      [](const auto& events) { return HasNamed(events, WatchEvent::Type::kDeleted, "w1"); }));
  ASSERT_TRUE(sink.WaitFor([](const auto& events) {
    return std::any_of(events.begin(), events.end(),
                       [](const WatchEvent& e) { return e.type == WatchEvent::Type::kBookmark; });
  }));
  // The stream ends (server-side timeout); the client resumes from the last version it saw.
  api_->CloseWatches();
  ASSERT_TRUE(client_->Create(in_ns(ConfigMap("w2", {}))).ok());
  ASSERT_TRUE(sink.WaitFor(
      [](const auto& events) { return HasNamed(events, WatchEvent::Type::kAdded, "w2"); }));
  (*watch)->Stop();
  EXPECT_THAT(sink.Summary(), ElementsAre("ADDED w1", "MODIFIED w1", "DELETED w1", "ADDED w2"));
  auto watches = RequestsTo(*api_, "GET", "/api/v1/namespaces/watched/configmaps");
  int with_watch = 0;
  for (const auto& r : watches) {
    if (r.query.find("watch=true") != std::string::npos) {
      ++with_watch;
      EXPECT_THAT(r.query, HasSubstr("allowWatchBookmarks=true"));
      EXPECT_THAT(r.query, HasSubstr("resourceVersion="));
    }
  }
  EXPECT_GE(with_watch, 2);
  EXPECT_TRUE((*watch)->Done());
}

TEST_F(KubeClientTest, WatchFromACompactedVersionSignalsRelist) {
  auto list = client_->List(kConfigMap, "default");
  ASSERT_TRUE(list.ok());
  ASSERT_TRUE(client_->Create(ConfigMap("compacted", {})).ok());
  api_->CompactHistory();
  EventSink sink;
  auto watch = client_->Watch(kConfigMap, "default", {.resource_version = list->resource_version},
                              sink.Callbacks());
  ASSERT_TRUE(watch.ok());
  auto closed = sink.WaitClosed();
  ASSERT_TRUE(closed.has_value());
  EXPECT_TRUE(IsGone(*closed)) << *closed;
  EXPECT_EQ(*closed,
            OutOfRangeError("too old resource version: " + list->resource_version + " (" +
                            std::to_string(api_->resource_version()) + ") (HTTP 410 Expired)"));
  (*watch)->Stop();
  // Re-list, then watch from the new version.
  auto relist = client_->List(kConfigMap, "default");
  ASSERT_TRUE(relist.ok());
  EventSink sink2;
  auto watch2 = client_->Watch(kConfigMap, "default",
                               {.resource_version = relist->resource_version}, sink2.Callbacks());
  ASSERT_TRUE(watch2.ok());
  ASSERT_TRUE(client_->Create(ConfigMap("after-relist", {})).ok());
  EXPECT_TRUE(sink2.WaitFor([](const auto& events) {
    return HasNamed(events, WatchEvent::Type::kAdded, "after-relist");
  }));
}

TEST_F(KubeClientTest, ConcurrentRequestsAreBounded) {
  KubeConfig config = api_->Config();
  config.max_concurrent_requests = 2;
  config.max_idle_connections = 1;
  auto client = MustClient(config);
  ASSERT_TRUE(client->Create(ConfigMap("shared", {{"x", "1"}})).ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (client->Get(kConfigMap, "default", "shared").ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 30);
}

// ---------------------------------------------------------------- faults (own servers)

TEST(KubeClientFaultTest, RetriesTooManyRequestsHonouringRetryAfter) {
  FakeApiServer api;
  auto client = MustClient(api.Config());
  ASSERT_TRUE(client->Mapping(kConfigMap).ok());
  api.ClearRequests();
  api.FailNext(1, 429, {.method = "GET", .path_substring = "/namespaces/default"}, 1);
  auto start = std::chrono::steady_clock::now();
  auto got = client->Get(kNamespace, "", "default");
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(RequestsTo(api, "GET", "/api/v1/namespaces/default").size(), 2u);
  EXPECT_GE(waited, std::chrono::milliseconds(1000));  // Retry-After: 1 was waited for

  // Retries are bounded: max_retries = 3 means four attempts, then the decoded error.
  api.ClearRequests();
  api.FailNext(10, 429, {.method = "GET"});
  EXPECT_EQ(client->Get(kNamespace, "", "default").status(),
            ResourceExhaustedError(
                "Too many requests, please try again later. (HTTP 429 TooManyRequests)"));
  EXPECT_EQ(RequestsTo(api, "GET", "/api/v1/namespaces/default").size(), 4u);
}

TEST(KubeClientFaultTest, ServerErrorsRetryReadsButNotBlindWrites) {
  FakeApiServer api;
  auto client = MustClient(api.Config());
  ASSERT_TRUE(client->Mapping(kConfigMap).ok());
  api.FailNext(2, 503, {.method = "GET"});
  EXPECT_TRUE(client->Get(kNamespace, "", "default").ok());

  api.ClearRequests();
  api.FailNext(1, 500, {.method = "POST"});
  Status failed = client->Create(ConfigMap("once", {})).status();
  EXPECT_EQ(failed, UnavailableError("injected fault (HTTP 500) (HTTP 500 InternalError)"));
  EXPECT_TRUE(IsTransient(failed));
  EXPECT_EQ(RequestsTo(api, "POST", "/api/v1/namespaces/default/configmaps").size(), 1u);

  api.FailNext(1, 503, {.method = "POST"}, 0);  // with Retry-After the write is retried
  EXPECT_TRUE(client->Create(ConfigMap("once", {})).ok());
}

TEST(KubeClientFaultTest, OutageMidRunThenRecovery) {
  FakeApiServer api;
  KubeConfig config = api.Config();
  config.max_retries = 1;
  auto client = MustClient(config);
  ASSERT_TRUE(client->Create(ConfigMap("pre-outage", {})).ok());
  auto list = client->List(kConfigMap, "default");
  ASSERT_TRUE(list.ok());
  EventSink sink;
  auto watch = client->Watch(kConfigMap, "default", {.resource_version = list->resource_version},
                             sink.Callbacks());
  ASSERT_TRUE(watch.ok());

  api.Down();
  Status down = client->Get(kConfigMap, "default", "pre-outage").status();
  EXPECT_EQ(down.code(), StatusCode::kUnavailable) << down;
  EXPECT_TRUE(IsTransient(down));
  EXPECT_FALSE(KubeErrorOf(down).has_value());
  // A change made while the client cannot see the server.
  api.Put(ConfigMap("during-outage", {}));
  api.Up();

  auto after = client->Get(kConfigMap, "default", "pre-outage");
  EXPECT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(sink.WaitFor([](const auto& events) {
    return HasNamed(events, WatchEvent::Type::kAdded, "during-outage");
  }));
  (*watch)->Stop();
  EXPECT_THAT(sink.Summary(), ElementsAre("ADDED during-outage"));
}

TEST(KubeClientFaultTest, StopEndsAnIdleWatchPromptly) {
  FakeApiServer::Options options;
  options.bookmark_interval = std::chrono::hours(1);
  FakeApiServer api(options);
  auto client = MustClient(api.Config());
  EventSink sink;
  auto watch = client->Watch(kConfigMap, "default", {}, sink.Callbacks());
  ASSERT_TRUE(watch.ok());
  (*watch)->Stop();
  EXPECT_TRUE((*watch)->Done());
  EXPECT_FALSE(sink.Closed().has_value());  // Stop() never reports through on_close
}

}  // namespace
}  // namespace driftguard::core
