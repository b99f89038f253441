#include "core/yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

using ::driftguard::testing::ReadFile;
using ::driftguard::testing::RunCommand;
using ::driftguard::testing::TempDir;
using ::driftguard::testing::WriteFile;

const std::string kYamlDir = std::string(DRIFTGUARD_TESTDATA_DIR) + "/yaml/";

std::vector<Json> Values(const std::vector<YamlDocument>& docs) {
  std::vector<Json> out;
  for (const YamlDocument& d : docs) out.push_back(d.value);
  return out;
}

std::vector<Json> ParseValues(const std::string& text, const std::string& source) {
  auto docs = ParseYamlStream(text, source);
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok()) return {};
  return Values(*docs);
}

// Exact equality including number types (1 and 1.0 differ), which Json's operator== ignores.
void ExpectIdentical(const std::vector<Json>& a, const std::vector<Json>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].dump(), b[i].dump()) << "document " << i;
}

// Orders documents as kubectl may reorder them (Namespaces first, ...): by kind and name.
std::vector<Json> SortedByIdentity(std::vector<Json> docs) {
  auto key = [](const Json& j) {
    return j.value("kind", std::string()) + "/" +
           (j.contains("metadata") ? j["metadata"].value("name", std::string()) : std::string());
  };
  std::stable_sort(docs.begin(), docs.end(),
                   [&](const Json& a, const Json& b) { return key(a) < key(b); });
  return docs;
}

// Renders `yaml_text` with `kubectl kustomize` (the semantics oracle) and parses its output.
std::vector<Json> KubectlKustomize(const std::string& yaml_text) {
  TempDir dir;
  WriteFile(dir.path() / "kustomization.yaml", "resources:\n- input.yaml\n");
  WriteFile(dir.path() / "input.yaml", yaml_text);
  auto result = RunCommand("kubectl kustomize " + dir.str() + " 2>&1");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return SortedByIdentity(ParseValues(result.output, "kubectl output"));
}

class YamlFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(YamlFixtureTest, RoundTripsThroughEmitter) {
  const std::string text = ReadFile(kYamlDir + GetParam());
  std::vector<Json> docs = ParseValues(text, GetParam());
  ASSERT_FALSE(docs.empty());
  const std::string emitted = EmitYamlStream(docs);
  ExpectIdentical(ParseValues(emitted, "emitted"), docs);
  // Emitting is deterministic and idempotent.
  EXPECT_EQ(EmitYamlStream(ParseValues(emitted, "emitted")), emitted);
}

TEST_P(YamlFixtureTest, KubectlReadsOriginalAndEmittedAsWeDo) {
  const std::string text = ReadFile(kYamlDir + GetParam());
  const std::vector<Json> ours = SortedByIdentity(ParseValues(text, GetParam()));
  const std::vector<Json> from_original = KubectlKustomize(text);
  const std::vector<Json> from_emitted = KubectlKustomize(EmitYamlStream(ours));
  // kubectl prints 1.0 as 1, so compare values (Json's == treats 1 and 1.0 as equal).
  EXPECT_EQ(from_original, ours);
  EXPECT_EQ(from_emitted, ours);
}

INSTANTIATE_TEST_SUITE_P(Manifests, YamlFixtureTest,
                         ::testing::Values("deployment.yaml", "crd.yaml", "multidoc.yaml",
                                           "merge.yaml"),
                         [](const auto& info) {
                           std::string name = info.param.substr(0, info.param.find('.'));
                           return name;
                         });

