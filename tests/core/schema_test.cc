#include "core/schema.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/internal/schema_generator.h"
#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

std::vector<std::string> Strings(std::span<const std::string_view> s) {
  return std::vector<std::string>(s.begin(), s.end());
}

const SchemaNode* Path(const SchemaNode* node, std::initializer_list<std::string_view> fields) {
  for (std::string_view f : fields) {
    if (node == nullptr) return nullptr;
    node = f == "[]" ? node->Items() : node->Child(f);
  }
  return node;
}

const SchemaNode* PodSpec() {
  return Path(Schema::ForKind("apps", "v1", "Deployment"), {"spec", "template", "spec"});
}

TEST(SchemaTest, CommittedTableMatchesFreshGeneration) {
  auto generated = internal::GenerateSchemaTableSource(DRIFTGUARD_SHARED_DIR "/k8s-openapi");
  ASSERT_TRUE(generated.ok()) << generated.status();
  std::string committed = testing::ReadFile(DRIFTGUARD_SOURCE_DIR "/core/internal/schema_table.cc");
  EXPECT_TRUE(*generated == committed)
      << "core/internal/schema_table.cc is stale; regenerate it (see its header comment)";
}

TEST(SchemaTest, GeneratorReportsMissingDirectory) {
  auto generated = internal::GenerateSchemaTableSource("/nonexistent/openapi");
  ASSERT_FALSE(generated.ok());
  EXPECT_EQ(generated.status().message(), "/nonexistent/openapi/v3: not a directory");
}

TEST(SchemaTest, KindsResolveByGroupVersionKind) {
  const SchemaNode* deploy = Schema::ForKind("apps", "v1", "Deployment");
  ASSERT_NE(deploy, nullptr);
  EXPECT_EQ(deploy->type_name(), "io.k8s.api.apps.v1.Deployment");
  EXPECT_EQ(deploy->kind(), SchemaKind::kObject);
  EXPECT_EQ(Schema::ForApiVersionKind("apps/v1", "Deployment"), deploy);
  ASSERT_NE(Schema::ForApiVersionKind("v1", "Service"), nullptr);
  EXPECT_EQ(Schema::ForApiVersionKind("v1", "Service")->type_name(), "io.k8s.api.core.v1.Service");
  EXPECT_EQ(Schema::ForKind("", "v1", "ConfigMap")->type_name(), "io.k8s.api.core.v1.ConfigMap");
  EXPECT_EQ(Schema::ForKind("autoscaling", "v2", "HorizontalPodAutoscaler")->type_name(),
            "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler");
  EXPECT_EQ(Schema::ForKind("apps", "v1beta1", "Deployment"), nullptr);
  EXPECT_EQ(Schema::ForKind("example.com", "v1", "Widget"), nullptr);
  EXPECT_EQ(Schema::ForKind("apps", "v1", "deployment"), nullptr);
  EXPECT_GT(Schema::KindCount(), 100u);
}

TEST(SchemaTest, PodSpecIsSharedBetweenKinds) {
  const SchemaNode* from_deploy = PodSpec();
  const SchemaNode* from_job =
      Path(Schema::ForKind("batch", "v1", "Job"), {"spec", "template", "spec"});
  const SchemaNode* from_pod = Path(Schema::ForKind("", "v1", "Pod"), {"spec"});
  ASSERT_NE(from_deploy, nullptr);
  EXPECT_EQ(from_deploy, from_job);
  EXPECT_EQ(from_deploy, from_pod);
  EXPECT_EQ(from_deploy->type_name(), "io.k8s.api.core.v1.PodSpec");
  EXPECT_EQ(from_deploy->Child("noSuchField"), nullptr);
}

