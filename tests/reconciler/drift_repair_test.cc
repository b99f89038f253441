// DriftRepairer: the pure comparison, and repairs against the FakeApiServer test double.
#include "reconciler/drift_repair.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/kube_client.h"
#include "core/metrics.h"
#include "reconciler/flux_status.h"
#include "tests/support/fake_apiserver.h"

namespace driftguard::reconciler {
namespace {

using core::Json;
using ::driftguard::testing::FakeApiServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr auto kWaitLimit = std::chrono::seconds(20);

bool WaitUntil(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

const core::KustomizationId kOwner{"flux-system", "apps"};
const core::GroupVersionKind kDeploymentGvk{"apps", "v1", "Deployment"};
const core::GroupVersionKind kConfigMapGvk{"", "v1", "ConfigMap"};

Json FluxLabels() {
  return {{"kustomize.toolkit.fluxcd.io/name", "apps"},
          {"kustomize.toolkit.fluxcd.io/namespace", "flux-system"}};
}

Json Deployment() {
  Json labels = FluxLabels();
  labels["app"] = "web";
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "web"}, {"namespace", "default"}, {"labels", labels}}},
          {"spec",
           {{"replicas", 3},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec",
               {{"containers",
                 {{{"name", "web"},
                   {"image", "nginx:1.25"},
                   {"args", {"--port", "80"}},
                   {"ports", {{{"containerPort", 80}}}}},
                  {{"name", "log"}, {"image", "busybox:1.36"}}}}}}}}}}};
}

Json ConfigMap(const std::string& name, Json annotations = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"labels", FluxLabels()},
            {"annotations", annotations}}},
          {"data", {{"mode", "strict"}}}};
}

// ---- The comparison (pure) ----

TEST(DriftedFieldsTest, EqualObjectsAndServerFieldsAreNotDrift) {
  Json desired = Deployment();
  Json live = desired;
  live["metadata"]["resourceVersion"] = "42";
  live["metadata"]["uid"] = "u-1";
  live["metadata"]["generation"] = 7;
  live["metadata"]["managedFields"] = Json::array({{{"manager", "x"}}});
  live["metadata"]["annotations"] = {{"deployment.kubernetes.io/revision", "3"}};
  live["status"] = {{"replicas", 1}};
  EXPECT_THAT(DriftRepairer::DriftedFields(desired, live), IsEmpty());
}