TEST(YamlParseTest, DeploymentValuesKeepKubernetesTypes) {
  auto parsed = ParseYaml(ReadFile(kYamlDir + "deployment.yaml"), "deployment.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Json& d = *parsed;
  const Json& ann = d["metadata"]["annotations"];
  EXPECT_EQ(ann["sidecar.istio.io/inject"], Json("yes"));
  EXPECT_EQ(ann["example.com/on-call"], Json("on"));
  EXPECT_EQ(ann["prometheus.io/scrape"], Json("true"));
  EXPECT_EQ(ann["prometheus.io/port"], Json("9797"));
  EXPECT_EQ(ann["example.com/owner"], Json("team-a"));
  EXPECT_EQ(ann["example.com/release-notes"],
            Json("First line of the notes.\n  An indented line: kept as written.\n\nLast "
                 "paragraph.\n"));
  EXPECT_EQ(ann["example.com/summary"], Json("folded text joins lines"));
  EXPECT_EQ(d["metadata"]["labels"]["app.kubernetes.io/version"], Json("6.5.0"));

  const Json& spec = d["spec"];
  EXPECT_TRUE(spec["replicas"].is_number_integer());
  EXPECT_EQ(spec["replicas"].get<int64_t>(), 3);
  EXPECT_EQ(spec["strategy"]["rollingUpdate"]["maxSurge"], Json("25%"));
  EXPECT_TRUE(spec["strategy"]["rollingUpdate"]["maxUnavailable"].is_number_integer());

  const Json& pod = spec["template"]["spec"];
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], Json(true));
  EXPECT_EQ(pod["tolerations"], Json::array());
  EXPECT_EQ(pod["volumes"][0]["emptyDir"], Json::object());
  EXPECT_EQ(pod["volumes"][1]["configMap"]["defaultMode"].get<int64_t>(), 420);  // 0644
  EXPECT_EQ(pod["volumes"][1]["configMap"]["optional"], Json(false));

  const Json& c = pod["containers"][0];
  EXPECT_EQ(c["command"][1], Json("--port=9898"));
  EXPECT_EQ(c["command"][4], Json("--random-delay=false"));
  EXPECT_EQ(c["ports"][0]["containerPort"].get<int64_t>(), 9898);
  EXPECT_EQ(c["readinessProbe"]["exec"]["command"],
            Json::parse(R"(["podcli","check","http","localhost:9898/readyz"])"));
  EXPECT_EQ(c["resources"]["limits"]["cpu"], Json("2"));
  EXPECT_EQ(c["resources"]["requests"]["cpu"], Json("100m"));
  const Json& env = c["env"];
  EXPECT_EQ(env[0]["value"], Json("#34577c"));
  EXPECT_EQ(env[1]["value"], Json("Greetings: from \"podinfo\""));
  EXPECT_EQ(env[2]["value"], Json("yes"));
  EXPECT_EQ(env[3]["value"], Json("8080"));
  EXPECT_EQ(env[4]["value"], Json("1.0"));
  EXPECT_EQ(env[5]["value"], Json(""));
  EXPECT_EQ(env[6]["valueFrom"]["fieldRef"]["fieldPath"], Json("metadata.name"));
}

TEST(YamlParseTest, MultiDocumentStream) {
  const std::string text = ReadFile(kYamlDir + "multidoc.yaml");
  auto docs = ParseYamlStream(text, "multidoc.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_EQ((*docs)[0].value["kind"], Json("Namespace"));
  EXPECT_EQ((*docs)[0].index, 0);
  EXPECT_EQ((*docs)[0].start.line, 2);
  EXPECT_EQ((*docs)[1].value["kind"], Json("ConfigMap"));
  EXPECT_EQ((*docs)[1].index, 2);  // the empty document is index 1
  EXPECT_EQ((*docs)[1].value["data"]["mode"], Json("off"));
  EXPECT_EQ((*docs)[1].value["data"]["script"], Json("#!/bin/sh\necho \"---\"\nexit 0\n"));
  EXPECT_EQ((*docs)[2].value["kind"], Json("Service"));
  EXPECT_EQ((*docs)[2].index, 3);
  EXPECT_EQ((*docs)[2].start.line, 24);

  YamlParseOptions keep;
  keep.keep_empty_documents = true;
  auto all = ParseYamlStream(text, "multidoc.yaml", keep);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_TRUE((*all)[1].value.is_null());
  EXPECT_EQ((*all)[1].index, 1);
}

TEST(YamlParseTest, StreamEdgeCases) {
  EXPECT_EQ(ParseValues("", "empty").size(), 0u);
  EXPECT_EQ(ParseValues("# only a comment\n", "c").size(), 0u);
  EXPECT_EQ(ParseValues("---\n---\n...\n", "markers").size(), 0u);
  ExpectIdentical(ParseValues("a: 1\n...\n# c\n---\nb: 2\n", "s"),
                  {Json::parse(R"({"a":1})"), Json::parse(R"({"b":2})")});
  ExpectIdentical(ParseValues("--- a\n--- |\n  b\n", "inline"), {Json("a"), Json("b\n")});
  ExpectIdentical(ParseValues("\xEF\xBB\xBF"
                              "a: 1\r\nb: x\r\n",
                              "bom-crlf"),
                  {Json::parse(R"({"a":1,"b":"x"})")});

  auto one = ParseYaml("", "empty");
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->is_null());
  auto two = ParseYaml("a: 1\n---\nb: 2\n", "two.yaml");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().message(), "two.yaml: expected one YAML document, found 2");
}

