// DiffObjects (on core::JsonDoc) against the nlohmann-tree implementation it replaced
// (tests/support/field_diff_reference): for the objects of every captured AdmissionReview, mutated
// at random thousands of times — values changed (also across number types), members added and
// removed, list items reordered, duplicated, re-keyed and emptied — both must report the same
// changes: paths, pointers, values with their exact types, and order.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/field_diff.h"
#include "core/json.h"
#include "core/schema.h"
#include "tests/support/field_diff_reference.h"
#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  // Applies `n` random edits to `v`.
  void Mutate(Json& v, int n) {
    for (int i = 0; i < n; ++i) Edit(Pick(v));
  }

 private:
  size_t Below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  // A random node: walk down from the root, stopping at each level with some probability.
  Json& Pick(Json& v) {
    Json* cur = &v;
    while ((cur->is_object() || cur->is_array()) && !cur->empty() && Below(4) != 0) {
      size_t i = Below(cur->size());
      if (cur->is_array()) {
        cur = &(*cur)[i];
      } else {
        auto it = cur->begin();
        std::advance(it, static_cast<long>(i));
        cur = &*it;
      }
    }
    return *cur;
  }

  Json RandomScalar() {
    switch (Below(10)) {
      case 0:
        return nullptr;
      case 1:
        return Json::number_unsigned_t{Below(3)};
      case 2:
        return Json::number_integer_t{-static_cast<int64_t>(Below(3))};
      case 3:
        return static_cast<double>(Below(3));
      case 4:
        return Below(2) == 0;
      case 5:
        return "TCP";
      case 6:
        return Json::object();
      case 7:
        return Json::array();
      case 8:
        return "web";
      default:
        return "v" + std::to_string(Below(3));
    }
  }

  void Edit(Json& node) {
    if (node.is_object()) {
      switch (Below(5)) {
        case 0:  // remove a member
          if (!node.empty()) {
            auto it = node.begin();
            std::advance(it, static_cast<long>(Below(node.size())));
            node.erase(it);
          }
          return;
        case 1:  // add one, sometimes a list-map key field
          node[std::vector<std::string>{"name", "containerPort", "protocol", "port", "extra",
                                        "mountPath", "ip"}[Below(7)]] = RandomScalar();
          return;
        case 2:
          node = RandomScalar();
          return;
        case 3:  // empty it
          node = Json::object();
          return;
        default:  // a nested map that holds only empties
          node["deep"] = {{"x", Json::object()}, {"y", Json::array()}, {"z", nullptr}};
          return;
      }
    }
    if (node.is_array()) {
      switch (Below(5)) {
        case 0:
          if (node.size() > 1) std::swap(node[0], node[node.size() - 1]);
          return;
        case 1:
          if (!node.empty()) node.push_back(node[Below(node.size())]);  // duplicate an item
          return;
        case 2:
          if (!node.empty()) node.erase(node.begin() + static_cast<long>(Below(node.size())));
          return;
        case 3:
          node.push_back(RandomScalar());
          return;
        default:
          node = Json::array();
          return;
      }
    }
    node = RandomScalar();
  }

  std::mt19937 rng_;
};

struct Pair {
  std::string label;
  Json old_object;
  Json object;
};

std::vector<Pair> CapturedPairs() {
  std::vector<Pair> pairs;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(DRIFTGUARD_TESTDATA_DIR) / "admission")) {
    if (entry.path().extension() != ".json") continue;
    Json review = Json::parse(testing::ReadFile(entry.path().string()));
    const Json& request = review["request"];
    Json object = request.value("object", Json());
    Json old_object = request.value("oldObject", Json());
    if (object.is_null()) object = old_object;
    if (old_object.is_null()) old_object = object;
    pairs.push_back({entry.path().filename().string(), old_object, object});
  }
  return pairs;
}

std::vector<DiffOptions> OptionSets() {
  std::vector<DiffOptions> sets(4);
  sets[1].empty_equals_absent = false;
  sets[2].ignored_pointers = {"/status",
                              "/metadata/managedFields",
                              "/metadata/resourceVersion",
                              "/spec/template/metadata/annotations/x",
                              "/spec/ports/0",
                              "/metadata/labels/app.kubernetes.io~1name"};
  // Over 64 ignored pointers: the rendered-pointer path instead of the tracked one.
  for (int i = 0; i < 70; ++i) sets[3].ignored_pointers.push_back("/nothing/" + std::to_string(i));
  sets[3].ignored_pointers.push_back("/spec/template/spec/containers/0/image");
  return sets;
}

TEST(FieldDiffDifferentialTest, MatchesTheJsonTreeImplementationOnMutatedReviews) {
  const std::vector<Pair> pairs = CapturedPairs();
  ASSERT_GE(pairs.size(), 8u);
  const std::vector<DiffOptions> option_sets = OptionSets();
  Mutator mutator(20261125);
  size_t compared = 0, with_changes = 0;
  for (const Pair& p : pairs) {
    const SchemaNode* schema =
        Schema::ForApiVersionKind(p.object.value("apiVersion", ""), p.object.value("kind", ""));
    for (int round = 0; round < 250; ++round) {
      Json a = p.old_object;
      Json b = p.object;
      mutator.Mutate(b, 1 + round % 4);
      if (round % 3 == 0) mutator.Mutate(a, 1);
      for (size_t o = 0; o < option_sets.size(); ++o) {
        for (const SchemaNode* s : {schema, static_cast<const SchemaNode*>(nullptr)}) {
          const std::string want =
              testing::RenderChanges(testing::DiffObjectsOnJsonTrees(a, b, s, option_sets[o]));
          const std::string got = testing::RenderChanges(DiffObjects(a, b, s, option_sets[o]));
          ASSERT_EQ(got, want) << p.label << " round " << round << " options " << o
                               << (s ? " with schema" : " without schema") << "\nold: " << a.dump()
                               << "\nnew: " << b.dump();
          ++compared;
          with_changes += want.empty() ? 0 : 1;
        }
      }
    }
  }
  // Most mutations are changes; some are not (a value set to what it was, an empty added).
  EXPECT_GT(with_changes, compared / 2);
}

}  // namespace
}  // namespace driftguard::core