TEST(DriftedFieldsTest, ChangedDeclaredFieldsAreDriftWithHumanPaths) {
  Json desired = Deployment();
  Json live = desired;
  live["spec"]["replicas"] = 5;
  live["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:evil";
  live["spec"]["template"]["spec"]["containers"][0]["args"] = {"--port", "81"};
  live["metadata"]["labels"].erase("app");
  EXPECT_THAT(DriftRepairer::DriftedFields(desired, live),
              ElementsAre("metadata.labels.app", "spec.replicas",
                          "spec.template.spec.containers[name=web].args",
                          "spec.template.spec.containers[name=web].image"));
  std::vector<FieldDrift> details = DriftRepairer::DriftDetails(desired, live);
  ASSERT_EQ(details.size(), 4u);
  EXPECT_FALSE(details[0].live.has_value());
  EXPECT_EQ(details[0].desired, "web");
  EXPECT_EQ(details[1].live, Json(5));
  EXPECT_EQ(details[1].desired, 3);
}

TEST(DriftedFieldsTest, FieldsOnlyOtherManagersSetAreNotDrift) {
  Json desired = Deployment();
  Json live = desired;
  live["spec"]["paused"] = false;
  live["spec"]["progressDeadlineSeconds"] = 600;
  live["metadata"]["labels"]["team"] = "payments";
  live["spec"]["template"]["spec"]["containers"].push_back(
      {{"name", "istio-proxy"}, {"image", "istio/proxyv2"}});
  live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent";
  live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP";
  EXPECT_THAT(DriftRepairer::DriftedFields(desired, live), IsEmpty());
}

TEST(DriftedFieldsTest, ListMapReorderIsNotDriftButAMissingItemIs) {
  Json desired = Deployment();
  Json live = desired;
  auto& containers = live["spec"]["template"]["spec"]["containers"];
  std::swap(containers[0], containers[1]);
  EXPECT_THAT(DriftRepairer::DriftedFields(desired, live), IsEmpty());
  containers.erase(containers.begin());  // drops "log"
  EXPECT_THAT(DriftRepairer::DriftedFields(desired, live),
              ElementsAre("spec.template.spec.containers[name=log]"));
}

TEST(DriftedFieldsTest, ListsWithoutKeysCompareElementWise) {
  // A custom resource: no schema, so every list is compared element by element.
  Json desired = {{"apiVersion", "example.com/v1"},
                  {"kind", "Widget"},
                  {"metadata", {{"name", "w"}}},
                  {"spec", {{"items", {{{"a", 1}}, {{"a", 2}}}}, {"size", 1}}}};
  Json live = desired;
  live["spec"]["items"][0]["defaulted"] = true;  // server-side defaults inside an item
  live["spec"]["size"] = 1.0;                    // re-encoded number
  EXPECT_THAT(DriftRepairer::DriftedFields(desired, live), IsEmpty());
  live["spec"]["items"][1]["a"] = 3;
  EXPECT_THAT(DriftRepairer::DriftedFields(desired, live), ElementsAre("spec.items"));
  live = desired;
  live["spec"]["items"].push_back({{"a", 9}});
  EXPECT_THAT(DriftRepairer::DriftedFields(desired, live), ElementsAre("spec.items"));
}

TEST(DriftedFieldsTest, RepairMessageText) {
  Json desired = Deployment();
  Json live = desired;
  live["spec"]["replicas"] = 5;
  live["metadata"]["labels"].erase("app");
  auto details = DriftRepairer::DriftDetails(desired, live);
  EXPECT_EQ(DriftRepairer::RepairMessage(details, false),
            "Drift repaired: metadata.labels.app (absent → web), spec.replicas (5 → 3)");
  EXPECT_EQ(DriftRepairer::RepairMessage(details, true),
            "Drift repaired: metadata.labels.app (redacted), spec.replicas (redacted)");
  EXPECT_EQ(DriftRepairer::RepairMessage({}, false),
            "Drift repaired: recreated the deleted object");
}

// ---- Repairs against the fake API server ----

class DriftRepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto client = core::HttpKubeClient::Create(api_.Config());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
    events_ = std::make_unique<EventRecorder>(client_.get());
  }

  // Applies `objects` as the applier would and hands them to the repairer.
  void Seed(DriftRepairer& repairer, const std::vector<Json>& objects) {
    for (const Json& o : objects) {
      auto applied = client_->Apply(o, {.force = true, .field_manager = "driftguard"});
      ASSERT_TRUE(applied.ok()) << applied.status();
    }
    repairer.SetDesired(kOwner, objects);
  }

  Json Live(const core::GroupVersionKind& gvk, const std::string& name) {
    auto live = client_->Get(gvk, "default", name);
    return live.ok() ? *live : Json();
  }

  // Another actor's change, as `kubectl edit` makes it.
  void Patch(const core::GroupVersionKind& gvk, const std::string& name, const Json& patch) {
    auto r = client_->MergePatch(gvk, "default", name, patch, {.field_manager = "kubectl-edit"});
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // Server-side apply writes (the repairer's), optionally to one object's path.
  int ApplyWrites(const std::string& path_suffix = "") {
    int n = 0;
    for (const auto& r : api_.Requests()) {
      if (r.method == "PATCH" && r.content_type.find("apply-patch") != std::string::npos &&
          r.path.ends_with(path_suffix)) {
        ++n;
      }
    }
    return n;
  }

  std::vector<Json> EventsAbout(const std::string& name) {
    std::vector<Json> out;
    auto list = client_->List({"", "v1", "Event"}, "default");
    if (!list.ok()) return out;
    for (const Json& e : list->items) {
      if (e.value("involvedObject", Json::object()).value("name", "") == name) out.push_back(e);
    }
    return out;
  }

  FakeApiServer api_;
  std::unique_ptr<core::HttpKubeClient> client_;
  std::unique_ptr<EventRecorder> events_;
};

