// CertificateManager against FakeApiServer (real HTTPS, real API conventions): Secret creation,
// caBundle injection order, idempotence, racing replicas, renewal, CA rotation, repair of reset
// bundles, API errors, the watch-driven loop, and the real webhook server serving the manager's
// files through rotations with zero failed requests.
#include "certs/manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "certs/ca_bundle.h"
#include "certs/pem.h"
#include "core/kube_client.h"
#include "tests/support/fake_apiserver.h"
#include "tests/support/test_util.h"
#include "webhook/server.h"

namespace driftguard::certs {
namespace {

using ::driftguard::testing::FakeApiServer;
using ::driftguard::testing::ReadFile;
using ::driftguard::testing::RecordedRequest;
using ::driftguard::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kNs[] = "driftguard-system";
constexpr char kSecretPath[] = "/api/v1/namespaces/driftguard-system/secrets";
constexpr char kValidatingPath[] =
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/driftguard-guard";
constexpr char kMutatingPath[] =
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/driftguard-revert";
constexpr char kValidatingWhere[] = "ValidatingWebhookConfiguration driftguard-guard";
constexpr char kMutatingWhere[] = "MutatingWebhookConfiguration driftguard-revert";

core::Json WebhookConfig(const std::string& kind, const std::string& name, int hooks) {
  core::Json webhooks = core::Json::array();
  for (int i = 0; i < hooks; ++i) {
    webhooks.push_back(
        {{"name", "hook" + std::to_string(i) + ".driftguard.io"},
         {"clientConfig",
          {{"service", {{"namespace", kNs}, {"name", "driftguard"}, {"path", "/validate"}}}}},
         {"sideEffects", "NoneOnDryRun"},
         {"admissionReviewVersions", {"v1"}}});
  }
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", kind},
          {"metadata", {{"name", name}}},
          {"webhooks", webhooks}};
}

std::string Write(const RecordedRequest& r) {
  return r.method + " " + r.path + " " + std::to_string(r.status);
}

struct Event {
  std::string type, reason, message;
};

bool WaitFor(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

class CertificateManagerTest : public ::testing::Test {
 protected:
  CertificateManagerTest() : api_(ApiOptions()), clock_(std::chrono::system_clock::now()) {
    client_ = std::move(core::HttpKubeClient::Create(api_.Config())).value();
    api_.Put(WebhookConfig("ValidatingWebhookConfiguration", "driftguard-guard", 2));
    api_.Put(WebhookConfig("MutatingWebhookConfiguration", "driftguard-revert", 1));
    api_.ClearRequests();
  }

  static FakeApiServer::Options ApiOptions() {
    FakeApiServer::Options o;
    o.namespaces = {"default", "kube-system", kNs};
    return o;
  }

  CertificateManagerOptions Options(const std::filesystem::path& dir) const {
    CertificateManagerOptions o;
    o.namespace_name = kNs;
    o.rotation.generate.namespace_name = kNs;
    o.output_dir = dir;
    o.bundle_propagation_delay = std::chrono::milliseconds(0);
    return o;
  }

  std::unique_ptr<CertificateManager> Manager(const std::filesystem::path& dir,
                                              core::KubeClient* client = nullptr) {
    return std::make_unique<CertificateManager>(
        Options(dir), client != nullptr ? client : client_.get(), &clock_,
        CertificateManagerHooks{
            .registry = &registry_,
            .on_event = [this](std::string_view type, std::string_view reason,
                               std::string_view message) {
              std::lock_guard<std::mutex> lock(events_mu_);
              events_.push_back({std::string(type), std::string(reason), std::string(message)});
            }});
  }

  std::vector<std::string> EventReasons() {
    std::lock_guard<std::mutex> lock(events_mu_);
    std::vector<std::string> out;
    for (const Event& e : events_) out.push_back(e.type + " " + e.reason);
    return out;
  }

  // Requests other than reads, as "METHOD path status".
  std::vector<std::string> Writes() const {
    std::vector<std::string> out;
    for (const RecordedRequest& r : api_.Requests()) {
      if (r.method != "GET") out.push_back(Write(r));
    }
    return out;
  }

  Material SecretMaterial() const {
    auto secret = api_.Object("v1", "Secret", kNs, "driftguard-certs");
    EXPECT_TRUE(secret.has_value());
    if (!secret.has_value()) return {};
    std::map<std::string, std::string> data;
    for (const auto& [key, value] : (*secret)["data"].items()) {
      data[key] = Base64Decode(value.get<std::string>()).value();
    }
    return Material::FromSecretData(data);
  }

  std::string CaBundle(const std::string& kind, const std::string& name, size_t hook = 0) const {
    auto config = api_.Object("admissionregistration.k8s.io/v1", kind, "", name);
    if (!config.has_value()) return "<missing>";
    const core::Json& cc = (*config)["webhooks"][hook]["clientConfig"];
    if (!cc.contains("caBundle")) return "";
    return Base64Decode(cc["caBundle"].get<std::string>()).value();
  }
  std::string ValidatingBundle(size_t hook = 0) const {
    return CaBundle("ValidatingWebhookConfiguration", "driftguard-guard", hook);
  }
  std::string MutatingBundle() const {
    return CaBundle("MutatingWebhookConfiguration", "driftguard-revert");
  }

  FakeApiServer api_;
  std::unique_ptr<core::HttpKubeClient> client_;
  FakeClock clock_;
  core::MetricsRegistry registry_;
  TempDir dir_;
  std::mutex events_mu_;
  std::vector<Event> events_;
};

std::vector<RotationAction> Actions(const CertificatePassResult& r) {
  std::vector<RotationAction> out;
  for (const auto& c : r.changes) out.push_back(c.action);
  return out;
}

TEST_F(CertificateManagerTest, FirstRunCreatesTheSecretAndInjectsTheBundleFirst) {
  auto manager = Manager(dir_.path());
  auto result = manager->RunOnce();
  ASSERT_TRUE(result.ok()) << result.status();

  EXPECT_THAT(Actions(*result),
              ElementsAre(RotationAction::kCreatedCa, RotationAction::kIssuedServingCert));
  EXPECT_EQ(result->changes[0].reason, "created a new CA: ca.crt is missing");
  EXPECT_TRUE(result->secret_created);
  EXPECT_FALSE(result->secret_updated);
  EXPECT_FALSE(result->adopted);
  EXPECT_THAT(result->injected, ElementsAre(kValidatingWhere, kMutatingWhere));
  EXPECT_TRUE(result->missing.empty());
  EXPECT_TRUE(result->files_written);

  // Bundle into both configurations (every webhook) before the Secret is created.
  EXPECT_THAT(Writes(), ElementsAre("PATCH " + std::string(kValidatingPath) + " 200",
                                    "PATCH " + std::string(kMutatingPath) + " 200",
                                    "POST " + std::string(kSecretPath) + " 201"));

  const Material m = SecretMaterial();
  EXPECT_EQ(m, result->material);
  EXPECT_EQ(manager->current(), m);
  ASSERT_FALSE(m.ca_key_pem.empty());
  ASSERT_FALSE(m.tls_key_pem.empty());
  EXPECT_EQ(ValidatingBundle(0), m.ca_cert_pem);
  EXPECT_EQ(ValidatingBundle(1), m.ca_cert_pem);
  EXPECT_EQ(MutatingBundle(), m.ca_cert_pem);
  EXPECT_TRUE(VerifyChain(m.tls_cert_pem, m.ca_cert_pem).ok());
  auto serving = Inspect(m.tls_cert_pem).value();
  EXPECT_EQ(serving.subject, "CN=driftguard.driftguard-system.svc");
  auto secret = api_.Object("v1", "Secret", kNs, "driftguard-certs").value();
  EXPECT_EQ(secret["type"], "kubernetes.io/tls");
  EXPECT_EQ(secret["metadata"]["labels"]["app.kubernetes.io/managed-by"], "driftguard");
  EXPECT_EQ(result->secret_resource_version,
            secret["metadata"]["resourceVersion"].get<std::string>());

  // Files: the three PEM documents behind ..data symlinks; no CA key on disk; private key 0600.
  EXPECT_EQ(ReadFile(dir_.path() / "tls.crt"), m.tls_cert_pem);
  EXPECT_EQ(ReadFile(dir_.path() / "tls.key"), m.tls_key_pem);
  EXPECT_EQ(ReadFile(dir_.path() / "ca.crt"), m.ca_cert_pem);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "ca.key"));
  EXPECT_EQ(std::filesystem::read_symlink(dir_.path() / "tls.crt"), "..data/tls.crt");
  struct stat st;
  ASSERT_EQ(::stat((dir_.path() / "tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(manager->cert_file(), (dir_.path() / "tls.crt").string());

  // Metrics and events.
  const std::string metrics = registry_.Render();
  EXPECT_THAT(metrics,
              HasSubstr("driftguard_certificate_expiry_timestamp_seconds{cert=\"ca\"} " +
                        std::to_string(ToUnixSeconds(Inspect(m.ca_cert_pem)->not_after)) + "\n"));
  EXPECT_THAT(metrics,
              HasSubstr("driftguard_certificate_expiry_timestamp_seconds{cert=\"serving\"} " +
                        std::to_string(ToUnixSeconds(serving.not_after)) + "\n"));
  EXPECT_THAT(metrics, HasSubstr("driftguard_certificate_failures_total 0\n"));
  EXPECT_THAT(EventReasons(), ElementsAre("Normal InjectedCABundle", "Normal InjectedCABundle",
                                          "Normal CreatedCA", "Normal IssuedServingCertificate"));
  EXPECT_EQ(events_[0].message,
            "injected the CA bundle of Secret driftguard-system/driftguard-certs into "
            "ValidatingWebhookConfiguration driftguard-guard");
}

TEST_F(CertificateManagerTest, SecondRunChangesNothing) {
  auto manager = Manager(dir_.path());
  ASSERT_TRUE(manager->RunOnce().ok());
  const Material first = SecretMaterial();
  const auto mtime = std::filesystem::last_write_time(dir_.path() / "tls.crt");
  api_.ClearRequests();

  auto second = manager->RunOnce();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->changes.empty());
  EXPECT_FALSE(second->secret_created || second->secret_updated || second->adopted);
  EXPECT_TRUE(second->injected.empty());
  EXPECT_FALSE(second->files_written);
  EXPECT_TRUE(Writes().empty());
  EXPECT_EQ(api_.Requests().size(), 3u);  // the Secret and the two configurations
  EXPECT_EQ(SecretMaterial(), first);
  EXPECT_EQ(std::filesystem::last_write_time(dir_.path() / "tls.crt"), mtime);

  // A fresh replica (another pod) adopts the published material: writes only its files.
  TempDir other;
  auto replica = Manager(other.path());
  auto adopted = replica->RunOnce();
  ASSERT_TRUE(adopted.ok());
  EXPECT_EQ(adopted->material, first);
  EXPECT_TRUE(adopted->files_written);
  EXPECT_TRUE(Writes().empty());
  EXPECT_EQ(ReadFile(other.path() / "tls.crt"), first.tls_cert_pem);
}

// Holds each replica's first Secret write until both replicas have planned, so the race happens
// every time: both read "no Secret", both plan a new CA, both write, exactly one wins.
class RacingClient : public core::KubeClient {
 public:
  RacingClient(core::KubeClient* inner, std::latch* gate) : inner_(inner), gate_(gate) {}
  core::StatusOr<core::ResourceMapping> Mapping(const core::GroupVersionKind& gvk) override {
    return inner_->Mapping(gvk);
  }
  core::Status RefreshDiscovery() override { return inner_->RefreshDiscovery(); }
  core::StatusOr<core::Json> Get(const core::GroupVersionKind& gvk, std::string_view ns,
                                 std::string_view name) override {
    return inner_->Get(gvk, ns, name);
  }
  core::StatusOr<core::ObjectList> List(const core::GroupVersionKind& gvk, std::string_view ns,
                                        const core::ListOptions& o) override {
    return inner_->List(gvk, ns, o);
  }
  core::StatusOr<core::Json> Create(const core::Json& object,
                                    const core::WriteOptions& o) override {
    Gate(object);
    return inner_->Create(object, o);
  }
  core::StatusOr<core::Json> Update(const core::Json& object,
                                    const core::WriteOptions& o) override {
    Gate(object);
    return inner_->Update(object, o);
  }
  core::StatusOr<core::Json> Apply(const core::Json& object, const core::ApplyOptions& o) override {
    return inner_->Apply(object, o);
  }
  core::StatusOr<core::Json> MergePatch(const core::GroupVersionKind& gvk, std::string_view ns,
                                        std::string_view name, const core::Json& patch,
                                        const core::WriteOptions& o) override {
    return inner_->MergePatch(gvk, ns, name, patch, o);
  }
  core::StatusOr<core::Json> Delete(const core::GroupVersionKind& gvk, std::string_view ns,
                                    std::string_view name, const core::DeleteOptions& o) override {
    return inner_->Delete(gvk, ns, name, o);
  }
  core::StatusOr<std::unique_ptr<core::WatchHandle>> Watch(const core::GroupVersionKind& gvk,
                                                           std::string_view ns,
                                                           const core::WatchOptions& o,
                                                           core::WatchCallbacks cb) override {
    return inner_->Watch(gvk, ns, o, std::move(cb));
  }
  std::string DefaultNamespace() const override { return inner_->DefaultNamespace(); }

 private:
  void Gate(const core::Json& object) {
    if (object["kind"] == "Secret" && !gated_) {
      gated_ = true;
      gate_->arrive_and_wait();
    }
  }
  core::KubeClient* inner_;
  std::latch* gate_;
  bool gated_ = false;
};

TEST_F(CertificateManagerTest, RacingReplicasConvergeOnOneSecret) {
  for (const char* phase : {"create", "rotate"}) {
    SCOPED_TRACE(phase);
    std::latch gate(2);
    auto other_client = std::move(core::HttpKubeClient::Create(api_.Config())).value();
    RacingClient a_client(client_.get(), &gate), b_client(other_client.get(), &gate);
    TempDir a_dir, b_dir;
    auto a = Manager(a_dir.path(), &a_client);
    auto b = Manager(b_dir.path(), &b_client);
    if (std::string(phase) == "rotate") clock_.Advance(std::chrono::days(4 * 365 + 1));

    core::StatusOr<CertificatePassResult> ra = core::UnknownError("not run");
    core::StatusOr<CertificatePassResult> rb = core::UnknownError("not run");
    std::thread ta([&] { ra = a->RunOnce(); });
    std::thread tb([&] { rb = b->RunOnce(); });
    ta.join();
    tb.join();
    ASSERT_TRUE(ra.ok()) << ra.status();
    ASSERT_TRUE(rb.ok()) << rb.status();

    const bool a_won = ra->secret_created || ra->secret_updated;
    const bool b_won = rb->secret_created || rb->secret_updated;
    EXPECT_NE(a_won, b_won);  // exactly one write won
    const CertificatePassResult& loser = a_won ? *rb : *ra;
    EXPECT_TRUE(loser.adopted);
    EXPECT_TRUE(loser.changes.empty());

    const Material published = SecretMaterial();
    EXPECT_EQ(ra->material, published);
    EXPECT_EQ(rb->material, published);
    EXPECT_EQ(ReadFile(a_dir.path() / "tls.crt"), published.tls_cert_pem);
    EXPECT_EQ(ReadFile(b_dir.path() / "tls.crt"), published.tls_cert_pem);
    EXPECT_EQ(ValidatingBundle(0), published.ca_cert_pem);
    EXPECT_EQ(ValidatingBundle(1), published.ca_cert_pem);
    EXPECT_EQ(MutatingBundle(), published.ca_cert_pem);
    EXPECT_EQ(ParseCertificates(published.ca_cert_pem)->size(),
              std::string(phase) == "create" ? 1u : 2u);

    int secret_writes = 0, conflicts = 0;
    for (const RecordedRequest& r : api_.Requests()) {
      if (r.path.starts_with(kSecretPath) && r.method != "GET") {
        ++secret_writes;
        if (r.status == 409) ++conflicts;
      }
    }
    EXPECT_EQ(secret_writes, 2);
    EXPECT_EQ(conflicts, 1);
    api_.ClearRequests();
  }
}

TEST_F(CertificateManagerTest, ServingCertificateNearExpiryIsRenewedUnderTheSameCa) {
  auto manager = Manager(dir_.path());
  ASSERT_TRUE(manager->RunOnce().ok());
  const Material before = SecretMaterial();
  api_.ClearRequests();

  clock_.Advance(std::chrono::days(365 - 31));  // 31 days left: not yet
  auto early = manager->RunOnce();
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(early->changes.empty());
  EXPECT_TRUE(Writes().empty());

  clock_.Advance(std::chrono::days(2));  // 29 days left
  auto renewed = manager->RunOnce();
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_THAT(Actions(*renewed), ElementsAre(RotationAction::kIssuedServingCert));
  EXPECT_THAT(renewed->changes[0].reason, HasSubstr("within the 30-day renewal window"));
  EXPECT_TRUE(renewed->secret_updated);
  EXPECT_TRUE(renewed->injected.empty());
  // The bundle did not change: no PATCH, only the Secret update.
  EXPECT_THAT(Writes(), ElementsAre("PUT " + std::string(kSecretPath) + "/driftguard-certs 200"));

  const Material after = SecretMaterial();
  EXPECT_EQ(after.ca_cert_pem, before.ca_cert_pem);
  EXPECT_EQ(after.ca_key_pem, before.ca_key_pem);
  EXPECT_NE(after.tls_cert_pem, before.tls_cert_pem);
  EXPECT_NE(after.tls_key_pem, before.tls_key_pem);
  EXPECT_TRUE(VerifyChain(after.tls_cert_pem, before.ca_cert_pem, clock_.Now()).ok());
  EXPECT_EQ(ReadFile(dir_.path() / "tls.crt"), after.tls_cert_pem);
  EXPECT_EQ(ValidatingBundle(), before.ca_cert_pem);
  EXPECT_THAT(registry_.Render(),
              HasSubstr("driftguard_certificate_expiry_timestamp_seconds{cert=\"serving\"} " +
                        std::to_string(ToUnixSeconds(Inspect(after.tls_cert_pem)->not_after))));
}

TEST_F(CertificateManagerTest, CaRotationPublishesOldAndNewCaBeforeTheSecret) {
  auto manager = Manager(dir_.path());
  ASSERT_TRUE(manager->RunOnce().ok());
  const Material before = SecretMaterial();
  api_.ClearRequests();

  clock_.Advance(std::chrono::days(4 * 365 + 1));  // the CA has less than 365 days left
  auto rotated = manager->RunOnce();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_THAT(Actions(*rotated),
              ElementsAre(RotationAction::kRotatedCa, RotationAction::kIssuedServingCert));
  EXPECT_THAT(Writes(), ElementsAre("PATCH " + std::string(kValidatingPath) + " 200",
                                    "PATCH " + std::string(kMutatingPath) + " 200",
                                    "PUT " + std::string(kSecretPath) + "/driftguard-certs 200"));

  const Material after = SecretMaterial();
  auto bundle = InspectAll(after.ca_cert_pem).value();
  ASSERT_EQ(bundle.size(), 2u);
  EXPECT_NE(bundle[0].serial_hex, Inspect(before.ca_cert_pem)->serial_hex);
  EXPECT_EQ(bundle[1].serial_hex, Inspect(before.ca_cert_pem)->serial_hex);
  EXPECT_EQ(ValidatingBundle(0), after.ca_cert_pem);
  EXPECT_EQ(ValidatingBundle(1), after.ca_cert_pem);
  EXPECT_EQ(MutatingBundle(), after.ca_cert_pem);
  EXPECT_EQ(ReadFile(dir_.path() / "ca.crt"), after.ca_cert_pem);
  // The new serving certificate chains to the new CA only.
  EXPECT_TRUE(VerifyChain(after.tls_cert_pem, after.ca_cert_pem, clock_.Now()).ok());
  EXPECT_FALSE(VerifyChain(after.tls_cert_pem, before.ca_cert_pem, clock_.Now()).ok());

  // After the overlap the old CA leaves the bundle, again configurations first.
  api_.ClearRequests();
  clock_.Advance(std::chrono::days(8));
  auto dropped = manager->RunOnce();
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_THAT(Actions(*dropped), ElementsAre(RotationAction::kDroppedCa));
  EXPECT_THAT(Writes(), ElementsAre("PATCH " + std::string(kValidatingPath) + " 200",
                                    "PATCH " + std::string(kMutatingPath) + " 200",
                                    "PUT " + std::string(kSecretPath) + "/driftguard-certs 200"));
  EXPECT_EQ(InspectAll(SecretMaterial().ca_cert_pem)->size(), 1u);
  EXPECT_EQ(MutatingBundle(), SecretMaterial().ca_cert_pem);
}

TEST_F(CertificateManagerTest, ResetCaBundleIsReinjected) {
  auto manager = Manager(dir_.path());
  ASSERT_TRUE(manager->RunOnce().ok());
  const Material m = SecretMaterial();
  // Someone re-applies the manifests: the caBundle is gone from the validating configuration.
  api_.Put(WebhookConfig("ValidatingWebhookConfiguration", "driftguard-guard", 2));
  ASSERT_EQ(ValidatingBundle(), "");
  api_.ClearRequests();

  auto repaired = manager->RunOnce();
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_TRUE(repaired->changes.empty());
  EXPECT_THAT(repaired->injected, ElementsAre(kValidatingWhere));
  EXPECT_THAT(Writes(), ElementsAre("PATCH " + std::string(kValidatingPath) + " 200"));
  EXPECT_EQ(ValidatingBundle(0), m.ca_cert_pem);
  EXPECT_EQ(ValidatingBundle(1), m.ca_cert_pem);
  EXPECT_EQ(SecretMaterial(), m);
}

TEST_F(CertificateManagerTest, MissingConfigurationIsSkippedAndReported) {
  CertificateManagerOptions o = Options(dir_.path());
  o.mutating_webhook_name = "driftguard-absent";
  CertificateManager manager(o, client_.get(), &clock_);
  auto result = manager.RunOnce();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->injected, ElementsAre(kValidatingWhere));
  EXPECT_THAT(result->missing, ElementsAre("MutatingWebhookConfiguration driftguard-absent"));
  EXPECT_TRUE(result->secret_created);
}

TEST_F(CertificateManagerTest, FailedInjectionStopsBeforeTheSecret) {
  auto manager = Manager(dir_.path());
  api_.FailNext(1, 500, {.method = "PATCH", .path_substring = "validatingwebhookconfigurations"});
  auto failed = manager->RunOnce();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), core::StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(),
            "injecting the CA bundle into ValidatingWebhookConfiguration driftguard-guard: "
            "injected fault (HTTP 500) (HTTP 500 InternalError)");
  EXPECT_THAT(Writes(), ElementsAre("PATCH " + std::string(kValidatingPath) + " 500"));
  EXPECT_FALSE(api_.Object("v1", "Secret", kNs, "driftguard-certs").has_value());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "tls.crt"));
  EXPECT_EQ(manager->failures(), 1u);
  EXPECT_FALSE(manager->current().has_value());
  EXPECT_THAT(EventReasons(), ElementsAre("Warning CertificateUpdateFailed"));
  EXPECT_EQ(events_[0].message, failed.status().message());
  EXPECT_THAT(registry_.Render(), HasSubstr("driftguard_certificate_failures_total 1\n"));

  auto retried = manager->RunOnce();
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->secret_created);
  EXPECT_EQ(ValidatingBundle(), SecretMaterial().ca_cert_pem);
  EXPECT_EQ(manager->passes(), 2u);
}