// Each expectation here was checked against `kubectl kustomize` (go-yaml v3 resolution),
// except plain timestamps, which stay strings (YAML 1.2 has no timestamp type).
TEST(YamlParseTest, PlainScalarResolution) {
  auto parsed = ParseYaml(
      "[0b101, 017, 08, 1_000, +1, 1e3, .5, '1.', 1., -0x1F, 0o777, 0X1f, 12:30, 2024-01-01,"
      " 1.0, -0, .inf, -.Inf, True, TRUE, tRue, false, Null, NULL, nULL, ~, yes, Yes, on, off, y,"
      " n, 9223372036854775807, 9223372036854775808, -9223372036854775808,"
      " -9223372036854775809, 18446744073709551615, 18446744073709551616, 1e400,"
      " 0xFFFFFFFFFFFFFFFFF, 1_0.5, 1Gi, 0.5Gi, v1, '8080', \"true\", ~x, -x, 0x]",
      "scalars");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Json& a = *parsed;
  auto is_int = [&](size_t i, int64_t v) {
    EXPECT_TRUE(a[i].is_number_integer()) << i << ": " << a[i].dump();
    if (a[i].is_number_unsigned()) {
      EXPECT_EQ(a[i].get<uint64_t>(), static_cast<uint64_t>(v)) << i;
    } else {
      EXPECT_EQ(a[i].get<int64_t>(), v) << i;
    }
  };
  auto is_float = [&](size_t i, double v) {
    EXPECT_TRUE(a[i].is_number_float()) << i << ": " << a[i].dump();
    EXPECT_EQ(a[i].get<double>(), v) << i;
  };
  auto is_str = [&](size_t i, const char* v) { EXPECT_EQ(a[i], Json(v)) << i; };
  is_int(0, 5);
  is_int(1, 15);
  is_float(2, 8);
  is_int(3, 1000);
  is_int(4, 1);
  is_float(5, 1000);
  is_float(6, 0.5);
  is_str(7, "1.");
  is_float(8, 1);
  is_int(9, -31);
  is_int(10, 511);
  is_int(11, 31);
  is_str(12, "12:30");
  is_str(13, "2024-01-01");
  is_float(14, 1.0);
  is_int(15, 0);
  is_float(16, std::numeric_limits<double>::infinity());
  is_float(17, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(a[18], Json(true));
  EXPECT_EQ(a[19], Json(true));
  is_str(20, "tRue");
  EXPECT_EQ(a[21], Json(false));
  EXPECT_TRUE(a[22].is_null());
  EXPECT_TRUE(a[23].is_null());
  is_str(24, "nULL");
  EXPECT_TRUE(a[25].is_null());
  for (size_t i = 26; i <= 31; ++i) EXPECT_TRUE(a[i].is_string()) << i;
  is_int(32, std::numeric_limits<int64_t>::max());
  EXPECT_TRUE(a[33].is_number_unsigned());
  EXPECT_EQ(a[33].get<uint64_t>(), 9223372036854775808u);
  is_int(34, std::numeric_limits<int64_t>::min());
  is_float(35, -9223372036854775809.0);
  EXPECT_TRUE(a[36].is_number_unsigned());
  EXPECT_EQ(a[36].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  is_float(37, 18446744073709551616.0);
  is_str(38, "1e400");
  is_str(39, "0xFFFFFFFFFFFFFFFFF");
  is_float(40, 10.5);
  is_str(41, "1Gi");
  is_str(42, "0.5Gi");
  is_str(43, "v1");
  is_str(44, "8080");
  is_str(45, "true");
  is_str(46, "~x");
  is_str(47, "-x");
  is_str(48, "0x");

  auto nan = ParseYaml("[.nan, .NaN, .NAN]", "nan");
  ASSERT_TRUE(nan.ok());
  for (const Json& j : *nan) EXPECT_TRUE(std::isnan(j.get<double>()));
}

TEST(YamlParseTest, TagsNullsAndKeys) {
  auto parsed = ParseYaml(
      "tagged: [!!str 1, !!int \"12\", !!bool \"true\", !!float \"1\", !!null \"\", !!float 3,"
      " !!str true, !!int 0x10, !custom 12, ! 12]\n"
      "nulls: {a: , b: null, c: ~, d: \"\"}\n"
      "keys: {1: a, 0x10: b, true: c, ~: d, \"2\": e, 'yes': f, on: g}\n"
      "block: |+\n  kept\n\n"
      "folded: >\n  a\n  b\n\n  c\n"
      "strip: |-\n  x\n",
      "tags");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->at("tagged").dump(), R"(["1",12,true,1.0,null,3.0,"true",16,"12","12"])");
  EXPECT_EQ(parsed->at("nulls").dump(), R"({"a":null,"b":null,"c":null,"d":""})");
  EXPECT_EQ(parsed->at("keys").dump(),
            R"({"1":"a","16":"b","2":"e","null":"d","on":"g","true":"c","yes":"f"})");
  EXPECT_EQ(parsed->at("block"), Json("kept\n\n"));
  EXPECT_EQ(parsed->at("folded"), Json("a b\nc\n"));
  EXPECT_EQ(parsed->at("strip"), Json("x"));
}

TEST(YamlParseTest, MergeKeysMatchKubectl) {
  auto parsed = ParseYaml(ReadFile(kYamlDir + "merge.yaml"), "merge.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->at("metadata").at("annotations").dump(), R"({"team":"a","tier":"api"})");
  EXPECT_EQ(parsed->at("x-overrides").dump(),
            R"({"one":{"color":"blue","shape":"round","size":"small"},)"
            R"("two":{"color":"blue","size":"large"}})");
  // A quoted "<<" is an ordinary key.
  auto quoted = ParseYaml("a: {\"<<\": {x: 1}}\n", "q");
  ASSERT_TRUE(quoted.ok());
  EXPECT_EQ(quoted->dump(), R"({"a":{"<<":{"x":1}}})");
}

TEST(YamlParseTest, PositionsPointAtKeysAndSequenceItems) {
  YamlParseOptions options;
  options.record_positions = true;
  auto docs = ParseYamlStream(ReadFile(kYamlDir + "deployment.yaml"), "deployment.yaml", options);
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  const YamlDocument& d = docs->front();
  auto at = [&](const std::string& pointer) {
    auto it = d.positions.find(pointer);
    EXPECT_NE(it, d.positions.end()) << pointer;
    return it == d.positions.end() ? std::pair{0, 0}
                                   : std::pair{it->second.line, it->second.column};
  };
  EXPECT_EQ(at(""), std::pair(3, 1));
  EXPECT_EQ(at("/apiVersion"), std::pair(3, 1));
  EXPECT_EQ(at("/metadata/annotations/sidecar.istio.io~1inject"), std::pair(16, 5));
  EXPECT_EQ(at("/metadata/annotations/example.com~1release-notes"), std::pair(19, 5));
  EXPECT_EQ(at("/spec/replicas"), std::pair(28, 3));
  EXPECT_EQ(at("/spec/template/spec/containers"), std::pair(55, 7));
  EXPECT_EQ(at("/spec/template/spec/containers/0"), std::pair(56, 11));
  EXPECT_EQ(at("/spec/template/spec/containers/0/name"), std::pair(56, 11));
  EXPECT_EQ(at("/spec/template/spec/containers/0/command/1"), std::pair(61, 15));
  EXPECT_EQ(at("/spec/template/spec/containers/0/env/3/name"), std::pair(79, 15));
  EXPECT_EQ(at("/spec/template/spec/containers/0/env/3/value"), std::pair(80, 15));
  EXPECT_EQ(at("/spec/template/spec/containers/0/readinessProbe/exec/command/0"),
            std::pair(99, 25));
  EXPECT_EQ(at("/spec/template/spec/volumes/0/emptyDir"), std::pair(117, 11));
  EXPECT_EQ(at("/spec/template/spec/volumes/1/configMap/defaultMode"), std::pair(121, 13));
  EXPECT_EQ(at("/spec/template/spec/tolerations"), std::pair(123, 7));
  // Every node has a position, and nothing else does.
  size_t nodes = 0;
  std::vector<const Json*> todo{&d.value};
  while (!todo.empty()) {
    const Json* j = todo.back();
    todo.pop_back();
    ++nodes;
    for (const Json& child : *j) {
      if (j->is_structured()) todo.push_back(&child);
    }
  }
  EXPECT_EQ(d.positions.size(), nodes);
  for (const auto& [pointer, pos] : d.positions) {
    EXPECT_NE(FindPointer(d.value, pointer), nullptr) << pointer;
  }

  auto plain = ParseYamlStream("a: 1\n", "p");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->front().positions.empty());
}

TEST(YamlParseTest, PositionsThroughAliasesMergesAndLaterDocuments) {
  YamlParseOptions options;
  options.record_positions = true;
  auto docs = ParseYamlStream("x: 0\n---\nbase: &b\n  k: 1\nuse:\n  - *b\nm:\n  <<: *b\n  j: 2\n",
                              "a.yaml", options);
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  const auto& p = (*docs)[1].positions;
  auto at = [&](const std::string& pointer) {
    auto it = p.find(pointer);
    return it == p.end() ? std::pair{0, 0} : std::pair{it->second.line, it->second.column};
  };
  EXPECT_EQ(at("/base/k"), std::pair(4, 3));
  EXPECT_EQ(at("/use/0"), std::pair(6, 5));    // the alias
  EXPECT_EQ(at("/use/0/k"), std::pair(4, 3));  // where the anchored content declares it
  EXPECT_EQ(at("/m/k"), std::pair(4, 3));
  EXPECT_EQ(at("/m/j"), std::pair(9, 3));
  EXPECT_EQ(p.size(), 9u);  // "", base, base/k, use, use/0, use/0/k, m, m/k, m/j
}

// ---------------------------------------------------------------------------------------------
// Hostile and malformed input: exact messages.

std::string ParseError(const std::string& text, const YamlParseOptions& options = {}) {
  auto docs = ParseYamlStream(text, "bad.yaml", options);
  EXPECT_FALSE(docs.ok());
  return docs.ok() ? std::string("<ok>") : docs.status().message();
}

TEST(YamlErrorTest, AliasBombIsBoundedByMaxNodes) {
  std::string bomb = "ok: 1\n---\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string name(1, c);
    bomb += name + ": &" + name + " [";
    for (int i = 0; i < 9; ++i) bomb += (i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = name;
  }
  EXPECT_EQ(ParseError(bomb),
            "bad.yaml: document 2, line 9, column 8: document expands to more than 1048576 nodes "
            "(YamlLimits::max_nodes); aliases expand too much");
  YamlParseOptions small;
  small.limits.max_nodes = 20;
  EXPECT_EQ(ParseError("a: &a [1, 2, 3, 4, 5]\nb: [*a, *a, *a]\n", small),
            "bad.yaml: document 1, line 2, column 13: document expands to more than 20 nodes "
            "(YamlLimits::max_nodes); aliases expand too much");
}

TEST(YamlErrorTest, NestingDeeperThanMaxDepth) {
  std::string ok = "a: " + std::string(99, '[') + std::string(99, ']') + "\n";
  EXPECT_TRUE(ParseYamlStream(ok, "ok").ok());
  std::string deep = "a: " + std::string(100, '[') + std::string(100, ']') + "\n";
  EXPECT_EQ(ParseError(deep),
            "bad.yaml: document 1, line 1, column 103: nesting deeper than 100 levels "
            "(YamlLimits::max_depth)");
  // 200,000 unclosed brackets: stopped at the limit, no stack overflow.
  EXPECT_EQ(ParseError(std::string(200000, '[')),
            "bad.yaml: document 1, line 1, column 51: nesting deeper than 100 levels "
            "(YamlLimits::max_depth)");
  std::string dashes;
  for (int i = 0; i < 200000; ++i) dashes += "- ";
  EXPECT_EQ(ParseError(dashes + "x\n"),
            "bad.yaml: document 1, line 1, column 201: nesting deeper than 100 levels "
            "(YamlLimits::max_depth)");
  // Aliases cannot stack beyond the limit either.
  std::string chain = "a0: &a0 [1]\n";
  for (int i = 1; i <= 100; ++i) {
    chain += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) +
             "]\n";
  }
  EXPECT_EQ(ParseError(chain),
            "bad.yaml: document 1, line 100, column 12: nesting deeper than 100 levels "
            "(YamlLimits::max_depth)");
}