TEST_F(DriftRepairTest, ResyncIsSynchronousAndRepairsOnlyWhatDrifted) {
  core::MetricsRegistry metrics;
  DriftRepairer repairer(client_.get(), events_.get(), &metrics, {});
  Seed(repairer, {Deployment(), ConfigMap("settings")});
  repairer.SetEnabled(true);
  EXPECT_THAT(repairer.Resync(), IsEmpty());

  Patch(kDeploymentGvk, "web", {{"spec", {{"replicas", 5}}}});
  api_.ClearRequests();
  std::vector<DriftRepair> repairs = repairer.Resync();
  ASSERT_EQ(repairs.size(), 1u);
  EXPECT_EQ(repairs[0].owner, kOwner);
  EXPECT_EQ(repairs[0].ref.kind, "Deployment");
  EXPECT_EQ(repairs[0].ref.name, "web");
  EXPECT_THAT(repairs[0].fields, ElementsAre("spec.replicas"));
  EXPECT_TRUE(repairs[0].status.ok()) << repairs[0].status;
  EXPECT_EQ(Live(kDeploymentGvk, "web")["spec"]["replicas"], 3);  // already, on return
  EXPECT_EQ(ApplyWrites(), 1);
  for (const auto& r : api_.Requests()) {
    if (r.method == "PATCH") {
      EXPECT_THAT(r.query, HasSubstr("fieldManager=driftguard"));
      EXPECT_THAT(r.query, HasSubstr("force=true"));
    }
  }
  EXPECT_EQ(repairer.History().size(), 1u);
  EXPECT_THAT(metrics.Render(),
              HasSubstr("driftguard_drift_repairs_total{kustomization=\"flux-system/apps\"} 1\n"));

  std::vector<Json> events = EventsAbout("web");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["message"], "Drift repaired: spec.replicas (5 → 3)");
  EXPECT_EQ(events[0]["reason"], "DriftRepaired");
  EXPECT_EQ(events[0]["type"], "Normal");
  EXPECT_EQ(events[0]["involvedObject"]["kind"], "Deployment");
}

TEST_F(DriftRepairTest, WatchRepairsALiveChange) {
  DriftRepairer repairer(client_.get(), events_.get(), nullptr,
                         {.initial_backoff = std::chrono::milliseconds(50)});
  Seed(repairer, {Deployment(), ConfigMap("settings")});
  repairer.SetEnabled(true);
  repairer.Start();
  // The watch's initial (synthetic ADDED) events show both objects in sync.
  ASSERT_TRUE(WaitUntil([&] { return repairer.WatchEventsSeen() >= 2; }));
  EXPECT_THAT(repairer.History(), IsEmpty());

  Patch(kDeploymentGvk, "web", {{"spec", {{"replicas", 5}}}});
  ASSERT_TRUE(WaitUntil([&] {
    return Live(kDeploymentGvk, "web")["spec"]["replicas"] == 3 && !repairer.History().empty();
  }));
  std::vector<DriftRepair> history = repairer.History();
  ASSERT_EQ(history.size(), 1u);
  EXPECT_THAT(history[0].fields, ElementsAre("spec.replicas"));
  ASSERT_TRUE(WaitUntil([&] { return EventsAbout("web").size() == 1; }));
  EXPECT_EQ(EventsAbout("web")[0]["message"], "Drift repaired: spec.replicas (5 → 3)");
  repairer.Stop();
}

TEST_F(DriftRepairTest, DeletedObjectIsRecreated) {
  DriftRepairer repairer(client_.get(), events_.get(), nullptr, {});
  Seed(repairer, {Deployment(), ConfigMap("settings")});
  repairer.SetEnabled(true);
  repairer.Start();
  ASSERT_TRUE(WaitUntil([&] { return repairer.WatchEventsSeen() >= 2; }));
  auto deleted = client_->Delete(kConfigMapGvk, "default", "settings");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_TRUE(WaitUntil([&] { return Live(kConfigMapGvk, "settings").contains("data"); }));
  EXPECT_EQ(Live(kConfigMapGvk, "settings")["data"]["mode"], "strict");
  ASSERT_TRUE(WaitUntil([&] { return repairer.History().size() == 1; }));
  EXPECT_THAT(repairer.History()[0].fields, IsEmpty());
  ASSERT_TRUE(WaitUntil([&] { return EventsAbout("settings").size() == 1; }));
  EXPECT_EQ(EventsAbout("settings")[0]["message"], "Drift repaired: recreated the deleted object");
  repairer.Stop();
}