TEST_F(CertificateManagerTest, FailedSecretWriteLeavesFilesAlone) {
  auto manager = Manager(dir_.path());
  api_.FailNext(1, 500, {.method = "POST", .path_substring = "/secrets"});
  auto failed = manager->RunOnce();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(),
            "writing Secret driftguard-system/driftguard-certs: injected fault (HTTP 500) (HTTP "
            "500 InternalError)");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "tls.crt"));
}

TEST_F(CertificateManagerTest, ConflictsAreRetriedWithAFreshPlan) {
  auto manager = Manager(dir_.path());
  api_.FailNext(1, 409, {.method = "POST", .path_substring = "/secrets"});
  auto result = manager->RunOnce();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->secret_created);
  EXPECT_FALSE(result->adopted);  // the Secret was still absent: this replica's second plan won
  // The second plan has a new CA, so the bundle is injected again before the second write.
  EXPECT_THAT(Writes(), ElementsAre("PATCH " + std::string(kValidatingPath) + " 200",
                                    "PATCH " + std::string(kMutatingPath) + " 200",
                                    "POST " + std::string(kSecretPath) + " 409",
                                    "PATCH " + std::string(kValidatingPath) + " 200",
                                    "PATCH " + std::string(kMutatingPath) + " 200",
                                    "POST " + std::string(kSecretPath) + " 201"));
  EXPECT_EQ(ValidatingBundle(), SecretMaterial().ca_cert_pem);

  // A conflict on a configuration patch is retried after re-reading it.
  api_.Put(WebhookConfig("MutatingWebhookConfiguration", "driftguard-revert", 1));
  api_.ClearRequests();
  api_.FailNext(1, 409, {.method = "PATCH", .path_substring = "mutatingwebhookconfigurations"});
  auto repaired = manager->RunOnce();
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_THAT(Writes(), ElementsAre("PATCH " + std::string(kMutatingPath) + " 409",
                                    "PATCH " + std::string(kMutatingPath) + " 200"));
  EXPECT_EQ(MutatingBundle(), SecretMaterial().ca_cert_pem);

  // Conflicts that never end are reported.
  clock_.Advance(std::chrono::days(340));
  api_.FailNext(5, 409, {.method = "PUT", .path_substring = "/secrets"});
  auto gave_up = manager->RunOnce();
  ASSERT_FALSE(gave_up.ok());
  EXPECT_EQ(gave_up.status().code(), core::StatusCode::kAborted);
  EXPECT_EQ(gave_up.status().message(),
            "writing Secret driftguard-system/driftguard-certs: gave up after 5 conflicts");
}

