// The client basics against a real cluster. Runs only when DRIFTGUARD_E2E_KUBECONFIG names a
// kubeconfig (optionally DRIFTGUARD_E2E_CONTEXT); otherwise every test skips with a message.
// Each test works in a throwaway namespace it creates and deletes, so it is safe to run on any
// cluster where the credentials may create namespaces.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "core/kube_client.h"
#include "core/kube_config.h"

namespace driftguard::core {
namespace {

const GroupVersionKind kConfigMap{"", "v1", "ConfigMap"};
const GroupVersionKind kNamespace{"", "v1", "Namespace"};

class KubeClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("DRIFTGUARD_E2E_KUBECONFIG");
    if (path == nullptr || *path == '\0') {
      GTEST_SKIP() << "DRIFTGUARD_E2E_KUBECONFIG is not set; set it to a kubeconfig to run the "
                      "e2e tests against a real cluster";
    }
    const char* context = std::getenv("DRIFTGUARD_E2E_CONTEXT");
    auto config = LoadKubeConfigFile(path, context != nullptr ? context : "");
    ASSERT_TRUE(config.ok()) << config.status();
    config->field_manager = "driftguard-e2e";
    auto client = HttpKubeClient::Create(*config);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
    std::random_device rd;
    namespace_ = "driftguard-e2e-" + std::to_string(rd() % 1000000);
    auto created = client_->Create(
        {{"apiVersion", "v1"},
         {"kind", "Namespace"},
         {"metadata", {{"name", namespace_}, {"labels", {{"driftguard.io/e2e", "true"}}}}}});
    ASSERT_TRUE(created.ok()) << created.status();
  }

  void TearDown() override {
    if (client_ != nullptr && !namespace_.empty()) {
      Status s = client_->Delete(kNamespace, "", namespace_).status();
      EXPECT_TRUE(s.ok() || IsNotFound(s)) << "cleanup of namespace " << namespace_ << ": " << s;
    }
  }

  Json ConfigMap(const std::string& name, Json data) const {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", namespace_}}},
            {"data", data}};
  }

  std::unique_ptr<HttpKubeClient> client_;
  std::string namespace_;
};

TEST_F(KubeClientE2eTest, CrudApplyAndErrors) {
  auto created = client_->Create(ConfigMap("crud", {{"k", "v1"}}));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(IsAlreadyExists(client_->Create(ConfigMap("crud", {{"k", "v1"}})).status()));
  Json stale = *created;
  stale["data"]["k"] = "v2";
  ASSERT_TRUE(client_->Update(stale).ok());
  EXPECT_TRUE(IsConflict(client_->Update(stale).status()));
  EXPECT_TRUE(IsNotFound(client_->Get(kConfigMap, namespace_, "absent").status()));

  auto applied = client_->Apply(ConfigMap("ssa", {{"owned", "a"}}));
  ASSERT_TRUE(applied.ok()) << applied.status();
  Status conflict =
      client_->Apply(ConfigMap("ssa", {{"owned", "b"}}), {.field_manager = "e2e-other"}).status();
  EXPECT_TRUE(IsConflict(conflict)) << conflict;
  auto forced = client_->Apply(ConfigMap("ssa", {{"owned", "b"}}),
                               {.force = true, .field_manager = "e2e-other"});
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ((*forced)["data"]["owned"], "b");

  auto dry = client_->Create(ConfigMap("dry", {}), {.dry_run = true});
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_TRUE(IsNotFound(client_->Get(kConfigMap, namespace_, "dry").status()));

  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->Create(ConfigMap("page-" + std::to_string(i), {})).ok());
  }
  auto list = client_->List(kConfigMap, namespace_, {.limit = 2});
  ASSERT_TRUE(list.ok()) << list.status();
  // The 7 we created plus kube-root-ca.crt, which the cluster adds to every namespace.
  EXPECT_GE(list->items.size(), 7u);
}

TEST_F(KubeClientE2eTest, WatchSeesChanges) {
  auto list = client_->List(kConfigMap, namespace_);
  ASSERT_TRUE(list.ok()) << list.status();
  std::mutex mu;
  std::condition_variable cv;
  bool seen = false;
  auto watch = client_->Watch(kConfigMap, namespace_, {.resource_version = list->resource_version},
                              {[&](const WatchEvent& e) {
                                 std::lock_guard<std::mutex> lock(mu);
                                 if (e.type == WatchEvent::Type::kAdded &&
                                     e.object["metadata"].value("name", "") == "watched") {
                                   seen = true;
                                   cv.notify_all();
                                 }
                                 return true;
                               },
                               nullptr});
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(client_->Create(ConfigMap("watched", {})).ok());
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return seen; }));
  lock.unlock();
  (*watch)->Stop();
}

}  // namespace
}  // namespace driftguard::core
