// Ignored pointers in DiffObjects: the tracked matcher (up to 64 pointers) and the rendered-pointer
// check (more than 64) must agree, on escaped keys, list items and the "-" of absent items.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/field_diff.h"

namespace driftguard::core {
namespace {

Json Old() {
  return Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "annotations": {"a/b": "1", "c~d": "2", "plain": "3"},
                 "labels": {"app": "web"}},
    "spec": {"replicas": 3,
             "template": {"spec": {"containers": [
               {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}]},
               {"name": "old", "image": "old:1"}]}}},
    "status": {"replicas": 3}})");
}

Json New() {
  return Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "annotations": {"a/b": "9", "c~d": "9", "plain": "9"},
                 "labels": {"app": "web", "new": "x"}},
    "spec": {"replicas": 5,
             "template": {"spec": {"containers": [
               {"name": "new", "image": "new:1"},
               {"name": "web", "image": "web:2", "env": [{"name": "A", "value": "2"}]}]}}},
    "status": {"replicas": 5}})");
}

std::vector<std::string> Paths(const std::vector<std::string>& ignored, bool pad) {
  DiffOptions options;
  options.ignored_pointers = ignored;
  // Unrelated pointers that push the count over 64, onto the rendered-pointer check.
  for (int i = 0; pad && i < 70; ++i) options.ignored_pointers.push_back("/x" + std::to_string(i));
  std::vector<std::string> out;
  for (const FieldChange& c :
       DiffObjects(Old(), New(), Schema::ForApiVersionKind("apps/v1", "Deployment"), options)) {
    out.push_back(c.path + " " + c.old_pointer + " " + c.new_pointer);
  }
  return out;
}

TEST(FieldDiffIgnoreTest, TrackedAndRenderedMatchingAgree) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {""},
      {"/status"},
      {"/stat"},
      {"/status/"},
      {"/metadata/annotations/a~1b", "/metadata/annotations/c~0d"},
      {"/metadata/annotations/a/b"},
      {"/metadata/annotations/c~d"},
      {"/metadata/labels/new", "/spec/replicas"},
      {"/spec/template/spec/containers/0/image"},
      {"/spec/template/spec/containers/1/image"},
      {"/spec/template/spec/containers/-"},
      {"/spec/template/spec/containers/1/env/0/value"},
      {"/spec/template/spec/containers"},
      {"spec"},
  };
  for (const std::vector<std::string>& ignored : cases) {
    std::string label = ignored.empty() ? "(none)" : ignored.front();
    EXPECT_EQ(Paths(ignored, false), Paths(ignored, true)) << label;
  }
}

TEST(FieldDiffIgnoreTest, ExactResults) {
  EXPECT_EQ(Paths({""}, false), std::vector<std::string>{});
  EXPECT_EQ(Paths({"/metadata/annotations/a~1b", "/metadata/annotations/c~0d", "/status",
                   "/spec/template/spec/containers/-", "/spec/template/spec/containers/0"},
                  false),
            (std::vector<std::string>{
                "metadata.annotations.plain /metadata/annotations/plain "
                "/metadata/annotations/plain",
                "metadata.labels.new /metadata/labels/new /metadata/labels/new",
                "spec.replicas /spec/replicas /spec/replicas",
            }));
  // Only the new object's side of the "web" container is ignored here (index 1 in New()): a
  // pointer into either object covers the field.
  EXPECT_EQ(
      Paths({"/spec/template/spec/containers/1", "/metadata", "/status", "/spec/replicas"}, false),
      (std::vector<std::string>{
          "spec.template.spec.containers[name=new] "
          "/spec/template/spec/containers/- /spec/template/spec/containers/0",
      }));
}

}  // namespace
}  // namespace driftguard::core
