// Conformance of the renderer with `kubectl kustomize` (the oracle, run at test
// time).
//
// Every directory under tests/testdata/kustomize/ is one case: kubectl renders
// it, RenderKustomization renders it, and the two streams must hold the same
// objects (each equal as Json) in the same order (kustomize's default legacy
// order is part of the contract). A directory without a kustomization file is a
// Flux-style tree: its `tree/` is rendered and compared with the hand-written
// `expected.yaml` beside it, because kubectl refuses such a directory. Every
// directory under tests/testdata/kustomize-errors/ must fail to render with a
// message containing its `expected-error.txt`. kubectl runs once per tree per
// process, in parallel.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "core/yaml.h"
#include "reconciler/render.h"
#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

namespace fs = std::filesystem;
using core::Json;

const fs::path kTreesDir = fs::path(DRIFTGUARD_TESTDATA_DIR) / "kustomize";
const fs::path kErrorTreesDir = fs::path(DRIFTGUARD_TESTDATA_DIR) / "kustomize-errors";

bool HasKustomizationFile(const fs::path& dir) {
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"}) {
    if (fs::is_regular_file(dir / name)) return true;
  }
  return false;
}

std::vector<std::string> ListTrees(const fs::path& root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// One kubectl run: exit code, stdout, stderr.
struct OracleRun {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

OracleRun RunKubectl(const fs::path& dir, const fs::path& scratch) {
  const fs::path err = scratch / "stderr";
  fs::create_directories(scratch);
  testing::CommandResult r = testing::RunCommand("kubectl kustomize " + ShellQuote(dir.string()) +
                                                 " 2>" + ShellQuote(err.string()));
  OracleRun run{r.exit_code, std::move(r.output), ""};
  if (fs::exists(err)) run.stderr_text = testing::ReadFile(err);
  return run;
}

// Runs kubectl on every directory in `dirs` (in parallel, 4 at a time) and
// returns the runs by dir.
std::map<std::string, OracleRun> RunKubectlOnAll(const std::vector<fs::path>& dirs) {
  testing::TempDir scratch;
  std::map<std::string, OracleRun> runs;
  std::mutex mu;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < dirs.size(); i = next++) {
      OracleRun run = RunKubectl(dirs[i], scratch.path() / std::to_string(i));
      std::lock_guard<std::mutex> lock(mu);
      runs[dirs[i].string()] = std::move(run);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return runs;
}

std::vector<fs::path> OracleTreeDirs() {
  std::vector<fs::path> dirs;
  for (const std::string& name : ListTrees(kTreesDir)) {
    if (HasKustomizationFile(kTreesDir / name)) dirs.push_back(kTreesDir / name);
  }
  return dirs;
}

// kubectl's output for a tree of tests/testdata/kustomize, cached per process. When this process
// runs many tests (the binary run directly), every tree is rendered up front in parallel; when it
// runs one or a few (ctest starts one process per test), only the trees asked for are rendered.
const OracleRun& Oracle(const std::string& tree) {
  static std::mutex mu;
  static std::map<std::string, OracleRun> runs;
  std::lock_guard<std::mutex> lock(mu);
  if (runs.empty() && ::testing::UnitTest::GetInstance()->test_to_run_count() > 8) {
    runs = RunKubectlOnAll(OracleTreeDirs());
  }
  const fs::path dir = kTreesDir / tree;
  auto it = runs.find(dir.string());
  if (it == runs.end()) {
    testing::TempDir scratch;
    it = runs.emplace(dir.string(), RunKubectl(dir, scratch.path())).first;
  }
  return it->second;
}

// "Kind namespace/name" for messages.
std::string Identity(const Json& obj) {
  const Json* kind = core::FindPointer(obj, "/kind");
  const Json* ns = core::FindPointer(obj, "/metadata/namespace");
  const Json* name = core::FindPointer(obj, "/metadata/name");
  std::string out = kind && kind->is_string() ? kind->get<std::string>() : "?";
  out += " ";
  if (ns && ns->is_string()) out += ns->get<std::string>() + "/";
  out += name && name->is_string() ? name->get<std::string>() : "?";
  return out;
}

std::string Short(const Json& v) {
  std::string s = v.dump();
  return s.size() > 120 ? s.substr(0, 117) + "..." : s;
}

// Appends one line per differing leaf: "<pointer>: expected <e>, got <a>" (or
// missing/unexpected).
void DiffJson(const Json& expected, const Json& actual, const std::string& pointer,
              std::vector<std::string>* out) {
  if (expected == actual) return;
  const std::string where = pointer.empty() ? "/" : pointer;
  if (expected.is_object() && actual.is_object()) {
    for (const auto& [k, v] : expected.items()) {
      const std::string p = pointer + "/" + core::EscapePointerToken(k);
      if (!actual.contains(k)) {
        out->push_back(p + ": missing (expected " + Short(v) + ")");
      } else {
        DiffJson(v, actual.at(k), p, out);
      }
    }
    for (const auto& [k, v] : actual.items()) {
      if (!expected.contains(k)) {
        out->push_back(pointer + "/" + core::EscapePointerToken(k) + ": unexpected " + Short(v));
      }
    }
    return;
  }
  if (expected.is_array() && actual.is_array() && expected.size() == actual.size()) {
    for (size_t i = 0; i < expected.size(); ++i) {
      DiffJson(expected[i], actual[i], pointer + "/" + std::to_string(i), out);
    }
    return;
  }
  out->push_back(where + ": expected " + Short(expected) + ", got " + Short(actual));
}

struct Comparison {
  bool same_objects = true;  // equal multisets
  bool same_order = true;    // equal sequences (only meaningful when same_objects)
  std::string report;        // empty when both hold
};

// Compares rendered objects with the oracle's: first as multisets (each object
// equal as Json), then their order.
Comparison CompareStreams(const std::vector<Json>& expected, const std::vector<Json>& actual) {
  Comparison c;
  std::ostringstream report;
  std::vector<bool> used(actual.size(), false);
  std::vector<size_t> unmatched_expected;
  for (size_t i = 0; i < expected.size(); ++i) {
    bool found = false;
    for (size_t j = 0; j < actual.size() && !found; ++j) {
      if (!used[j] && actual[j] == expected[i]) used[j] = found = true;
    }
    if (!found) unmatched_expected.push_back(i);
  }
  for (size_t i : unmatched_expected) {
    c.same_objects = false;
    // Diff against an unmatched rendered object of the same identity, if any.
    size_t partner = actual.size();
    for (size_t j = 0; j < actual.size(); ++j) {
      if (!used[j] && Identity(actual[j]) == Identity(expected[i])) {
        partner = j;
        break;
      }
    }
    if (partner == actual.size()) {
      report << "missing object #" << i << " " << Identity(expected[i]) << "\n";
      continue;
    }
    used[partner] = true;
    std::vector<std::string> lines;
    DiffJson(expected[i], actual[partner], "", &lines);
    report << "object #" << i << " " << Identity(expected[i]) << " differs:\n";
    for (const std::string& l : lines) report << "  " << l << "\n";
  }
  for (size_t j = 0; j < actual.size(); ++j) {
    if (!used[j]) {
      c.same_objects = false;
      report << "unexpected object #" << j << " " << Identity(actual[j]) << "\n";
    }
  }
  if (c.same_objects && expected != actual) {
    c.same_order = false;
    report << "same objects, different order:\n  expected:";
    for (const Json& o : expected) report << " [" << Identity(o) << "]";
    report << "\n  rendered:";
    for (const Json& o : actual) report << " [" << Identity(o) << "]";
    report << "\n";
  }
  c.report = report.str();
  return c;
}

std::vector<Json> ParseStream(const std::string& text, const std::string& source) {
  auto docs = core::ParseYamlStream(text, source);
  EXPECT_TRUE(docs.ok()) << docs.status();
  std::vector<Json> out;
  if (!docs.ok()) return out;
  for (const core::YamlDocument& d : *docs) {
    if (!d.value.is_null()) out.push_back(d.value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The conformance cases.

class ConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceTest, RendersLikeKubectlKustomize) {
  const fs::path dir = kTreesDir / GetParam();
  std::vector<Json> expected;
  fs::path render_dir = dir;
  if (HasKustomizationFile(dir)) {
    const OracleRun& oracle = Oracle(GetParam());
    ASSERT_EQ(oracle.exit_code, 0) << "kubectl kustomize failed on " << dir << ":\n"
                                   << oracle.stderr_text;
    expected = ParseStream(oracle.stdout_text, "kubectl kustomize " + GetParam());
  } else {
    // Flux-style tree: kubectl refuses it; expected.yaml is the hand-written
    // expectation.
    render_dir = dir / "tree";
    ASSERT_TRUE(fs::is_directory(render_dir)) << dir << " has neither a kustomization nor tree/";
    expected = ParseStream(testing::ReadFile(dir / "expected.yaml"), "expected.yaml");
  }
  ASSERT_FALSE(expected.empty()) << "the expectation for " << GetParam() << " has no objects";

  RenderOptions options;
  options.root = dir;
  auto rendered = RenderKustomization(render_dir, options);
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  std::vector<Json> actual;
  for (const RenderedObject& o : *rendered) actual.push_back(o.object);

  const Comparison c = CompareStreams(expected, actual);
  EXPECT_TRUE(c.same_objects) << "rendered objects differ from the oracle's:\n" << c.report;
  EXPECT_TRUE(c.same_order) << "rendered objects are in a different order than kubectl's:\n"
                            << c.report;
}

INSTANTIATE_TEST_SUITE_P(Trees, ConformanceTest, ::testing::ValuesIn(ListTrees(kTreesDir)),
                         TestName);

class ConformanceErrorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceErrorTest, FailsWithExpectedMessage) {
  const fs::path dir = kErrorTreesDir / GetParam();
  std::string want = testing::ReadFile(dir / "expected-error.txt");
  while (!want.empty() && (want.back() == '\n' || want.back() == ' ')) want.pop_back();
  ASSERT_FALSE(want.empty());

  // The oracle rejects the tree as well.
  testing::TempDir scratch;
  EXPECT_NE(RunKubectl(dir, scratch.path()).exit_code, 0) << "kubectl accepted " << dir;

  RenderOptions options;
  options.root = dir;
  auto rendered = RenderKustomization(dir, options);
  ASSERT_FALSE(rendered.ok()) << "rendered " << rendered->size() << " objects from bad input";
  EXPECT_NE(rendered.status().message().find(want), std::string::npos)
      << "message: " << rendered.status().message() << "\nexpected to contain: " << want;
}

INSTANTIATE_TEST_SUITE_P(BadInput, ConformanceErrorTest,
                         ::testing::ValuesIn(ListTrees(kErrorTreesDir)), TestName);

// ---------------------------------------------------------------------------------------------
// The harness itself.

TEST(ConformanceHarnessTest, SuiteHasEnoughTrees) {
  EXPECT_GE(ListTrees(kTreesDir).size(), 45u);
  EXPECT_GE(ListTrees(kErrorTreesDir).size(), 8u);
}

// kubectl compared with a second, independent kubectl run passes: the parse and the comparison do
// not invent differences, and the oracle is deterministic. A dozen trees covering generators
// (hashes), labels, patches, replacements, vars, openapi and sort options keep this test quick.
TEST(ConformanceHarnessTest, KubectlMatchesItself) {
  const std::vector<std::string> prefixes = {"05-", "07-", "15-", "19-", "22-", "24-",
                                             "28-", "29-", "31-", "36-", "40-", "44-"};
  std::vector<fs::path> dirs;
  for (const fs::path& dir : OracleTreeDirs()) {
    const std::string name = dir.filename().string();
    for (const std::string& prefix : prefixes) {
      if (name.rfind(prefix, 0) == 0) dirs.push_back(dir);
    }
  }
  ASSERT_EQ(dirs.size(), prefixes.size());
  std::map<std::string, OracleRun> first = RunKubectlOnAll(dirs);
  std::map<std::string, OracleRun> second = RunKubectlOnAll(dirs);
  for (const fs::path& dir : dirs) {
    SCOPED_TRACE(dir.string());
    ASSERT_EQ(first[dir.string()].exit_code, 0) << first[dir.string()].stderr_text;
    std::vector<Json> a = ParseStream(first[dir.string()].stdout_text, "first");
    std::vector<Json> b = ParseStream(second[dir.string()].stdout_text, "second");
    EXPECT_FALSE(a.empty());
    Comparison c = CompareStreams(a, b);
    EXPECT_TRUE(c.same_objects && c.same_order) << c.report;
    EXPECT_EQ(c.report, "");
  }
}

std::vector<Json> OracleObjects(const std::string& tree) {
  const OracleRun& run = Oracle(tree);
  EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
  return ParseStream(run.stdout_text, tree);
}

TEST(ConformanceHarnessTest, AlteredFieldIsReportedWithItsPointer) {
  std::vector<Json> expected = OracleObjects("18-replicas");
  ASSERT_EQ(expected.size(), 3u);
  std::vector<Json> actual = expected;
  // Legacy order: Deployment api, Deployment web, StatefulSet postgres.
  ASSERT_EQ(Identity(actual[1]), "Deployment web");
  actual[1]["spec"]["replicas"] = 4;
  actual[1]["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:latest";
  actual[1]["metadata"]["labels"].erase("app");
  actual[1]["metadata"]["annotations"] = {{"x", "y"}};
  Comparison c = CompareStreams(expected, actual);
  EXPECT_FALSE(c.same_objects);
  EXPECT_EQ(c.report,
            "object #1 Deployment web differs:\n"
            "  /metadata/labels/app: missing (expected \"web\")\n"
            "  /metadata/annotations: unexpected {\"x\":\"y\"}\n"
            "  /spec/replicas: expected 5, got 4\n"
            "  /spec/template/spec/containers/0/image: expected \"nginx:1.25\", got "
            "\"nginx:latest\"\n");
}

TEST(ConformanceHarnessTest, SwappedOrderIsReportedSeparately) {
  std::vector<Json> expected = OracleObjects("18-replicas");
  ASSERT_EQ(expected.size(), 3u);
  std::vector<Json> actual = expected;
  std::swap(actual[0], actual[1]);
  Comparison c = CompareStreams(expected, actual);
  EXPECT_TRUE(c.same_objects);
  EXPECT_FALSE(c.same_order);
  EXPECT_EQ(c.report,
            "same objects, different order:\n"
            "  expected: [Deployment api] [Deployment web] [StatefulSet postgres]\n"
            "  rendered: [Deployment web] [Deployment api] [StatefulSet postgres]\n");
}

TEST(ConformanceHarnessTest, MissingAndExtraObjectsAreReported) {
  std::vector<Json> expected = OracleObjects("18-replicas");
  ASSERT_EQ(expected.size(), 3u);
  std::vector<Json> actual = expected;
  actual.erase(actual.begin());  // Deployment api
  actual.push_back(Json{{"apiVersion", "v1"},
                        {"kind", "ConfigMap"},
                        {"metadata", {{"name", "stray"}, {"namespace", "x"}}}});
  Comparison c = CompareStreams(expected, actual);
  EXPECT_FALSE(c.same_objects);
  EXPECT_EQ(c.report,
            "missing object #0 Deployment api\n"
            "unexpected object #2 ConfigMap x/stray\n");
}

TEST(ConformanceHarnessTest, DuplicateObjectsCountAsAMultiset) {
  std::vector<Json> expected = OracleObjects("01-resources-files");
  ASSERT_EQ(expected.size(), 2u);
  std::vector<Json> actual = {expected[0], expected[0]};
  Comparison c = CompareStreams(expected, actual);
  EXPECT_FALSE(c.same_objects);
  EXPECT_EQ(c.report,
            "missing object #1 Deployment web\n"
            "unexpected object #1 Service web\n");
}

}  // namespace
}  // namespace driftguard::reconciler
