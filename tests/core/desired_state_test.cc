#include "core/desired_state.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace driftguard::core {
namespace {

DesiredObject MakeObject(const std::string& api_version, const std::string& kind,
                         const std::string& ns, const std::string& name, int replicas = 1) {
  DesiredObject obj;
  obj.object = {{"apiVersion", api_version},
                {"kind", kind},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"spec", {{"replicas", replicas}}}};
  obj.ref = ObjectRef::FromObject(obj.object);
  return obj;
}

SnapshotInfo Info(const std::string& commit) {
  SnapshotInfo info;
  info.commit = commit;
  info.revision = "main@sha1:" + commit;
  return info;
}

TEST(DesiredSnapshotTest, IndexesObjectsByIdentityIgnoringVersion) {
  std::vector<DesiredObject> objects;
  objects.push_back(MakeObject("apps/v1", "Deployment", "shop", "web"));
  objects.push_back(MakeObject("v1", "Service", "shop", "web"));
  auto snap =
      DesiredSnapshot::Build({"flux-system", "apps"},
                             Info("0123456789abcdef0123456789abcdef01234567"), std::move(objects));
  ASSERT_TRUE(snap.ok()) << snap.status();
  const DesiredSnapshot& s = **snap;
  EXPECT_EQ(s.ShortCommit(), "0123456");
  const DesiredObject* deploy = s.Find({"apps", "Deployment", "shop", "web"});
  ASSERT_NE(deploy, nullptr);
  EXPECT_EQ(deploy->ref.version, "v1");
  EXPECT_EQ(s.Find({"", "Service", "shop", "web"})->ref.kind, "Service");
  EXPECT_EQ(s.Find({"apps", "Deployment", "other", "web"}), nullptr);
}

TEST(DesiredSnapshotTest, DuplicateIdentityIsAnError) {
  std::vector<DesiredObject> objects;
  objects.push_back(MakeObject("apps/v1", "Deployment", "shop", "web"));
  objects.push_back(MakeObject("apps/v1beta2", "Deployment", "shop", "web"));
  auto snap = DesiredSnapshot::Build({"flux-system", "apps"}, Info(""), std::move(objects));
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().message(),
            "Kustomization flux-system/apps declares Deployment/shop/web twice "
            "(shop_web_apps_Deployment)");
}

TEST(DesiredObjectTest, OriginWalksUpToNearestRecordedAncestor) {
  DesiredObject obj = MakeObject("apps/v1", "Deployment", "shop", "web");
  obj.origins["/spec"] = {"apps/web/deploy.yaml", 7};
  obj.origins["/spec/replicas"] = {"apps/web/prod/kustomization.yaml", 12};
  EXPECT_EQ(*obj.Origin("/spec/replicas"), (FieldOrigin{"apps/web/prod/kustomization.yaml", 12}));
  EXPECT_EQ(*obj.Origin("/spec/template/spec/containers/0/image"),
            (FieldOrigin{"apps/web/deploy.yaml", 7}));
  EXPECT_EQ(obj.Origin("/metadata/name"), nullptr);
  obj.origins[""] = {"apps/web/deploy.yaml", 1};
  EXPECT_EQ(*obj.Origin("/metadata/name"), (FieldOrigin{"apps/web/deploy.yaml", 1}));
}

TEST(DesiredStateStoreTest, ReadinessWaitsForEveryRegisteredKustomization) {
  DesiredStateStore store;
  std::string reason;
  EXPECT_TRUE(store.Current()->Ready(&reason));
  store.Register({"flux-system", "apps"});
  store.Register({"flux-system", "infra"});
  EXPECT_FALSE(store.Current()->Ready(&reason));
  EXPECT_EQ(reason,
            "desired state not loaded yet for Kustomization flux-system/apps, flux-system/infra");

  std::vector<DesiredObject> objects;
  objects.push_back(MakeObject("apps/v1", "Deployment", "shop", "web"));
  store.Publish(*DesiredSnapshot::Build({"flux-system", "apps"}, Info("aa"), std::move(objects)));
  EXPECT_FALSE(store.Current()->Ready(&reason));
  EXPECT_EQ(reason, "desired state not loaded yet for Kustomization flux-system/infra");

  // A transient failure of a Kustomization that never rendered keeps readiness pending...
  store.RecordFailure({"flux-system", "infra"}, UnavailableError("git fetch failed"), false);
  EXPECT_FALSE(store.Current()->Ready(&reason));
  // ...a definitive one settles it.
  store.RecordFailure({"flux-system", "infra"}, InvalidArgumentError("bad yaml"), true);
  EXPECT_TRUE(store.Current()->Ready(&reason));
  EXPECT_EQ(store.Current()->Find({"flux-system", "infra"})->last_error.message(), "bad yaml");
}