TEST(YamlErrorTest, DocumentOverMaxBytes) {
  YamlParseOptions small;
  small.limits.max_document_bytes = 64;
  const std::string big = "---\nkey: " + std::string(70, 'x') + "\n";  // 80 bytes
  EXPECT_EQ(ParseError("a: 1\n" + big, small),
            "bad.yaml: document 2, line 2, column 1: document is 80 bytes, over the limit of 64 "
            "bytes (YamlLimits::max_document_bytes)");
  const std::string huge = "data: " + std::string((8 << 20) + 1, 'x') + "\n";
  EXPECT_EQ(ParseError(huge),
            "bad.yaml: document 1, line 1, column 1: document is 8388616 bytes, over the limit of "
            "8388608 bytes (YamlLimits::max_document_bytes)");
}

TEST(YamlErrorTest, InvalidUtf8PointsAtFirstBadByte) {
  EXPECT_EQ(ParseError("a: h\xC3\xA9llo\n---\nb: ok\nc: \"x\xFFy\"\n"),
            "bad.yaml: document 2, line 4, column 6: invalid UTF-8 byte 0xFF");
  EXPECT_EQ(ParseError("a: \xE2\x82\n"),  // truncated sequence
            "bad.yaml: document 1, line 1, column 4: invalid UTF-8 byte 0xE2");
  EXPECT_EQ(ParseError("a: \xC0\xAF\n"),  // overlong encoding of '/'
            "bad.yaml: document 1, line 1, column 4: invalid UTF-8 byte 0xC0");
  EXPECT_EQ(ParseError("a: \xED\xA0\x80\n"),  // UTF-16 surrogate
            "bad.yaml: document 1, line 1, column 4: invalid UTF-8 byte 0xED");
  EXPECT_EQ(ParseError(std::string("a: b\0"
                                   "c\n",
                                   7)),
            "bad.yaml: document 1, line 1, column 5: NUL byte");
}