TEST(SchemaTest, ContainersEnvVolumesArePatchMergedByName) {
  const SchemaNode* containers = PodSpec()->Child("containers");
  ASSERT_NE(containers, nullptr);
  ASSERT_NE(containers->list(), nullptr);
  const ListInfo& c = *containers->list();
  // v1.28 declares no list-type on containers: the merge key makes it a map keyed by name.
  EXPECT_FALSE(c.has_declared_type);
  EXPECT_TRUE(c.keys.empty());
  EXPECT_EQ(c.compare_type, ListType::kMap);
  EXPECT_EQ(Strings(c.compare_keys), std::vector<std::string>{"name"});
  EXPECT_EQ(c.patch_strategy, kPatchStrategyMerge);
  EXPECT_EQ(c.patch_merge_key, "name");
  EXPECT_EQ(Strings(c.merge_keys), std::vector<std::string>{"name"});
  EXPECT_EQ(containers->Items()->type_name(), "io.k8s.api.core.v1.Container");

  const ListInfo* env = containers->Items()->Child("env")->list();
  ASSERT_NE(env, nullptr);
  EXPECT_FALSE(env->has_declared_type);
  EXPECT_TRUE(env->keys.empty());
  EXPECT_EQ(env->patch_merge_key, "name");
  EXPECT_EQ(env->compare_type, ListType::kMap);
  EXPECT_EQ(Strings(env->compare_keys), std::vector<std::string>{"name"});

  const ListInfo* volumes = PodSpec()->Child("volumes")->list();
  ASSERT_NE(volumes, nullptr);
  EXPECT_EQ(volumes->patch_strategy, kPatchStrategyMerge | kPatchStrategyRetainKeys);
  EXPECT_EQ(volumes->patch_merge_key, "name");
}

TEST(SchemaTest, ContainerPortsMergeKeyDiffersFromListMapKeys) {
  const ListInfo* ports = Path(PodSpec(), {"containers", "[]", "ports"})->list();
  ASSERT_NE(ports, nullptr);
  EXPECT_EQ(ports->patch_merge_key, "containerPort");
  EXPECT_EQ(Strings(ports->keys), (std::vector<std::string>{"containerPort", "protocol"}));
  EXPECT_EQ(Strings(ports->compare_keys), (std::vector<std::string>{"containerPort", "protocol"}));
  EXPECT_EQ(Strings(ports->compare_key_defaults), (std::vector<std::string>{"0", "\"TCP\""}));
  EXPECT_EQ(Strings(ports->merge_keys), (std::vector<std::string>{"containerPort", "protocol"}));

  const ListInfo* svc_ports = Path(Schema::ForKind("", "v1", "Service"), {"spec", "ports"})->list();
  ASSERT_NE(svc_ports, nullptr);
  EXPECT_EQ(svc_ports->patch_merge_key, "port");
  EXPECT_EQ(Strings(svc_ports->compare_keys), (std::vector<std::string>{"port", "protocol"}));
}

TEST(SchemaTest, AtomicAndSetListsAndAtomicMaps) {
  const ListInfo* tolerations = PodSpec()->Child("tolerations")->list();
  ASSERT_NE(tolerations, nullptr);
  EXPECT_FALSE(tolerations->has_declared_type);
  EXPECT_EQ(tolerations->patch_strategy, kPatchStrategyNone);
  EXPECT_EQ(tolerations->compare_type, ListType::kAtomic);
  EXPECT_TRUE(tolerations->merge_keys.empty());

  const ListInfo* args = Path(PodSpec(), {"containers", "[]", "args"})->list();
  ASSERT_NE(args, nullptr);
  EXPECT_FALSE(args->has_declared_type);
  EXPECT_EQ(args->compare_type, ListType::kAtomic);
  const ListInfo* caps = Path(Schema::ForKind("", "v1", "Service"), {"spec", "clusterIPs"})->list();
  ASSERT_NE(caps, nullptr);
  EXPECT_TRUE(caps->has_declared_type);
  EXPECT_EQ(caps->declared_type, ListType::kAtomic);

  const ListInfo* meta_finalizers =
      Path(Schema::ForKind("", "v1", "ConfigMap"), {"metadata", "finalizers"})->list();
  ASSERT_NE(meta_finalizers, nullptr);
  EXPECT_EQ(meta_finalizers->patch_strategy, kPatchStrategyMerge);
  EXPECT_EQ(meta_finalizers->compare_type, ListType::kSet);
  EXPECT_TRUE(meta_finalizers->merge_keys.empty());

  const SchemaNode* selector =
      Path(Schema::ForKind("apps", "v1", "Deployment"), {"spec", "selector"});
  EXPECT_TRUE(selector->atomic_map());
  const SchemaNode* labels =
      Path(Schema::ForKind("apps", "v1", "Deployment"), {"metadata", "labels"});
  EXPECT_EQ(labels->kind(), SchemaKind::kMap);
  EXPECT_FALSE(labels->atomic_map());
  EXPECT_EQ(labels->Child("anything")->scalar_type(), ScalarType::kString);

  // A field-level annotation overrides its type's: claimRef is granular, ObjectReference atomic.
  const SchemaNode* pv_spec = Path(Schema::ForKind("", "v1", "PersistentVolume"), {"spec"});
  EXPECT_FALSE(pv_spec->Child("claimRef")->atomic_map());
  EXPECT_EQ(pv_spec->Child("claimRef")->type_name(), "io.k8s.api.core.v1.ObjectReference");
  EXPECT_EQ(pv_spec->Child("claimRef")->Child("name")->scalar_type(), ScalarType::kString);
  EXPECT_TRUE(Path(PodSpec(), {"containers", "[]", "env", "[]", "valueFrom", "configMapKeyRef"})
                  ->atomic_map());
}