TEST(DesiredStateStoreTest, FailureKeepsLastGoodSnapshot) {
  DesiredStateStore store;
  std::vector<DesiredObject> objects;
  objects.push_back(MakeObject("apps/v1", "Deployment", "shop", "web", 3));
  store.Publish(*DesiredSnapshot::Build({"flux-system", "apps"}, Info("c1"), std::move(objects)));
  store.RecordFailure({"flux-system", "apps"}, InvalidArgumentError("deploy.yaml:3: bad"), true);
  auto view = store.Current();
  const KustomizationEntry* e = view->Find({"flux-system", "apps"});
  ASSERT_NE(e, nullptr);
  ASSERT_NE(e->snapshot, nullptr);
  EXPECT_EQ(e->snapshot->info().commit, "c1");
  EXPECT_EQ(e->last_error.message(), "deploy.yaml:3: bad");
  auto hit = view->FindObject({"apps", "Deployment", "shop", "web"});
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->object->object["spec"]["replicas"], 3);
  EXPECT_EQ(hit->snapshot->id().name, "apps");
}

TEST(DesiredStateStoreTest, RemoveDropsObjectsFromIndex) {
  DesiredStateStore store;
  std::vector<DesiredObject> objects;
  objects.push_back(MakeObject("v1", "ConfigMap", "shop", "cfg"));
  store.Publish(*DesiredSnapshot::Build({"flux-system", "apps"}, Info("c1"), std::move(objects)));
  EXPECT_EQ(store.Current()->object_count(), 1u);
  store.Remove({"flux-system", "apps"});
  EXPECT_EQ(store.Current()->object_count(), 0u);
  EXPECT_FALSE(store.Current()->FindObject({"", "ConfigMap", "shop", "cfg"}).has_value());
}

// Readers holding a view see one consistent snapshot while a writer publishes new revisions.
TEST(DesiredStateStoreTest, ReadersSeeConsistentViewsDuringPublishes) {
  DesiredStateStore store;
  constexpr int kRevisions = 200;
  std::atomic<bool> done{false};
  std::atomic<int> inconsistent{0};
  std::atomic<long> reads{0};
  auto reader = [&] {
    while (!done.load()) {
      auto view = store.Current();
      const KustomizationEntry* e = view->Find({"flux-system", "apps"});
      if (e == nullptr || !e->snapshot) continue;
      // Every object of a snapshot carries the revision number as its replicas.
      int expected = std::stoi(e->snapshot->info().commit);
      for (const DesiredObject& o : e->snapshot->objects()) {
        if (o.object["spec"]["replicas"] != expected) inconsistent++;
      }
      auto hit = view->FindObject({"", "ConfigMap", "shop", "cfg-0"});
      if (!hit || hit->snapshot != e->snapshot.get()) inconsistent++;
      reads++;
    }
  };
  std::thread r1(reader), r2(reader);
  for (int rev = 1; rev <= kRevisions; ++rev) {
    std::vector<DesiredObject> objects;
    for (int i = 0; i < 20; ++i) {
      objects.push_back(MakeObject("v1", "ConfigMap", "shop", "cfg-" + std::to_string(i), rev));
    }
    store.Publish(*DesiredSnapshot::Build({"flux-system", "apps"}, Info(std::to_string(rev)),
                                          std::move(objects)));
  }
  while (reads.load() < 100) std::this_thread::yield();
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_EQ(store.Current()->Find({"flux-system", "apps"})->snapshot->info().commit,
            std::to_string(kRevisions));
}

}  // namespace
}  // namespace driftguard::core