TEST_F(DriftRepairTest, OtherManagersFieldsAndListReordersAreNotRepaired) {
  DriftRepairer repairer(client_.get(), events_.get(), nullptr, {});
  Seed(repairer, {Deployment(), ConfigMap("settings")});
  repairer.SetEnabled(true);
  Patch(kConfigMapGvk, "settings",
        {{"metadata", {{"annotations", {{"owner", "team-a"}}}}}, {"data", {{"extra", "1"}}}});
  Patch(kDeploymentGvk, "web", {{"spec", {{"paused", true}}}});
  // Reorder the containers with a PUT (the fake's SSA keeps list order as applied).
  Json live = Live(kDeploymentGvk, "web");
  auto& containers = live["spec"]["template"]["spec"]["containers"];
  std::swap(containers[0], containers[1]);
  ASSERT_TRUE(client_->Update(live).ok());
  ASSERT_EQ(Live(kDeploymentGvk, "web")["spec"]["template"]["spec"]["containers"][0]["name"],
            "log");

  api_.ClearRequests();
  EXPECT_THAT(repairer.Resync(), IsEmpty());
  EXPECT_EQ(ApplyWrites(), 0);
  EXPECT_EQ(Live(kConfigMapGvk, "settings")["data"]["extra"], "1");
}

TEST_F(DriftRepairTest, DisabledRepairerWatchesButNeverWrites) {
  DriftRepairer repairer(client_.get(), events_.get(), nullptr, {});
  Seed(repairer, {Deployment(), ConfigMap("settings")});
  repairer.Start();  // disabled: a new repairer is
  ASSERT_TRUE(WaitUntil([&] { return repairer.WatchEventsSeen() >= 2; }));
  api_.ClearRequests();
  Patch(kDeploymentGvk, "web", {{"spec", {{"replicas", 5}}}});
  ASSERT_TRUE(client_->Delete(kConfigMapGvk, "default", "settings").ok());
  // Both changes reached the repairer...
  ASSERT_TRUE(WaitUntil([&] { return repairer.WatchEventsSeen() >= 4; }));
  // ...and a resync while disabled does nothing.
  EXPECT_THAT(repairer.Resync(), IsEmpty());
  EXPECT_EQ(ApplyWrites(), 0);
  EXPECT_THAT(repairer.History(), IsEmpty());
  EXPECT_EQ(Live(kDeploymentGvk, "web")["spec"]["replicas"], 5);

  // Becoming the leader repairs both.
  repairer.SetEnabled(true);
  ASSERT_TRUE(WaitUntil([&] {
    return Live(kDeploymentGvk, "web")["spec"]["replicas"] == 3 &&
           Live(kConfigMapGvk, "settings").contains("data");
  }));
  repairer.Stop();
}

TEST_F(DriftRepairTest, ExemptObjectsAreLeftAlone) {
  DriftRepairer repairer(client_.get(), events_.get(), nullptr, {});
  Json disabled = ConfigMap("disabled", {{"kustomize.toolkit.fluxcd.io/reconcile", "disabled"}});
  Json ignored = ConfigMap("ignored", {{"kustomize.toolkit.fluxcd.io/ssa", "Ignore"}});
  Json if_not_present =
      ConfigMap("if-not-present", {{"kustomize.toolkit.fluxcd.io/ssa", "IfNotPresent"}});
  Seed(repairer, {disabled, ignored, if_not_present});
  repairer.SetEnabled(true);
  for (const char* name : {"disabled", "ignored", "if-not-present"}) {
    Patch(kConfigMapGvk, name, {{"data", {{"mode", "lax"}}}});
  }
  EXPECT_THAT(repairer.Resync(), IsEmpty());
  for (const char* name : {"disabled", "ignored", "if-not-present"}) {
    EXPECT_EQ(Live(kConfigMapGvk, name)["data"]["mode"], "lax") << name;
  }
  // IfNotPresent still creates the object when it is missing; Ignore never does.
  ASSERT_TRUE(client_->Delete(kConfigMapGvk, "default", "if-not-present").ok());
  ASSERT_TRUE(client_->Delete(kConfigMapGvk, "default", "ignored").ok());
  std::vector<DriftRepair> repairs = repairer.Resync();
  ASSERT_EQ(repairs.size(), 1u);
  EXPECT_EQ(repairs[0].ref.name, "if-not-present");
  EXPECT_EQ(Live(kConfigMapGvk, "if-not-present")["data"]["mode"], "strict");
  EXPECT_TRUE(Live(kConfigMapGvk, "ignored").is_null());
}

