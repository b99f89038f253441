// Inventory (Flux's status.inventory form) and its ConfigMap store against the FakeApiServer.
#include "reconciler/inventory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/kube_client.h"
#include "tests/support/fake_apiserver.h"

namespace driftguard::reconciler {
namespace {

using core::Json;
using ::testing::ElementsAre;

Json Obj(const std::string& api_version, const std::string& kind, const std::string& ns,
         const std::string& name) {
  Json meta = {{"name", name}};
  if (!ns.empty()) meta["namespace"] = ns;
  return {{"apiVersion", api_version}, {"kind", kind}, {"metadata", meta}};
}

std::vector<std::string> Ids(const std::vector<core::ObjectRef>& refs) {
  std::vector<std::string> out;
  for (const core::ObjectRef& r : refs) out.push_back(r.InventoryId());
  return out;
}

TEST(InventoryTest, FromObjectsSortsByIdAndDropsDuplicates) {
  Inventory inv = Inventory::FromObjects(
      {Obj("apps/v1", "Deployment", "default", "web"), Obj("v1", "Namespace", "", "apps"),
       Obj("v1", "ConfigMap", "default", "cfg"), Obj("apps/v1", "Deployment", "default", "web")});
  EXPECT_THAT(inv.entries(), ElementsAre(InventoryEntry{"_apps__Namespace", "v1"},
                                         InventoryEntry{"default_cfg__ConfigMap", "v1"},
                                         InventoryEntry{"default_web_apps_Deployment", "v1"}));
  EXPECT_FALSE(inv.empty());
  EXPECT_TRUE(Inventory().empty());
}

TEST(InventoryTest, JsonRoundTrip) {
  Inventory inv = Inventory::FromObjects({Obj("apps/v1", "Deployment", "default", "web"),
                                          Obj("example.com/v1beta2", "Widget", "team", "w")});
  Json json = inv.ToJson();
  EXPECT_EQ(json, Json::parse(R"({"entries": [
      {"id": "default_web_apps_Deployment", "v": "v1"},
      {"id": "team_w_example.com_Widget", "v": "v1beta2"}]})"));
  auto back = Inventory::FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->entries(), inv.entries());
  EXPECT_EQ(Inventory().ToJson(), Json::parse(R"({"entries": []})"));
}

TEST(InventoryTest, FromJsonAcceptsNullAndAbsentEntries) {
  auto null_inv = Inventory::FromJson(Json());
  ASSERT_TRUE(null_inv.ok());
  EXPECT_TRUE(null_inv->empty());
  auto no_entries = Inventory::FromJson(Json::object());
  ASSERT_TRUE(no_entries.ok());
  EXPECT_TRUE(no_entries->empty());
  // Flux sorts; an unsorted status still loads sorted.
  auto unsorted = Inventory::FromJson(Json::parse(
      R"({"entries": [{"id": "b_x__ConfigMap", "v": "v1"}, {"id": "a_x__ConfigMap", "v": "v1"}]})"));
  ASSERT_TRUE(unsorted.ok());
  EXPECT_THAT(unsorted->entries(), ElementsAre(InventoryEntry{"a_x__ConfigMap", "v1"},
                                               InventoryEntry{"b_x__ConfigMap", "v1"}));
}

TEST(InventoryTest, MalformedEntriesAreErrorsNamingTheEntry) {
  EXPECT_EQ(
      Inventory::FromJson(Json::parse(
                              R"({"entries": [{"id": "default_web_apps_Deployment", "v": "v1"},
                                                    {"id": "bad", "v": "v1"}]})"))
          .status(),
      core::InvalidArgumentError("inventory entry 1: inventory id 'bad' is not of the form "
                                 "<namespace>_<name>_<group>_<kind>"));
  EXPECT_EQ(
      Inventory::FromJson(Json::parse(R"({"entries": [{"id": "ns__apps_Deployment"}]})")).status(),
      core::InvalidArgumentError(
          "inventory entry 0: inventory id 'ns__apps_Deployment' has an empty name or kind"));
  EXPECT_EQ(Inventory::FromJson(Json::parse(R"({"entries": [{"v": "v1"}]})")).status(),
            core::InvalidArgumentError("inventory entry 0: \"id\" is missing or not a string"));
  EXPECT_EQ(Inventory::FromJson(Json::parse(R"({"entries": {}})")).status(),
            core::InvalidArgumentError("inventory: \"entries\" is not a list"));
  EXPECT_EQ(
      Inventory::FromJson(Json::parse(R"([1])")).status(),
      core::InvalidArgumentError("inventory: expected an object with \"entries\", got array"));
}

TEST(InventoryTest, RefsCarryTheVersion) {
  auto inv = Inventory::FromJson(
      Json::parse(R"({"entries": [{"id": "default_web_apps_Deployment", "v": "v1"}]})"));
  ASSERT_TRUE(inv.ok());
  std::vector<core::ObjectRef> refs = inv->Refs();
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].group, "apps");
  EXPECT_EQ(refs[0].version, "v1");
  EXPECT_EQ(refs[0].kind, "Deployment");
  EXPECT_EQ(refs[0].namespace_, "default");
  EXPECT_EQ(refs[0].name, "web");
}