TEST(YamlErrorTest, DuplicateKeys) {
  EXPECT_EQ(ParseError("a: 1\n---\nb:\n  x: 1\n  y: 2\n  x: 3\n"),
            "bad.yaml: document 2, line 6, column 3: duplicate key \"x\"");
  EXPECT_EQ(ParseError("{a: 1, \"a\": 2}\n"),
            "bad.yaml: document 1, line 1, column 8: duplicate key \"a\"");
  EXPECT_EQ(ParseError("1: a\n0x1: b\n"),
            "bad.yaml: document 1, line 2, column 1: duplicate key \"1\"");
  EXPECT_EQ(ParseError("m:\n  <<: {a: 1}\n  <<: {b: 1}\n"),
            "bad.yaml: document 1, line 3, column 3: duplicate key \"<<\"");
}

TEST(YamlErrorTest, SyntaxErrorsAliasesAndTags) {
  EXPECT_EQ(ParseError("a: 1\n---\nb: [1, 2\nc: 3\n"),
            "bad.yaml: document 2, line 5, column 1: did not find expected ',' or ']'");
  EXPECT_EQ(ParseError("a:\n  b: 1\n c: 2\n"),
            "bad.yaml: document 1, line 3, column 2: did not find expected key");
  EXPECT_EQ(
      ParseError("a: }\n"),
      "bad.yaml: document 1, line 1, column 4: found unexpected '}' outside a flow collection");
  EXPECT_EQ(ParseError("a: b: c\n"),
            "bad.yaml: document 1, line 1, column 5: mapping values are not allowed here");
  EXPECT_EQ(ParseError("a: 1\nb: *nope\n"),
            "bad.yaml: document 1, line 2, column 4: the referenced anchor is not defined");
  EXPECT_EQ(ParseError("a: &x [1, *x]\n"),
            "bad.yaml: document 1, line 1, column 11: alias refers to a node that contains it "
            "(recursive alias)");
  EXPECT_EQ(ParseError("? [a]\n: 1\n"),
            "bad.yaml: document 1, line 1, column 3: mapping keys must be scalars");
  EXPECT_EQ(ParseError("a: !!int abc\n"),
            "bad.yaml: document 1, line 1, column 4: cannot read \"abc\" as !!int");
  EXPECT_EQ(ParseError("m: {<<: 5}\n"),
            "bad.yaml: document 1, line 1, column 5: the value of a merge key \"<<\" must be a "
            "mapping or a sequence of mappings");
}

