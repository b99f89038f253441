// LeaderElector against the FakeApiServer test double (real HTTPS on 127.0.0.1).
#include "reconciler/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <regex>
#include <thread>

#include "core/kube_client.h"
#include "core/metrics.h"
#include "tests/support/fake_apiserver.h"

namespace driftguard::reconciler {
namespace {

using ::driftguard::testing::FakeApiServer;
using ::testing::HasSubstr;

constexpr auto kWaitLimit = std::chrono::seconds(20);

// Polls `pred` every 10 ms until it holds or kWaitLimit passes (a generous bound: the tests never
// assert how fast anything happens).
bool WaitUntil(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// A KubeClient that forwards to a real client unless partitioned, when every call fails as an
// unreachable API server does. Models a network partition of one replica only.
class PartitionableClient : public core::KubeClient {
 public:
  explicit PartitionableClient(std::unique_ptr<core::HttpKubeClient> inner)
      : inner_(std::move(inner)) {}
  void SetPartitioned(bool p) { partitioned_ = p; }

  core::StatusOr<core::ResourceMapping> Mapping(const core::GroupVersionKind& gvk) override {
    if (partitioned_) return Cut();
    return inner_->Mapping(gvk);
  }
  core::Status RefreshDiscovery() override {
    if (partitioned_) return Cut();
    return inner_->RefreshDiscovery();
  }
  core::StatusOr<core::Json> Get(const core::GroupVersionKind& gvk, std::string_view ns,
                                 std::string_view name) override {
    if (partitioned_) return Cut();
    return inner_->Get(gvk, ns, name);
  }
  core::StatusOr<core::ObjectList> List(const core::GroupVersionKind& gvk, std::string_view ns,
                                        const core::ListOptions& options) override {
    if (partitioned_) return Cut();
    return inner_->List(gvk, ns, options);
  }
  core::StatusOr<core::Json> Create(const core::Json& object,
                                    const core::WriteOptions& options) override {
    if (partitioned_) return Cut();
    return inner_->Create(object, options);
  }
  core::StatusOr<core::Json> Update(const core::Json& object,
                                    const core::WriteOptions& options) override {
    if (partitioned_) return Cut();
    return inner_->Update(object, options);
  }
  core::StatusOr<core::Json> Apply(const core::Json& object,
                                   const core::ApplyOptions& options) override {
    if (partitioned_) return Cut();
    return inner_->Apply(object, options);
  }
  core::StatusOr<core::Json> MergePatch(const core::GroupVersionKind& gvk, std::string_view ns,
                                        std::string_view name, const core::Json& patch,
                                        const core::WriteOptions& options) override {
    if (partitioned_) return Cut();
    return inner_->MergePatch(gvk, ns, name, patch, options);
  }
  core::StatusOr<core::Json> Delete(const core::GroupVersionKind& gvk, std::string_view ns,
                                    std::string_view name,
                                    const core::DeleteOptions& options) override {
    if (partitioned_) return Cut();
    return inner_->Delete(gvk, ns, name, options);
  }
  core::StatusOr<std::unique_ptr<core::WatchHandle>> Watch(
      const core::GroupVersionKind& gvk, std::string_view ns, const core::WatchOptions& options,
      core::WatchCallbacks callbacks) override {
    if (partitioned_) return Cut();
    return inner_->Watch(gvk, ns, options, std::move(callbacks));
  }
  std::string DefaultNamespace() const override { return inner_->DefaultNamespace(); }

 private:
  static core::Status Cut() { return core::UnavailableError("partitioned (test)"); }
  std::unique_ptr<core::HttpKubeClient> inner_;
  std::atomic<bool> partitioned_{false};
};

struct Replica {
  std::unique_ptr<PartitionableClient> client;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::unique_ptr<LeaderElector> elector;
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  LeaderElectionTest() {
    api_.Put({{"apiVersion", "v1"},
              {"kind", "Namespace"},
              {"metadata", {{"name", "driftguard-system"}}}});
  }

  static LeaderElectionOptions Options(const std::string& identity) {
    return {.identity = identity,
            .lease_duration = std::chrono::milliseconds(1000),
            .renew_deadline = std::chrono::milliseconds(700),
            .retry_period = std::chrono::milliseconds(100)};
  }

  std::unique_ptr<Replica> MakeReplica(const std::string& identity,
                                       core::MetricsRegistry* metrics = nullptr) {
    auto r = std::make_unique<Replica>();
    auto http = core::HttpKubeClient::Create(api_.Config());
    EXPECT_TRUE(http.ok()) << http.status();
    r->client = std::make_unique<PartitionableClient>(std::move(http).value());
    Replica* raw = r.get();
    r->elector = std::make_unique<LeaderElector>(
        r->client.get(), Options(identity),
        LeaderCallbacks{.on_started_leading = [raw] { ++raw->started; },
                        .on_stopped_leading = [raw] { ++raw->stopped; }},
        metrics);
    return r;
  }

  core::Json LeaseSpec() {
    auto lease = api_.Object("coordination.k8s.io/v1", "Lease", "driftguard-system", "driftguard");
    return lease ? lease->value("spec", core::Json::object()) : core::Json();
  }

  FakeApiServer api_;
};

TEST(LeaderElectionOptionsTest, ValidateNamesTheBrokenOrdering) {
  LeaderElectionOptions ok;
  EXPECT_TRUE(ok.Validate().ok()) << ok.Validate();

  LeaderElectionOptions o;
  o.retry_period = std::chrono::milliseconds(0);
  EXPECT_EQ(o.Validate().message(), "leader election: retry_period must be positive (got 0ms)");
  EXPECT_EQ(o.Validate().code(), core::StatusCode::kInvalidArgument);

  o = {};
  o.renew_deadline = std::chrono::milliseconds(2000);
  EXPECT_EQ(o.Validate().message(),
            "leader election: renew_deadline (2000ms) must be greater than retry_period (2000ms)");

  o = {};
  o.lease_duration = std::chrono::milliseconds(10000);
  EXPECT_EQ(o.Validate().message(),
            "leader election: lease_duration (10000ms) must be greater than renew_deadline "
            "(10000ms)");

  o = {};
  o.name = "";
  EXPECT_EQ(o.Validate().message(), "leader election: lease namespace and name must be set");
}

TEST_F(LeaderElectionTest, SingleElectorCreatesTheLeaseLeadsAndReleasesOnStop) {
  core::MetricsRegistry metrics;
  auto a = MakeReplica("replica-a", &metrics);
  EXPECT_EQ(a->elector->identity(), "replica-a");
  EXPECT_FALSE(a->elector->IsLeader());
  a->elector->Start();
  ASSERT_TRUE(WaitUntil([&] { return a->elector->IsLeader(); }));
  EXPECT_EQ(a->started.load(), 1);
  EXPECT_EQ(a->elector->CurrentLeader(), "replica-a");
  EXPECT_THAT(metrics.Render(), HasSubstr("\ndriftguard_leader 1\n"));

  core::Json spec = LeaseSpec();
  EXPECT_EQ(spec["holderIdentity"], "replica-a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  const std::regex micro_time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)");
  EXPECT_TRUE(std::regex_match(spec["renewTime"].get<std::string>(), micro_time)) << spec;
  EXPECT_TRUE(std::regex_match(spec["acquireTime"].get<std::string>(), micro_time)) << spec;

  // Renewals move renewTime and keep acquireTime.
  const std::string acquired = spec["acquireTime"];
  const std::string first_renew = spec["renewTime"];
  ASSERT_TRUE(WaitUntil([&] { return LeaseSpec()["renewTime"] != first_renew; }));
  EXPECT_EQ(LeaseSpec()["acquireTime"], acquired);
  EXPECT_EQ(LeaseSpec()["leaseTransitions"], 0);

  a->elector->Stop();
  EXPECT_FALSE(a->elector->IsLeader());
  EXPECT_EQ(a->stopped.load(), 1);
  EXPECT_THAT(metrics.Render(), HasSubstr("\ndriftguard_leader 0\n"));
  spec = LeaseSpec();
  EXPECT_FALSE(spec.contains("holderIdentity")) << spec;
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);
  EXPECT_EQ(spec["leaseTransitions"], 0);
}

TEST_F(LeaderElectionTest, TwoElectorsNeverLeadTogetherAndStopHandsOver) {
  auto a = MakeReplica("replica-a");
  auto b = MakeReplica("replica-b");
  a->elector->Start();
  b->elector->Start();
  ASSERT_TRUE(WaitUntil([&] { return a->elector->IsLeader() || b->elector->IsLeader(); }));
  // Safety, checked over many renew rounds: never both at once.
  for (int i = 0; i < 60; ++i) {
    EXPECT_FALSE(a->elector->IsLeader() && b->elector->IsLeader()) << "round " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(WaitUntil([&] { return a->elector->IsLeader() || b->elector->IsLeader(); }));
  Replica* leader = a->elector->IsLeader() ? a.get() : b.get();
  Replica* follower = leader == a.get() ? b.get() : a.get();
  const std::string leader_id = leader->elector->identity();
  ASSERT_TRUE(WaitUntil([&] { return follower->elector->CurrentLeader() == leader_id; }));
  EXPECT_EQ(LeaseSpec()["holderIdentity"], leader_id);

  const int64_t transitions = LeaseSpec()["leaseTransitions"];
  leader->elector->Stop();
  EXPECT_FALSE(leader->elector->IsLeader());
  EXPECT_GE(leader->stopped.load(), 1);
  ASSERT_TRUE(WaitUntil([&] { return follower->elector->IsLeader(); }));
  EXPECT_EQ(LeaseSpec()["holderIdentity"], follower->elector->identity());
  EXPECT_EQ(LeaseSpec()["leaseTransitions"], transitions + 1);
  EXPECT_EQ(follower->elector->CurrentLeader(), follower->elector->identity());
}

TEST_F(LeaderElectionTest, PartitionedLeaderStepsDownAndTheOtherTakesOver) {
  auto a = MakeReplica("replica-a");
  a->elector->Start();
  ASSERT_TRUE(WaitUntil([&] { return a->elector->IsLeader(); }));
  auto b = MakeReplica("replica-b");
  b->elector->Start();
  ASSERT_TRUE(WaitUntil([&] { return b->elector->CurrentLeader() == "replica-a"; }));
  EXPECT_FALSE(b->elector->IsLeader());

  a->client->SetPartitioned(true);
  ASSERT_TRUE(WaitUntil([&] { return !a->elector->IsLeader() && a->stopped.load() == 1; }));
  ASSERT_TRUE(WaitUntil([&] { return b->elector->IsLeader(); }));
  EXPECT_EQ(b->started.load(), 1);
  EXPECT_EQ(LeaseSpec()["holderIdentity"], "replica-b");
  EXPECT_EQ(LeaseSpec()["leaseTransitions"], 1);

  // Healed, the old leader sees the new holder and stays a follower.
  a->client->SetPartitioned(false);
  ASSERT_TRUE(WaitUntil([&] { return a->elector->CurrentLeader() == "replica-b"; }));
  EXPECT_FALSE(a->elector->IsLeader());
  EXPECT_EQ(a->started.load(), 1);
}

TEST_F(LeaderElectionTest, ApiServerOutageStopsLeadingAndOneLeaderReturnsAfterIt) {
  auto a = MakeReplica("replica-a");
  auto b = MakeReplica("replica-b");
  a->elector->Start();
  b->elector->Start();
  ASSERT_TRUE(WaitUntil([&] { return a->elector->IsLeader() || b->elector->IsLeader(); }));
  Replica* leader = a->elector->IsLeader() ? a.get() : b.get();

  api_.Down();
  ASSERT_TRUE(WaitUntil([&] {
    return !a->elector->IsLeader() && !b->elector->IsLeader() && leader->stopped.load() >= 1;
  }));
  api_.Up();
  ASSERT_TRUE(WaitUntil([&] { return a->elector->IsLeader() || b->elector->IsLeader(); }));
  EXPECT_FALSE(a->elector->IsLeader() && b->elector->IsLeader());
  const std::string holder = LeaseSpec()["holderIdentity"];
  EXPECT_TRUE(holder == "replica-a" || holder == "replica-b") << holder;
}

TEST_F(LeaderElectionTest, TakeoverIsJudgedByObservedTimeNotTheHoldersClock) {
  // A holder whose renewTime lies far in the future (a skewed clock) that never renews: the
  // candidate still takes over, once the record has not changed for leaseDurationSeconds.
  api_.Put({{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", "driftguard"}, {"namespace", "driftguard-system"}}},
            {"spec",
             {{"holderIdentity", "ghost"},
              {"leaseDurationSeconds", 1},
              {"acquireTime", "2999-01-01T00:00:00.000000Z"},
              {"renewTime", "2999-01-01T00:00:00.000000Z"},
              {"leaseTransitions", 7}}}});
  auto a = MakeReplica("replica-a");
  a->elector->Start();
  ASSERT_TRUE(WaitUntil([&] { return a->elector->IsLeader(); }));
  core::Json spec = LeaseSpec();
  EXPECT_EQ(spec["holderIdentity"], "replica-a");
  EXPECT_EQ(spec["leaseTransitions"], 8);
  EXPECT_NE(spec["acquireTime"], "2999-01-01T00:00:00.000000Z");
}

TEST_F(LeaderElectionTest, ALiveHoldersLeaseIsNotTakenBeforeItsDuration) {
  api_.Put({{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", "driftguard"}, {"namespace", "driftguard-system"}}},
            {"spec",
             {{"holderIdentity", "other"},
              {"leaseDurationSeconds", 3600},
              {"renewTime", "2024-01-01T00:00:00.000000Z"},
              {"leaseTransitions", 2}}}});
  std::string seen_leader;
  auto http = core::HttpKubeClient::Create(api_.Config());
  ASSERT_TRUE(http.ok());
  LeaderElector e(http->get(), Options("replica-a"),
                  {.on_new_leader = [&](const std::string& id) { seen_leader = id; }});
  api_.ClearRequests();
  e.Start();
  // Several polling rounds (GETs of the Lease), never a write, never leading.
  ASSERT_TRUE(WaitUntil([&] {
    int gets = 0;
    for (const auto& r : api_.Requests()) {
      if (r.method == "GET" && r.path.ends_with("/leases/driftguard")) ++gets;
    }
    return gets >= 5;
  }));
  EXPECT_FALSE(e.IsLeader());
  EXPECT_EQ(e.CurrentLeader(), "other");
  e.Stop();
  EXPECT_EQ(seen_leader, "other");
  for (const auto& r : api_.Requests()) EXPECT_EQ(r.method, "GET") << r.path;
  EXPECT_EQ(LeaseSpec()["holderIdentity"], "other");
  EXPECT_EQ(LeaseSpec()["leaseTransitions"], 2);
}

}  // namespace
}  // namespace driftguard::reconciler