TEST(InventoryTest, DifferenceIsInPruneOrderAndIgnoresVersion) {
  Inventory old = Inventory::FromObjects(
      {Obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com"),
       Obj("v1", "Namespace", "", "apps"),
       Obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
       Obj("example.com/v1", "Widget", "apps", "w"),
       Obj("apps/v1beta2", "Deployment", "apps", "kept"), Obj("v1", "ConfigMap", "apps", "cfg")});
  Inventory now = Inventory::FromObjects({Obj("apps/v1", "Deployment", "apps", "kept")});
  EXPECT_THAT(Ids(old.Difference(now)),
              ElementsAre("apps_cfg__ConfigMap", "apps_w_example.com_Widget",
                          "_reader_rbac.authorization.k8s.io_ClusterRole", "_apps__Namespace",
                          "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition"));
  EXPECT_TRUE(now.Difference(old).empty());
  EXPECT_TRUE(old.Difference(old).empty());
}

// ---------------------------------------------------------------- ConfigMap store

class InventoryStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { api_ = new testing::FakeApiServer(); }
  static void TearDownTestSuite() {
    delete api_;
    api_ = nullptr;
  }
  void SetUp() override {
    auto client = core::HttpKubeClient::Create(api_->Config());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
  }
  static testing::FakeApiServer* api_;
  std::unique_ptr<core::HttpKubeClient> client_;
};
testing::FakeApiServer* InventoryStoreTest::api_ = nullptr;

TEST_F(InventoryStoreTest, SaveThenLoad) {
  InventoryConfigMapStore store(client_.get());
  const core::KustomizationId id{"default", "apps"};
  EXPECT_EQ(InventoryConfigMapStore::ConfigMapName(id), "driftguard-inventory-apps");
  auto before = store.Load(id);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(before->has_value());

  StoredKustomizationState state;
  state.inventory = Inventory::FromObjects({Obj("apps/v1", "Deployment", "default", "web")});
  state.status = {{"lastAppliedRevision", "main@sha1:abc"},
                  {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
  ASSERT_TRUE(store.Save(id, state).ok());
  auto cm = api_->Object("v1", "ConfigMap", "default", "driftguard-inventory-apps");
  ASSERT_TRUE(cm.has_value());
  EXPECT_EQ((*cm)["data"]["inventory"],
            R"({"entries":[{"id":"default_web_apps_Deployment","v":"v1"}]})");
  EXPECT_EQ((*cm)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "driftguard");
  EXPECT_EQ((*cm)["metadata"]["managedFields"][0]["manager"], "driftguard");

  auto loaded = store.Load(id);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->inventory.entries(), state.inventory.entries());
  EXPECT_EQ((*loaded)->status, state.status);

  // A second save replaces both keys (SSA of the same manager).
  state.inventory = Inventory();
  state.status = {{"lastAppliedRevision", "main@sha1:def"}};
  ASSERT_TRUE(store.Save(id, state).ok());
  loaded = store.Load(id);
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_TRUE((*loaded)->inventory.empty());
  EXPECT_EQ((*loaded)->status, state.status);
}

TEST_F(InventoryStoreTest, SaveNeverCreatesTheNamespace) {
  InventoryConfigMapStore store(client_.get());
  core::Status s = store.Save({"absent-ns", "apps"}, {});
  EXPECT_EQ(s, core::NotFoundError("saving ConfigMap absent-ns/driftguard-inventory-apps: "
                                   "namespaces \"absent-ns\" not found (HTTP 404 NotFound)"));
  EXPECT_FALSE(api_->Object("v1", "Namespace", "", "absent-ns").has_value());
}

TEST_F(InventoryStoreTest, MalformedStoredInventoryIsAnError) {
  api_->Put({{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "driftguard-inventory-broken"}, {"namespace", "default"}}},
             {"data", {{"inventory", R"({"entries":[{"id":"nope","v":"v1"}]})"}}}});
  InventoryConfigMapStore store(client_.get());
  EXPECT_EQ(store.Load({"default", "broken"}).status(),
            core::InvalidArgumentError(
                "ConfigMap default/driftguard-inventory-broken: inventory entry 0: inventory id "
                "'nope' is not of the form <namespace>_<name>_<group>_<kind>"));
  // Missing keys load as empty state.
  api_->Put({{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "driftguard-inventory-empty"}, {"namespace", "default"}}}});
  auto empty = store.Load({"default", "empty"});
  ASSERT_TRUE(empty.ok()) << empty.status();
  ASSERT_TRUE(empty->has_value());
  EXPECT_TRUE((*empty)->inventory.empty());
  EXPECT_EQ((*empty)->status, Json::object());
}

}  // namespace
}  // namespace driftguard::reconciler