// ---------------------------------------------------------------------------------------------
// Emitter.

TEST(YamlEmitTest, KubectlLayout) {
  Json j = Json::parse(R"({
    "apiVersion": "v1",
    "spec": {
      "containers": [{"name": "x", "args": ["--a", "b"], "env": [{"name": "A", "value": "1"}]}],
      "nested": [[1, 2], [{"a": 1, "b": 2}], []],
      "empty": {}, "none": [], "n": null, "f": 1.5, "g": 2.0, "big": 18446744073709551615,
      "script": "line 1\n  line 2\n", "strip": "a\nb", "keep": "a\n\n",
      "items": ["multi\nline", {"k": "v"}]
    }
  })");
  EXPECT_EQ(EmitYaml(j),
            "apiVersion: v1\n"
            "spec:\n"
            "  big: 18446744073709551615\n"
            "  containers:\n"
            "  - args:\n"
            "    - --a\n"
            "    - b\n"
            "    env:\n"
            "    - name: A\n"
            "      value: \"1\"\n"
            "    name: x\n"
            "  empty: {}\n"
            "  f: 1.5\n"
            "  g: 2.0\n"
            "  items:\n"
            "  - |-\n"
            "    multi\n"
            "    line\n"
            "  - k: v\n"
            "  keep: |+\n"
            "    a\n"
            "\n"
            "  \"n\": null\n"
            "  nested:\n"
            "  - - 1\n"
            "    - 2\n"
            "  - - a: 1\n"
            "      b: 2\n"
            "  - []\n"
            "  none: []\n"
            "  script: |\n"
            "    line 1\n"
            "      line 2\n"
            "  strip: |-\n"
            "    a\n"
            "    b\n");
  EXPECT_EQ(EmitYaml(Json::object()), "{}\n");
  EXPECT_EQ(EmitYaml(Json::array()), "[]\n");
  EXPECT_EQ(EmitYaml(Json()), "null\n");
  EXPECT_EQ(EmitYaml(Json("yes")), "\"yes\"\n");
  EXPECT_EQ(EmitYamlStream({Json::parse(R"({"a":1})"), Json::parse(R"({"b":"x"})")}),
            "a: 1\n---\nb: x\n");
  EXPECT_EQ(EmitYamlStream({}), "");
}

