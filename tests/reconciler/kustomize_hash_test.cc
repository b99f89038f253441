// KustomizeHashSuffix against literal suffixes taken from `kubectl kustomize` and, at test time,
// against kubectl itself (the oracle) on the same generator inputs.
#include "reconciler/internal/kustomize_hash.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

using core::Json;

// One tree with many generators; kubectl renders it once per test binary.
constexpr char kKustomization[] = R"(namePrefix: pre-
nameSuffix: -v2
generatorOptions:
  labels: {team: payments}
  annotations: {note: ignored-by-the-hash}
configMapGenerator:
- name: literals
  literals: [a=1]
- name: other-name
  literals: [a=1]
- name: empty
- name: html
  literals: [a=1, b=<x&y>]
- name: immutable
  options:
    immutable: true
  literals: [k=v]
- name: files
  files: [app.properties]
- name: keyed
  files: [config.json=cfg.json]
- name: envs
  envs: [db.env]
- name: binary
  files: [logo.png]
- name: unicode
  literals: ["msg=h\u00e9llo\tworld\b", "sep=a\u2028b", "quote=say \"hi\" \\ ok"]
secretGenerator:
- name: basic
  literals: [u=admin]
- name: tls
  type: kubernetes.io/tls
  literals: [tls.crt=x, tls.key=y]
- name: immutable-secret
  options:
    immutable: true
  literals: [k=v]
- name: empty-secret
- name: secret-envs
  envs: [db.env]
- name: tls-files
  type: kubernetes.io/tls
  files: [tls.crt, tls.key]
)";

class KustomizeHashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const auto& d = dir_->path();
    testing::WriteFile(d / "kustomization.yaml", kKustomization);
    testing::WriteFile(d / "app.properties", "log.level=debug\nlog.format=json\n");
    testing::WriteFile(d / "cfg.json", "{\"port\": 8080}\n");
    testing::WriteFile(d / "db.env", "DB_HOST=db\n# comment\nDB_PORT=5432\nEMPTY=\n");
    testing::WriteFile(d / "tls.crt",
                       "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n");
    testing::WriteFile(d / "tls.key",
                       "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n");
    testing::WriteFile(d / "logo.png", std::string("\x89PNG\r\n\x1a\n\x00\xff", 10));
    testing::CommandResult r = testing::RunCommand("kubectl kustomize " + d.string() + " 2>&1");
    exit_code_ = r.exit_code;
    output_ = new std::string(r.output);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete output_;
  }

  // The suffix kubectl put on the generated object named pre-<base>-v2-<suffix>.
  static std::string OracleSuffix(const std::string& base) {
    EXPECT_EQ(exit_code_, 0) << *output_;
    std::smatch m;
    const std::regex re("\\n  name: pre-" + base + "-v2-([a-z0-9]{10})\\n");
    if (!std::regex_search(*output_, m, re)) {
      ADD_FAILURE() << "kubectl output has no object named pre-" << base << "-v2-*:\n" << *output_;
      return "";
    }
    return m[1];
  }

  static void Check(const std::string& base, const Json& object, const std::string& expected) {
    SCOPED_TRACE(base);
    EXPECT_EQ(KustomizeHashSuffix(object), expected);
    EXPECT_EQ(KustomizeHashSuffix(object), OracleSuffix(base));
  }

  static testing::TempDir* dir_;
  static std::string* output_;
  static int exit_code_;
};

testing::TempDir* KustomizeHashTest::dir_ = nullptr;
std::string* KustomizeHashTest::output_ = nullptr;
int KustomizeHashTest::exit_code_ = -1;

Json ConfigMap(const std::string& name, Json data) {
  Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}};
  if (!data.is_null()) cm["data"] = std::move(data);
  return cm;
}

Json Secret(const std::string& name, Json data, const std::string& type = "Opaque") {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", name}}},
          {"type", type},
          {"data", std::move(data)}};
}

TEST_F(KustomizeHashTest, Literals) {
  Check("literals", ConfigMap("literals", {{"a", "1"}}), "h29d89cmmt");
}

TEST_F(KustomizeHashTest, NameDoesNotContribute) {
  Check("other-name", ConfigMap("other-name", {{"a", "1"}}), "h29d89cmmt");
  EXPECT_EQ(OracleSuffix("other-name"), OracleSuffix("literals"));
  Json renamed = ConfigMap("pre-literals-v2", {{"a", "1"}});
  EXPECT_EQ(KustomizeHashSuffix(renamed), "h29d89cmmt");
}

TEST_F(KustomizeHashTest, EmptyConfigMapHashesDataAsEmptyString) {
  Check("empty", ConfigMap("empty", nullptr), "6ct58987ht");
  EXPECT_EQ(internal::KustomizeHashInput(ConfigMap("empty", nullptr)),
            R"({"data":"","kind":"ConfigMap","name":""})");
}

TEST_F(KustomizeHashTest, HtmlCharactersAreEscapedLikeGo) {
  Json cm = ConfigMap("html", {{"a", "1"}, {"b", "<x&y>"}});
  EXPECT_EQ(internal::KustomizeHashInput(cm),
            R"({"data":{"a":"1","b":"\u003cx\u0026y\u003e"},"kind":"ConfigMap","name":""})");
  Check("html", cm, "cchh4fmt2g");
}

