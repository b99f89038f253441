// Differential tests: core::ParseYamlStream (driftguard's own parser) against the former yaml-cpp
// implementation (tests/support/yaml_cpp_reference.h) on every YAML file in the repository and
// on hand-written snippets that trip parsers. Where yaml-cpp accepts a stream, ours must produce
// the same documents (Json with exact number types, indices, start positions, and the same
// positions for every pointer). Inputs that only one side accepts are listed explicitly.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/yaml.h"
#include "tests/support/test_util.h"
#include "tests/support/yaml_cpp_reference.h"

namespace driftguard::core {
namespace {

using ::driftguard::testing::ParseYamlStreamWithYamlCpp;
using ::driftguard::testing::ReadFile;

std::string Describe(const std::vector<YamlDocument>& docs) {
  std::string out;
  for (const YamlDocument& d : docs) {
    out += "#" + std::to_string(d.index) + " @" + std::to_string(d.start.line) + ":" +
           std::to_string(d.start.column) + " " + d.value.dump() + "\n";
  }
  return out;
}

// Parses `text` with both implementations and compares. Returns a description of the first
// difference ("" when they agree).
std::string Compare(const std::string& text, bool record_positions) {
  YamlParseOptions options;
  options.record_positions = record_positions;
  options.keep_empty_documents = true;
  auto ours = ParseYamlStream(text, "in.yaml", options);
  auto theirs = ParseYamlStreamWithYamlCpp(text, "in.yaml", options);
  if (!theirs.ok()) return "";  // only documents yaml-cpp accepts are compared
  if (!ours.ok()) return "yaml-cpp accepts, ours fails: " + ours.status().message();
  if (Describe(*ours) != Describe(*theirs)) {
    return "documents differ:\nours:\n" + Describe(*ours) + "yaml-cpp:\n" + Describe(*theirs);
  }
  for (size_t i = 0; i < ours->size(); ++i) {
    const auto& a = (*ours)[i].positions;
    const auto& b = (*theirs)[i].positions;
    if (a.size() != b.size()) {
      return "document " + std::to_string(i) + ": " + std::to_string(a.size()) + " positions vs " +
             std::to_string(b.size());
    }
    for (const auto& [pointer, pos] : b) {
      auto it = a.find(pointer);
      if (it == a.end()) return "document " + std::to_string(i) + ": no position for " + pointer;
      if (it->second.line != pos.line || it->second.column != pos.column) {
        return "document " + std::to_string(i) + ": " + pointer + " at " +
               std::to_string(it->second.line) + ":" + std::to_string(it->second.column) +
               ", yaml-cpp " + std::to_string(pos.line) + ":" + std::to_string(pos.column);
      }
    }
  }
  return "";
}

std::vector<std::string> RepositoryYamlFiles() {
  std::vector<std::string> files;
  for (const char* dir : {"tests/testdata", "examples"}) {
    const std::filesystem::path root = std::filesystem::path(DRIFTGUARD_SOURCE_DIR) / dir;
    if (!std::filesystem::exists(root)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) {
        files.push_back(entry.path().string());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(YamlDifferentialTest, EveryRepositoryYamlFileParsesAsWithYamlCpp) {
  const std::vector<std::string> files = RepositoryYamlFiles();
  ASSERT_GE(files.size(), 150u);
  size_t compared = 0;
  for (const std::string& file : files) {
    const std::string text = ReadFile(file);
    EXPECT_EQ(Compare(text, true), "") << file;
    EXPECT_EQ(Compare(text, false), "") << file;
    if (ParseYamlStreamWithYamlCpp(text, file).ok()) ++compared;
  }
  // Nearly all of them are valid YAML; the few invalid ones are rejected by both.
  EXPECT_GE(compared, files.size() - 20);
}

// Snippets that exercise the corners of YAML. Each is also parsed by yaml-cpp; both must agree.
const char* const kSnippets[] = {
    // Plain scalars: folding, indicators inside, comments.
    "a: one\n  two\n   three\n",
    "a: one\n\n  two\n\n\n  three\n",
    "a: x:y\nb: http://example.com/p?q=1#frag\nc: a#b\nd: a # comment\n",
    "- one\n  two\n- three\n",
    "key:    value with   inner   spaces   \n",
    "a: -1\nb: -x\nc: ?x\nd: :x\ne: 'x'\n",
    "plain: text # trailing comment\n# full line comment\nnext: 2 # another\n",
    "a:\n  # comment between key and value\n  b: 1\n",
    "a: 1\n# comment at column 0\n  # indented comment\nb: 2\n",
    "  indented: root\n  map: 1\n",
    // Single and double quotes.
    "a: 'it''s'\nb: \"say \\\"hi\\\"\"\nc: ''\nd: \"\"\n",
    "a: \"tab\\tnew\\nline\\\\ \\x41\\u00e9\\U0001F600 \\/ \\0end\"\n",
    "a: \"folded\n  line\n\n  para\"\nb: 'single\n  folded\n\n\n  x'\n",
    "a: \"escaped \\\n  break\"\nb: \"trailing   \n  spaces\"\n",
    "a: \"---\"\nb: '...'\nc: \"# not a comment\"\nd: 'a: b'\n",
    "\"quoted key\": 1\n'single key': 2\n\"a:b\": 3\n",
    // Block scalars.
    "a: |\n  line 1\n    indented\n  line 3\nb: >\n  folded\n  text\n\n  para\n",
    "a: |-\n  strip\n\n\nb: |+\n  keep\n\n\nc: |\n  clip\n\n\nd: x\n",
    "a: >-\n  one\n  two\n\n    more\n    indented\n  back\nb: 1\n",
    "a: |2\n    two extra\n  base\nb: >1\n  x\n",
    "- |\n  in a list\n- >\n  folded\n  item\n- last\n",
    "a: |\n\n\n  after empty lines\nb: |\n  x\n  \n  y\n",
    "a: |  # a comment on the header\n  text\n",
    "a: |\nb: 1\n",
    "a: >\n  trailing spaces   \n  next\n",
    "a: |\n  # not a comment\n  x\n",
    "a: |\n  \nb: 1\n",  // found by the fuzzer: a blank line wider than the next text line
    "a: >\n\n  x\nb: 1\n",
    // Flow collections.
    "a: [1, two, \"three\", 'four', {five: 5}, [6]]\n",
    "a: {x: 1, y: [a, b], z: {q: r}}\nb: []\nc: {}\n",
    "a: [\n  1,\n  2,  # comment\n  3,\n]\nb: {\n  k: v,\n}\n",
    "a: [a: 1, b]\nb: {k, l: 2}\nc: {\"j\":1}\n",
    "- [a, b]\n- {c: d}\n- [ ]\n",
    "a: [x:y, 'q']\nb: {url: http://x/y}\n",
    // Block structure.
    "a:\n- 1\n- 2\nb:\n  - 3\n  - 4\n",
    "- - a\n  - b\n- - c\n",
    "- a: 1\n  b: 2\n- c: 3\n",
    "- \n- x\n-\n",
    "a:\nb: ~\nc: null\nd:\n",
    "top:\n  mid:\n    low:\n      leaf: 1\n  back: 2\n",
    "? explicit\n: value\n? second\n",
    "? |\n  block key\n: v\n",
    // Anchors, aliases, tags, merge keys.
    "base: &b {x: 1, y: 2}\nuse: *b\nlist: [*b, *b]\n",
    "a: &s scalar\nb: *s\n&k key: 1\nc: *k\n",
    "base: &b\n  x: 1\nm:\n  <<: *b\n  y: 2\nn:\n  <<: [*b, {z: 3}]\n",
    "a: !!str 123\nb: !!int \"7\"\nc: !custom x\nd: !<tag:yaml.org,2002:str> 5\ne: ! 9\n",
    "%YAML 1.2\n---\na: 1\n",
    "%TAG !e! tag:example.com,2000:\n---\na: !e!thing 1\n",
    "a: !!null\nb: !!str\nc: &anc\n",
    // Documents.
    "--- a\n...\n--- b\n",
    "---\n---\nx: 1\n...\n",
    "# leading comment\n---\n# inside\na: 1\n",
    "--- |\n  block root\n",
    "--- [flow, root]\n",
    "a: 1\n---\n",
    // Whitespace: tabs as separators, CRLF, BOM, trailing spaces, no final newline.
    "a:\t1\nb: x\ty\nc: [1,\t2]\n",
    "a: 1\r\nb:\r\n  - x\r\n  - y\r\nc: |\r\n  l1\r\n  l2\r\n",
    "\xEF\xBB\xBF"
    "a: 1\nb: 2\n",
    "a: 1   \nb:   \n  c: 2  \n",
    "a: x\ry\nb: |\n  l\rm\n",  // found by the fuzzer: a lone CR is an ordinary character
    "a: 1",
    "a: |\n  no newline at end",
    "- x\n- y",
    // Numbers and keys.
    "1: a\n2.5: b\ntrue: c\n~: d\n0x10: e\n",
    "v: [0o17, 0b11, 1_000, .5, -.inf, 1e3, 0777, 12:30, 2024-01-01]\n",
    // Kubernetes-shaped.
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {app: web}\ndata:\n  "
    "config.json: |\n    {\"a\": 1}\n  empty: \"\"\n",
};

class YamlSnippetTest : public ::testing::TestWithParam<size_t> {};

TEST_P(YamlSnippetTest, ParsesAsWithYamlCpp) {
  const std::string text = kSnippets[GetParam()];
  // Every snippet is valid YAML that both parsers accept.
  auto theirs = ParseYamlStreamWithYamlCpp(text, "in.yaml");
  ASSERT_TRUE(theirs.ok()) << theirs.status() << "\n" << text;
  auto ours = ParseYamlStream(text, "in.yaml");
  ASSERT_TRUE(ours.ok()) << ours.status() << "\n" << text;
  EXPECT_EQ(Compare(text, true), "") << text;
  EXPECT_EQ(Compare(text, false), "") << text;
}

INSTANTIATE_TEST_SUITE_P(Corpus, YamlSnippetTest,
                         ::testing::Range<size_t>(0, sizeof(kSnippets) / sizeof(kSnippets[0])));

// Where yaml-cpp was more lenient than YAML 1.2 (and go-yaml), ours rejects with a clear error.
TEST(YamlStrictnessTest, InputsOnlyYamlCppAcceptedAreErrorsNow) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"a: \"open\n", "in.yaml: document 1, line 1, column 4: found unclosed quoted scalar"},
      {"a: [x, , y]\n",
       "in.yaml: document 1, line 1, column 8: did not find expected node content"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(ParseYamlStreamWithYamlCpp(c.text, "in.yaml").ok()) << c.text;
    auto ours = ParseYamlStream(c.text, "in.yaml");
    ASSERT_FALSE(ours.ok()) << c.text;
    EXPECT_EQ(ours.status().message(), c.error);
  }
}

TEST(YamlStrictnessTest, SyntaxErrorsAreClear) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"a:\n\tb: 1\n",
       "in.yaml: document 1, line 2, column 2: found a tab character where an indentation space "
       "is expected"},
      {"a: \"\\ud800\"\n",
       "in.yaml: document 1, line 1, column 5: found invalid Unicode character escape code"},
      {"a: \"\\q\"\n", "in.yaml: document 1, line 1, column 5: found unknown escape character 'q'"},
      {"a: |0\n  x\n",
       "in.yaml: document 1, line 1, column 5: found an indentation indicator equal to 0"},
      {"a: 'x\n", "in.yaml: document 1, line 1, column 4: found unclosed quoted scalar"},
      {"a: [1, 2\n", "in.yaml: document 1, line 2, column 1: did not find expected ',' or ']'"},
      {"a: {b: 1\n", "in.yaml: document 1, line 2, column 1: did not find expected ',' or '}'"},
      {"- a\nb: 1\n", "in.yaml: document 1, line 2, column 1: did not find expected '-' indicator"},
      {"a: 1\nb\n",
       "in.yaml: document 1, line 2, column 1: could not find expected ':' after a "
       "mapping key"},
      {"a: - b\n",
       "in.yaml: document 1, line 1, column 4: block sequence entries are not allowed "
       "here"},
      {"a: x\n  b: 1\n",
       "in.yaml: document 1, line 2, column 4: mapping values are not allowed "
       "here (implicit keys are one line)"},
      {"a: @x\n",
       "in.yaml: document 1, line 1, column 4: found character '@' that cannot start "
       "any token"},
  };
  for (const Case& c : cases) {
    auto ours = ParseYamlStream(c.text, "in.yaml");
    ASSERT_FALSE(ours.ok()) << c.text;
    EXPECT_EQ(ours.status().message(), c.error);
  }
}

}  // namespace
}  // namespace driftguard::core