TEST_F(CertificateManagerTest, ReadErrorsAreRetriedThenReported) {
  auto manager = Manager(dir_.path());
  api_.FailNext(1, 500, {.method = "GET", .path_substring = "/secrets/"});
  auto retried = manager->RunOnce();
  ASSERT_TRUE(retried.ok()) << retried.status();
  std::vector<int> secret_reads;
  for (const RecordedRequest& r : api_.Requests()) {
    if (r.method == "GET" && r.path.starts_with(kSecretPath)) secret_reads.push_back(r.status);
  }
  EXPECT_THAT(secret_reads, ElementsAre(500, 404));

  api_.FailNext(100, 503, {.method = "GET", .path_substring = "/secrets/"});
  auto failed = manager->RunOnce();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), core::StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(),
            "reading Secret driftguard-system/driftguard-certs: injected fault (HTTP 503) (HTTP "
            "503 ServiceUnavailable)");
}

TEST_F(CertificateManagerTest, StartedManagerReactsToChanges) {
  auto manager = Manager(dir_.path());
  ASSERT_TRUE(manager->Start().ok());
  const Material m = SecretMaterial();
  EXPECT_EQ(ReadFile(dir_.path() / "tls.crt"), m.tls_cert_pem);

  // A re-applied manifest resets a caBundle: the watch triggers a pass that re-injects it.
  api_.Put(WebhookConfig("MutatingWebhookConfiguration", "driftguard-revert", 1));
  EXPECT_TRUE(WaitFor([&] { return MutatingBundle() == m.ca_cert_pem; }));

  // Someone deletes the Secret: it comes back with the same material (running clients keep
  // trusting the CA).
  ASSERT_TRUE(client_->Delete({"", "v1", "Secret"}, kNs, "driftguard-certs").ok());
  EXPECT_TRUE(WaitFor([&] {
    return api_.Object("v1", "Secret", kNs, "driftguard-certs").has_value() &&
           SecretMaterial() == m;
  }));

  // Someone breaks the serving key in the Secret: a new serving certificate under the same CA.
  core::Json secret = api_.Object("v1", "Secret", kNs, "driftguard-certs").value();
  secret["data"]["tls.key"] = Base64Encode("garbage");
  api_.Put(secret);
  EXPECT_TRUE(WaitFor([&] {
    return ReadFile(dir_.path() / "tls.crt") != m.tls_cert_pem &&
           ReadFile(dir_.path() / "tls.crt") == SecretMaterial().tls_cert_pem;
  }));
  EXPECT_EQ(SecretMaterial().ca_cert_pem, m.ca_cert_pem);
  manager->Stop();
  EXPECT_EQ(manager->failures(), 0u);
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    bool restored = false, issued = false;
    for (const Event& e : events_) {
      restored |= e.reason == "RestoredSecret";
      issued |=
          e.reason == "IssuedServingCertificate" &&
          e.message ==
              "issued a new serving certificate: tls.key is invalid: no PEM private key found";
    }
    EXPECT_TRUE(restored);
    EXPECT_TRUE(issued);
  }
}