TEST_F(KustomizeHashTest, ImmutableAndMetadataDoNotContribute) {
  Json cm = ConfigMap("immutable", {{"k", "v"}});
  cm["immutable"] = true;
  cm["metadata"]["labels"] = {{"team", "payments"}};
  cm["metadata"]["annotations"] = {{"note", "ignored-by-the-hash"}};
  Check("immutable", cm, "bdg947hgcc");
}

TEST_F(KustomizeHashTest, FromFile) {
  Check("files", ConfigMap("files", {{"app.properties", "log.level=debug\nlog.format=json\n"}}),
        "96t8k96958");
}

TEST_F(KustomizeHashTest, FromFileWithKey) {
  Check("keyed", ConfigMap("keyed", {{"config.json", "{\"port\": 8080}\n"}}), "t2h77kfg29");
}

TEST_F(KustomizeHashTest, FromEnvFile) {
  Check("envs", ConfigMap("envs", {{"DB_HOST", "db"}, {"DB_PORT", "5432"}, {"EMPTY", ""}}),
        "62tf7954t4");
}

TEST_F(KustomizeHashTest, BinaryDataOnly) {
  Json cm = ConfigMap("binary", nullptr);
  cm["binaryData"] = {{"logo.png", "iVBORw0KGgoA/w=="}};
  EXPECT_EQ(
      internal::KustomizeHashInput(cm),
      R"({"binaryData":{"logo.png":"iVBORw0KGgoA/w=="},"data":"","kind":"ConfigMap","name":""})");
  Check("binary", cm, "fd58d52ftf");
}

TEST_F(KustomizeHashTest, UnicodeAndControlCharacters) {
  Json cm = ConfigMap("unicode", {{"msg", "h\xc3\xa9llo\tworld\b"},
                                  {"sep",
                                   "a\xe2\x80\xa8"
                                   "b"},
                                  {"quote", "say \"hi\" \\ ok"}});
  EXPECT_EQ(internal::KustomizeHashInput(cm),
            "{\"data\":{\"msg\":\"h\xc3\xa9llo\\tworld\\b\",\"quote\":\"say \\\"hi\\\" \\\\ ok\","
            "\"sep\":\"a\\u2028b\"},\"kind\":\"ConfigMap\",\"name\":\"\"}");
  Check("unicode", cm, "5d92cbhbgt");
}

TEST_F(KustomizeHashTest, SecretLiterals) {
  Check("basic", Secret("basic", {{"u", "YWRtaW4="}}), "g29mgt6chk");
}

TEST_F(KustomizeHashTest, SecretTypeContributes) {
  Json tls = Secret("tls", {{"tls.crt", "eA=="}, {"tls.key", "eQ=="}}, "kubernetes.io/tls");
  Check("tls", tls, "f4c6k54dt5");
  Json opaque = Secret("tls", {{"tls.crt", "eA=="}, {"tls.key", "eQ=="}});
  EXPECT_NE(KustomizeHashSuffix(opaque), KustomizeHashSuffix(tls));
}

TEST_F(KustomizeHashTest, ImmutableSecret) {
  Json s = Secret("immutable-secret", {{"k", "dg=="}});
  s["immutable"] = true;
  Check("immutable-secret", s, "ftgtgc4t9f");
}

TEST_F(KustomizeHashTest, EmptySecretHasEmptyDataMap) {
  Json s = Secret("empty-secret", Json::object());
  EXPECT_EQ(internal::KustomizeHashInput(s),
            R"({"data":{},"kind":"Secret","name":"","type":"Opaque"})");
  Check("empty-secret", s, "46f8b28mk5");
}

TEST_F(KustomizeHashTest, SecretFromEnvFile) {
  Check("secret-envs",
        Secret("secret-envs", {{"DB_HOST", "ZGI="}, {"DB_PORT", "NTQzMg=="}, {"EMPTY", ""}}),
        "4mm58g775h");
}

// kustomize stores file contents longer than 70 base64 characters as 70-character lines, each
// ending in a newline, and hashes that text.
TEST_F(KustomizeHashTest, SecretFromFilesHashesWrappedBase64) {
  Json s = Secret("tls-files",
                  {{"tls.crt",
                    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlCi0tLS0tRU5EIENFUlRJRk\n"
                    "lDQVRFLS0tLS0K\n"},
                   {"tls.key",
                    "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUVmYWtlCi0tLS0tRU5EIFBSSVZBVE\n"
                    "UgS0VZLS0tLS0K\n"}},
                  "kubernetes.io/tls");
  Check("tls-files", s, "7dd2gcdkkk");
}

TEST(GoJsonEncodeTest, MatchesGoEncodingRules) {
  EXPECT_EQ(internal::GoJsonEncode(Json::parse(R"({"b":[1,2.5,true,null],"a":"\u0001\u007f"})")),
            "{\"a\":\"\\u0001\x7f\",\"b\":[1,2.5,true,null]}");
  EXPECT_EQ(internal::GoJsonEncode(Json("bad \xff byte")), R"("bad \ufffd byte")");
  EXPECT_EQ(internal::GoJsonEncode(Json(1e21)), "1e+21");
  EXPECT_EQ(internal::GoJsonEncode(Json(0.000001)), "0.000001");
  EXPECT_EQ(internal::GoJsonEncode(Json(1e-7)), "1e-7");
}

}  // namespace
}  // namespace driftguard::reconciler
