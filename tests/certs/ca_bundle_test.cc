#include "certs/ca_bundle.h"

#include <gtest/gtest.h>

#include "certs/generate.h"

namespace driftguard::certs {
namespace {

using core::Json;

const TimePoint kNow = FromUnixSeconds(1767225600);

class CaBundleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FakeClock clock(kNow);
    GenerateOptions opts;
    a_ = new std::string(Generate(opts, clock)->ca_cert_pem);
    b_ = new std::string(Generate(opts, clock)->ca_cert_pem);
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
  }
  static Json Config(std::string kind, std::string name) {
    return Json{
        {"apiVersion", "admissionregistration.k8s.io/v1"},
        {"kind", kind},
        {"metadata", {{"name", name}, {"resourceVersion", "42"}}},
        {"webhooks",
         Json::array(
             {Json{{"name", "guard.driftguard.io"},
                   {"clientConfig",
                    {{"service", {{"name", "driftguard"}, {"namespace", "ns"}, {"path", "/v"}}}}},
                   {"sideEffects", "NoneOnDryRun"}},
              Json{{"name", "scale.driftguard.io"},
                   {"clientConfig",
                    {{"service", {{"name", "driftguard"}, {"namespace", "ns"}}},
                     {"caBundle", "b2xk"}}}}})}};
  }
  static std::string* a_;
  static std::string* b_;
};
std::string* CaBundleTest::a_ = nullptr;
std::string* CaBundleTest::b_ = nullptr;

TEST_F(CaBundleTest, SetsEveryWebhooksCaBundleOfAnOwnedConfiguration) {
  const std::string bundle = *a_ + *b_;
  Json config = Config("ValidatingWebhookConfiguration", "driftguard-guard");
  auto result = InjectCaBundle(config, bundle, {"driftguard-guard", "driftguard-revert"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->owned);
  EXPECT_TRUE(result->changed);
  const std::string encoded = Base64Encode(bundle);
  Json expected = config;
  expected["webhooks"][0]["clientConfig"]["caBundle"] = encoded;
  expected["webhooks"][1]["clientConfig"]["caBundle"] = encoded;
  EXPECT_EQ(result->patched, expected);
  EXPECT_EQ(result->merge_patch,
            (Json{{"metadata", {{"resourceVersion", "42"}}}, {"webhooks", expected["webhooks"]}}));
  EXPECT_EQ(*Base64Decode(encoded), bundle);

  // Already injected: nothing to do.
  auto again = InjectCaBundle(result->patched, bundle, {"driftguard-guard"});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->owned);
  EXPECT_FALSE(again->changed);
  EXPECT_TRUE(again->merge_patch.is_null());
  EXPECT_EQ(again->patched, result->patched);
}

TEST_F(CaBundleTest, MutatingConfigurationWithoutResourceVersion) {
  Json config = Config("MutatingWebhookConfiguration", "driftguard-revert");
  config["metadata"].erase("resourceVersion");
  auto result = InjectCaBundle(config, *a_, {"driftguard-revert"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->changed);
  EXPECT_FALSE(result->merge_patch.contains("metadata"));
  EXPECT_EQ(result->merge_patch["webhooks"][1]["clientConfig"]["caBundle"], Base64Encode(*a_));
}

TEST_F(CaBundleTest, ConfigurationsDriftguardDoesNotOwnAreLeftAlone) {
  Json config = Config("ValidatingWebhookConfiguration", "cert-manager-webhook");
  auto result = InjectCaBundle(config, "not even a bundle", {"driftguard-guard"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->owned);
  EXPECT_FALSE(result->changed);
  EXPECT_TRUE(result->merge_patch.is_null());
  EXPECT_EQ(result->patched, config);
}

TEST_F(CaBundleTest, RejectsBadInputWithExactMessages) {
  const std::vector<std::string> owned = {"driftguard-guard"};
  Json config = Config("ValidatingWebhookConfiguration", "driftguard-guard");
  EXPECT_EQ(InjectCaBundle(config, "junk", owned).status(),
            core::InvalidArgumentError("ValidatingWebhookConfiguration driftguard-guard: CA "
                                       "bundle: no PEM certificate found"));
  EXPECT_EQ(InjectCaBundle(Json::array(), *a_, owned).status(),
            core::InvalidArgumentError("webhook configuration: not an object"));
  Json wrong_kind = config;
  wrong_kind["kind"] = "Deployment";
  EXPECT_EQ(InjectCaBundle(wrong_kind, *a_, owned).status(),
            core::InvalidArgumentError(
                "webhook configuration: kind must be ValidatingWebhookConfiguration or "
                "MutatingWebhookConfiguration, got \"Deployment\""));
  Json old_api = config;
  old_api["apiVersion"] = "admissionregistration.k8s.io/v1beta1";
  EXPECT_EQ(InjectCaBundle(old_api, *a_, owned).status(),
            core::InvalidArgumentError("ValidatingWebhookConfiguration: apiVersion must be "
                                       "admissionregistration.k8s.io/v1, got "
                                       "\"admissionregistration.k8s.io/v1beta1\""));
  Json no_client_config = config;
  no_client_config["webhooks"][1].erase("clientConfig");
  EXPECT_EQ(InjectCaBundle(no_client_config, *a_, owned).status(),
            core::InvalidArgumentError(
                "ValidatingWebhookConfiguration driftguard-guard: webhooks[1]: clientConfig is "
                "missing"));
  Json bad_list = config;
  bad_list["webhooks"] = "x";
  EXPECT_EQ(InjectCaBundle(bad_list, *a_, owned).status(),
            core::InvalidArgumentError(
                "ValidatingWebhookConfiguration driftguard-guard: webhooks is not a list"));
  Json no_hooks = config;
  no_hooks.erase("webhooks");
  auto empty = InjectCaBundle(no_hooks, *a_, owned);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->changed);
}

}  // namespace
}  // namespace driftguard::certs