TEST(YamlEmitTest, QuotesOnlyWhereAReaderWouldDisagree) {
  auto emit = [](const std::string& s) {
    std::string out = EmitYaml(Json{{"k", s}});
    return out.substr(3, out.size() - 4);  // strip "k: " and "\n"
  };
  for (const char* s :
       {"yes",  "No",  "on",    "OFF",    "y",     "N",     "true",  "False",      "null", "~",
        "8080", "1.0", "0x1F",  "1e3",    "1_000", "0b101", "12:30", "2024-01-01", ".inf", "-.5",
        "+1",   "",    " lead", "trail ", "a: b",  "a #b",  "- x",   "-",          "#x",   "&a",
        "*a",   "!t",  "|x",    ">x",     "%x",    "@x",    "`x",    "'x",         "\"x",  "{x",
        "[x",   "?x",  ":x",    "x:",     "---",   "...",   "<<",    "="}) {
    EXPECT_EQ(emit(s).front(), '"') << s << " -> " << emit(s);
  }
  for (const char* s : {"podinfo", "--port=9898", "1Gi", "100m", "v1.2.3", "x'", "a#b", "héllo",
                        "http://example.com/a?b=c", "ghcr.io/x/y:6.5.0", "25%", "a,b", "x-y"}) {
    EXPECT_EQ(emit(s), s) << s;
  }
  EXPECT_EQ(emit("tab\there"), "\"tab\\there\"");
  EXPECT_EQ(emit(std::string("ctl\x01\x7F", 5)), "\"ctl\\x01\\x7F\"");
  EXPECT_EQ(emit("trail  \nx"), "\"trail  \\nx\"");
  EXPECT_EQ(emit(" lead\nx"), "\" lead\\nx\"");
  EXPECT_EQ(emit("\n\n"), "\"\\n\\n\"");
  EXPECT_EQ(emit("q\"b\\s"), "q\"b\\s");
  EXPECT_EQ(emit("\xE2\x80\xA8"), "\"\\u2028\"");
}