TEST(SchemaTest, FieldPatchStrategiesOnMaps) {
  const SchemaNode* strategy =
      Path(Schema::ForKind("apps", "v1", "Deployment"), {"spec", "strategy"});
  EXPECT_EQ(strategy->patch_strategy(), kPatchStrategyRetainKeys);
  EXPECT_EQ(strategy->kind(), SchemaKind::kObject);
  EXPECT_EQ(strategy->Child("type")->scalar_type(), ScalarType::kString);
  const SchemaNode* pdb_selector =
      Path(Schema::ForKind("policy", "v1", "PodDisruptionBudget"), {"spec", "selector"});
  EXPECT_EQ(pdb_selector->patch_strategy(), kPatchStrategyReplace);
  // The shared LabelSelector type itself carries no strategy.
  EXPECT_EQ(
      Path(Schema::ForKind("apps", "v1", "Deployment"), {"spec", "selector"})->patch_strategy(),
      kPatchStrategyNone);
}

TEST(SchemaTest, ScalarTypes) {
  const SchemaNode* deploy_spec = Path(Schema::ForKind("apps", "v1", "Deployment"), {"spec"});
  EXPECT_EQ(deploy_spec->Child("replicas")->scalar_type(), ScalarType::kInteger);
  EXPECT_EQ(deploy_spec->Child("paused")->scalar_type(), ScalarType::kBoolean);
  const SchemaNode* svc_port = Path(Schema::ForKind("", "v1", "Service"), {"spec", "ports", "[]"});
  EXPECT_EQ(svc_port->Child("targetPort")->scalar_type(), ScalarType::kIntOrString);
  EXPECT_EQ(svc_port->Child("protocol")->scalar_type(), ScalarType::kString);
  const SchemaNode* limits = Path(PodSpec(), {"containers", "[]", "resources", "limits"});
  EXPECT_EQ(limits->kind(), SchemaKind::kMap);
  EXPECT_EQ(limits->Child("cpu")->scalar_type(), ScalarType::kQuantity);
  EXPECT_EQ(Path(Schema::ForKind("", "v1", "ConfigMap"), {"metadata", "creationTimestamp"})
                ->scalar_type(),
            ScalarType::kDateTime);
  EXPECT_EQ(Path(Schema::ForKind("", "v1", "Secret"), {"data", "key"})->scalar_type(),
            ScalarType::kBytes);
  EXPECT_EQ(Path(Schema::ForKind("apps", "v1", "ControllerRevision"), {"data"})->kind(),
            SchemaKind::kAny);
  const SchemaNode* object = Schema::ForKind("", "v1", "ConfigMap");
  ASSERT_GT(object->field_count(), 3u);
  EXPECT_EQ(object->field_name(0), "apiVersion");
  EXPECT_EQ(object->field_node(0)->scalar_type(), ScalarType::kString);
}

}  // namespace
}  // namespace driftguard::core