TEST_F(DriftRepairTest, BackoffDoublesAndResetsAfterAQuietPeriod) {
  // A fake clock makes the backoff exact.
  std::mutex mu;
  auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  auto advance = [&](int ms) {
    std::lock_guard<std::mutex> lock(mu);
    now += std::chrono::milliseconds(ms);
  };
  DriftRepairer repairer(client_.get(), events_.get(), nullptr,
                         {.initial_backoff = std::chrono::milliseconds(1000),
                          .max_backoff = std::chrono::milliseconds(8000),
                          .clock = [&] {
                            std::lock_guard<std::mutex> lock(mu);
                            return now;
                          }});
  Seed(repairer, {Deployment()});
  repairer.SetEnabled(true);
  const core::ObjectRef web = core::ObjectRef::FromObject(Deployment());
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(0));
  int flip = 10;
  auto drift = [&] { Patch(kDeploymentGvk, "web", {{"spec", {{"replicas", flip++}}}}); };

  drift();
  EXPECT_EQ(repairer.Resync().size(), 1u);  // first repair: at once
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(1000));
  drift();
  EXPECT_THAT(repairer.Resync(), IsEmpty());
  advance(999);
  EXPECT_THAT(repairer.Resync(), IsEmpty());
  EXPECT_EQ(Live(kDeploymentGvk, "web")["spec"]["replicas"], 11);
  advance(1);
  EXPECT_EQ(repairer.Resync().size(), 1u);
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(2000));
  drift();
  advance(1999);
  EXPECT_THAT(repairer.Resync(), IsEmpty());
  advance(1);
  EXPECT_EQ(repairer.Resync().size(), 1u);
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(4000));
  drift();
  advance(4000);
  EXPECT_EQ(repairer.Resync().size(), 1u);
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(8000));
  drift();
  advance(8000);
  EXPECT_EQ(repairer.Resync().size(), 1u);
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(8000));  // capped at max_backoff
  // Quiet for max_backoff after the backoff ended: the backoff starts over.
  advance(8000 + 7999);
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(8000));
  advance(1);
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(0));
  drift();
  EXPECT_EQ(repairer.Resync().size(), 1u);
  EXPECT_EQ(repairer.BackoffOf(web), std::chrono::milliseconds(1000));
  EXPECT_EQ(repairer.History().size(), 6u);
  EXPECT_EQ(Live(kDeploymentGvk, "web")["spec"]["replicas"], 3);
}

TEST_F(DriftRepairTest, AnotherControllerFlippingAFieldGetsBoundedRepairs) {
  constexpr auto kInitial = std::chrono::milliseconds(50);
  DriftRepairer repairer(client_.get(), events_.get(), nullptr,
                         {.initial_backoff = kInitial, .max_backoff = std::chrono::minutes(5)});
  Seed(repairer, {Deployment()});
  repairer.SetEnabled(true);
  repairer.Start();
  ASSERT_TRUE(WaitUntil([&] { return repairer.WatchEventsSeen() >= 1; }));
  api_.ClearRequests();

  const auto begin = std::chrono::steady_clock::now();
  std::atomic<bool> stop{false};
  std::thread other_controller([&] {
    auto client = core::HttpKubeClient::Create(api_.Config());
    ASSERT_TRUE(client.ok());
    for (int i = 0; !stop.load(); ++i) {
      (void)(*client)->MergePatch(kDeploymentGvk, "default", "web",
                                  {{"spec", {{"replicas", 7 + i % 2}}}},
                                  {.field_manager = "hpa-like"});
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  other_controller.join();
  // The last flip gets repaired too (after its backoff).
  ASSERT_TRUE(WaitUntil([&] { return Live(kDeploymentGvk, "web")["spec"]["replicas"] == 3; }));
  const double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  // Repairs k >= 1 are at least initial * 2^(k-1) apart, so n repairs need
  // initial * (2^(n-1) - 1) of time: n <= 1 + log2(elapsed / initial + 1).
  const int bound = 1 + static_cast<int>(std::floor(std::log2(elapsed_ms / kInitial.count() + 1)));
  const int writes = ApplyWrites("/deployments/web");
  EXPECT_GE(writes, 1);
  EXPECT_LE(writes, bound) << "elapsed " << elapsed_ms << " ms";
  EXPECT_EQ(static_cast<int>(repairer.History().size()), writes);
  EXPECT_GE(repairer.BackoffOf(core::ObjectRef::FromObject(Deployment())), kInitial);
  repairer.Stop();
}

}  // namespace
}  // namespace driftguard::reconciler