TEST(CertificateManagerOptionsTest, ValidateNamesTheBadField) {
  CertificateManagerOptions o;
  EXPECT_EQ(o.Validate().message(), "namespace_name is required");
  o.namespace_name = "ns";
  EXPECT_TRUE(o.Validate().ok());
  o.max_conflict_attempts = 0;
  EXPECT_EQ(o.Validate().message(), "max_conflict_attempts must be at least 1");
  o.max_conflict_attempts = 1;
  o.rotation.serving_renew_before = std::chrono::hours(24 * 400);
  EXPECT_EQ(o.Validate().message(),
            "rotation: serving_renew_before must be positive and shorter than serving_validity");
}

// ---------------------------------------------------------------------------------------------
// The real webhook server, serving the manager's files, through a serving-certificate renewal and
// a CA rotation, while a client that trusts exactly what the validating configuration's caBundle
// says (re-read before every request, as the API server does) keeps calling it.

class AllowAll : public webhook::AdmissionHandler {
 public:
  webhook::AdmissionResponse Validate(const webhook::AdmissionRequest&) override { return {}; }
  webhook::AdmissionResponse Mutate(const webhook::AdmissionRequest&) override { return {}; }
};

// One new TLS connection trusting exactly `bundle_pem`; "" on success, else why it failed.
std::string CallHealthz(int port, const std::string& bundle_pem) {
  auto certs = ParseCertificates(bundle_pem);
  if (!certs.ok()) return "bad bundle: " + certs.status().message();
  X509_STORE* store = X509_STORE_new();
  for (const X509Ptr& c : *certs) X509_STORE_add_cert(store, c.get());
  httplib::SSLClient cli("127.0.0.1", port);
  cli.set_ca_cert_store(store);  // takes ownership
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(std::chrono::seconds(10));
  cli.set_read_timeout(std::chrono::seconds(10));
  auto res = cli.Get("/healthz");
  if (!res) {
    return "request failed: " + httplib::to_string(res.error()) + " (verify result " +
           std::to_string(cli.get_openssl_verify_result()) + ")";
  }
  if (res->status != 200 || res->body != "ok\n") {
    return "HTTP " + std::to_string(res->status) + ": " + res->body;
  }
  return "";
}