// parse(emit(x)) == x, with exact number types, over strings and numbers that trip emitters.
TEST(YamlEmitTest, PropertyParseOfEmitIsIdentity) {
  std::vector<std::string> strings = {"",
                                      " ",
                                      "  ",
                                      "\t",
                                      "\n",
                                      "\n\n",
                                      "a\n",
                                      "a\n\n",
                                      "\na",
                                      "\n\na\n",
                                      "a\nb",
                                      "a\n b\n",
                                      " a\nb",
                                      "a \nb",
                                      "a\n\nb\n\n\n",
                                      "- a\n- b",
                                      "key: value\n",
                                      "#c\nd",
                                      "a\r\nb",
                                      "\r",
                                      "x\ty",
                                      "\ta\nb",
                                      "a\n\tb",
                                      "yes",
                                      "Yes",
                                      "YES",
                                      "no",
                                      "on",
                                      "off",
                                      "y",
                                      "n",
                                      "true",
                                      "True",
                                      "false",
                                      "null",
                                      "Null",
                                      "~",
                                      "",
                                      "0",
                                      "-0",
                                      "007",
                                      "08",
                                      "0x1F",
                                      "0o17",
                                      "0b1",
                                      "1_000",
                                      "1e3",
                                      "1E3",
                                      ".5",
                                      "5.",
                                      "+1",
                                      "-1",
                                      "1.0",
                                      ".inf",
                                      "-.inf",
                                      ".nan",
                                      "12:30",
                                      "1:2:3",
                                      "2024-01-01",
                                      "2024-01-01T10:00:00Z",
                                      "2001-12-14 21:59:43.10 -5",
                                      "'",
                                      "''",
                                      "\"",
                                      "\\",
                                      "\\n",
                                      "a'b",
                                      "a\"b",
                                      "---",
                                      "--- x",
                                      "...",
                                      "... x",
                                      "-",
                                      "--",
                                      "-a",
                                      "- a",
                                      "?",
                                      "? a",
                                      ":",
                                      ": a",
                                      "a:",
                                      "a: b",
                                      "a:b",
                                      "a #b",
                                      "a# b",
                                      "#",
                                      "# a",
                                      "&a",
                                      "*a",
                                      "!a",
                                      "!!str",
                                      "|",
                                      ">",
                                      "%",
                                      "@",
                                      "`",
                                      "{",
                                      "}",
                                      "[",
                                      "]",
                                      ",",
                                      "a,b",
                                      "{a: b}",
                                      "[a, b]",
                                      "<<",
                                      "=",
                                      "héllo wörld",
                                      "日本語",
                                      "emoji 😀",
                                      "\xC2\x85",
                                      "\xE2\x80\xA8",
                                      "\xE2\x80\xA9",
                                      "\xEF\xBB\xBF"
                                      "bom",
                                      std::string("nul\0byte", 8),
                                      "\x1B[31mred",
                                      "\x7F",
                                      "\xC2\x80",
                                      "a\xC2\xA0"
                                      "b",
                                      std::string(2000, 'k'),
                                      "multi\nline with: colon\n  and # hash\n",
                                      "last line no newline\n  indented",
                                      "trailing newline then spaces\n  "};
  std::vector<Json> values;
  for (const std::string& s : strings) values.emplace_back(s);
  for (double d : {0.0, -0.0, 1.0, -1.5, 0.1, 1e-7, 1e16, 1e21, 1.7976931348623157e308, 5e-324,
                   123456789.125, 2.5e-300, std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    values.emplace_back(d);
  }
  for (int64_t i : {int64_t{0}, int64_t{-1}, int64_t{42}, std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()}) {
    values.emplace_back(i);
  }
  values.emplace_back(std::numeric_limits<uint64_t>::max());
  values.emplace_back(true);
  values.emplace_back(nullptr);

  Json as_map = Json::object();
  Json as_list = Json::array();
  for (size_t i = 0; i < values.size(); ++i) {
    // As a root document, a mapping value, a key, a list item and a nested list item.
    const std::string root = EmitYaml(values[i]);
    auto back = ParseYaml(root, "root");
    ASSERT_TRUE(back.ok()) << values[i].dump() << "\n" << root << "\n" << back.status();
    EXPECT_EQ(back->dump(), values[i].dump()) << root;
    as_map["k" + std::to_string(i)] = values[i];
    as_list.push_back(Json::array({values[i], Json{{"v", values[i]}}}));
    if (values[i].is_string()) as_map[values[i].get<std::string>()] = i;
  }
  Json doc = {{"map", as_map}, {"list", as_list}};
  const std::string text = EmitYaml(doc);
  auto back = ParseYaml(text, "doc");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  EXPECT_EQ(back->dump(), doc.dump());

  auto nan = ParseYaml(EmitYaml(Json(std::numeric_limits<double>::quiet_NaN())), "nan");
  ASSERT_TRUE(nan.ok());
  EXPECT_TRUE(std::isnan(nan->get<double>()));
}

// kubectl (go-yaml, with YAML 1.1 leanings in places) reads every tricky string we emit as the
// same string.
TEST(YamlEmitTest, KubectlReadsEmittedTrickyStrings) {
  Json data = Json::object();
  int i = 0;
  for (const char* s : {"yes",
                        "no",
                        "on",
                        "off",
                        "y",
                        "n",
                        "Y",
                        "N",
                        "true",
                        "False",
                        "null",
                        "~",
                        "8080",
                        "1.0",
                        "0x1F",
                        "0o17",
                        "017",
                        "1_000",
                        "0b101",
                        "12:30",
                        "2024-01-01",
                        "2024-01-01T10:00:00Z",
                        "1e3",
                        ".inf",
                        "-.5",
                        "+1",
                        "",
                        " lead",
                        "trail ",
                        "a: b",
                        "a #b",
                        "- x",
                        "#x",
                        "@x",
                        "*x",
                        "&x",
                        "!x",
                        "%x",
                        "{x}",
                        "[x]",
                        "---",
                        "<<",
                        "=",
                        "tab\there",
                        "multi\nline\n",
                        "keep\n\n",
                        "no-newline\nx",
                        "trail  \nx",
                        " lead\nx",
                        "héllo",
                        "--port=9898",
                        "1Gi",
                        "x'",
                        "q\"b\\s",
                        "\xE2\x80\xA8"}) {
    data["k" + std::to_string(i++)] = s;
  }
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "tricky"}}},
             {"data", data}};
  std::vector<Json> from_kubectl = KubectlKustomize(EmitYaml(cm));
  ASSERT_EQ(from_kubectl.size(), 1u);
  EXPECT_EQ(from_kubectl[0].dump(), cm.dump());
}

}  // namespace
}  // namespace driftguard::core