TEST_F(CertificateManagerTest, WebhookServerAnswersEveryRequestThroughRotations) {
  using std::chrono::hours;
  const TimePoint now = std::chrono::system_clock::now();
  // Every certificate must be valid in real time (the client checks the real clock), so the story
  // starts 4.5 days ago with short lifetimes: serving 5 days (renewed 1 day ahead), CA 20 days
  // (rotated 15.75 days ahead).
  clock_.Set(now - hours(108));
  CertificateManagerOptions o = Options(dir_.path());
  o.rotation.generate.extra_ip_addresses = {"127.0.0.1"};
  o.rotation.generate.serving_validity = hours(5 * 24);
  o.rotation.serving_renew_before = hours(24);
  o.rotation.generate.ca_validity = hours(20 * 24);
  o.rotation.ca_renew_before = hours(15 * 24 + 18);
  // "The API server has the new bundle" = every request that read the old one has finished: the
  // client acknowledges at the top of each iteration, before it reads the bundle again.
  std::mutex propagation_mu;
  std::condition_variable propagation_cv;
  uint64_t requested = 0, acknowledged = 0;
  std::atomic<bool> stop{false};
  auto checkpoint = [&] {
    std::lock_guard<std::mutex> lock(propagation_mu);
    acknowledged = requested;
    propagation_cv.notify_all();
  };
  CertificateManager manager(o, client_.get(), &clock_, {.wait_for_bundle_propagation = [&] {
                               std::unique_lock<std::mutex> lock(propagation_mu);
                               const uint64_t want = ++requested;
                               propagation_cv.wait(
                                   lock, [&] { return acknowledged >= want || stop.load(); });
                             }});
  auto first = manager.RunOnce();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string first_ca = first->material.ca_cert_pem;

  webhook::WebhookServerOptions so;
  so.bind_address = "127.0.0.1";
  so.secure_port = 0;
  so.tls_cert_file = manager.cert_file();
  so.tls_key_file = manager.key_file();
  so.cert_reload_interval = std::chrono::milliseconds(10);
  so.metrics_bind_address = "";
  ASSERT_TRUE(so.Validate().ok());
  AllowAll handler;
  webhook::WebhookServer server(so, &handler, {});
  ASSERT_TRUE(server.Start().ok());
  const int port = server.secure_port();

  std::atomic<int> ok{0}, failed{0};
  std::mutex errors_mu;
  std::vector<std::string> errors;
  std::thread client([&] {
    while (!stop.load()) {
      checkpoint();
      std::string error = CallHealthz(port, ValidatingBundle());
      if (error.empty()) {
        ok.fetch_add(1);
      } else {
        failed.fetch_add(1);
        std::lock_guard<std::mutex> lock(errors_mu);
        errors.push_back(error);
      }
    }
  });
  auto served_more = [&](int n) {
    const int target = ok.load() + failed.load() + n;
    return WaitFor([&] { return ok.load() + failed.load() >= target; });
  };
  ASSERT_TRUE(served_more(10));

  // 1. The serving certificate is renewed under the same CA.
  clock_.Set(now - hours(12));
  auto renewed = manager.RunOnce();
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_THAT(Actions(*renewed), ElementsAre(RotationAction::kIssuedServingCert));
  EXPECT_TRUE(WaitFor([&] { return server.cert_reload_stats().reloads >= 1; }));
  ASSERT_TRUE(served_more(10));

  // 2. The CA rotates: [new, old] reaches the configuration before the server's files change.
  const uint64_t reloads = server.cert_reload_stats().reloads;
  clock_.Set(now);
  auto rotated = manager.RunOnce();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_THAT(Actions(*rotated),
              ElementsAre(RotationAction::kRotatedCa, RotationAction::kIssuedServingCert));
  EXPECT_TRUE(WaitFor([&] { return server.cert_reload_stats().reloads > reloads; }));
  ASSERT_TRUE(served_more(10));

  stop.store(true);
  client.join();
  {
    std::lock_guard<std::mutex> lock(errors_mu);
    EXPECT_EQ(failed.load(), 0) << (errors.empty() ? "" : errors.front());
  }
  EXPECT_GE(ok.load(), 30);

  // The server really serves the new CA's certificate now: the new CA alone is enough, the old one
  // alone is not.
  auto bundle = ParseCertificates(rotated->material.ca_cert_pem).value();
  ASSERT_EQ(bundle.size(), 2u);
  EXPECT_EQ(CallHealthz(port, EncodeCertificate(bundle[0].get()).value()), "");
  EXPECT_THAT(CallHealthz(port, first_ca), HasSubstr("request failed: "));
  server.Stop();
}

}  // namespace
}  // namespace driftguard::certs
