#include "certs/rotation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "certs/pem.h"

namespace driftguard::certs {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

const TimePoint kT0 = FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z
constexpr auto kBackdate = std::chrono::minutes(5);

RotationOptions Options() {
  RotationOptions opts;
  opts.generate.namespace_name = "ns";
  opts.generate.extra_ip_addresses = {"127.0.0.1"};
  return opts;
}

std::vector<RotationAction> Actions(const RotationPlan& plan) {
  std::vector<RotationAction> out;
  for (const auto& c : plan.changes) out.push_back(c.action);
  return out;
}

std::vector<std::string> Reasons(const RotationPlan& plan) {
  std::vector<std::string> out;
  for (const auto& c : plan.changes) out.push_back(c.reason);
  return out;
}

std::string Serial(const std::string& pem) { return Inspect(pem)->serial_hex; }

// Material created at kT0, shared by the tests (key generation is the slow part).
class RotationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto plan = PlanRotation(Material{}, Options(), kT0);
    ASSERT_TRUE(plan.ok()) << plan.status();
    initial_ = new RotationPlan(std::move(plan).value());
  }
  static void TearDownTestSuite() { delete initial_; }
  static RotationPlan* initial_;
};
RotationPlan* RotationTest::initial_ = nullptr;

TEST_F(RotationTest, CreatesEverythingWhenMissing) {
  const RotationPlan& plan = *initial_;
  EXPECT_THAT(Reasons(plan), ElementsAre("created a new CA: ca.crt is missing",
                                         "issued a new serving certificate: the CA changed"));
  EXPECT_THAT(Actions(plan),
              ElementsAre(RotationAction::kCreatedCa, RotationAction::kIssuedServingCert));
  EXPECT_TRUE(VerifyChain(plan.next.tls_cert_pem, plan.next.ca_cert_pem, kT0).ok());
  EXPECT_EQ(InspectAll(plan.next.ca_cert_pem)->size(), 1u);
  EXPECT_EQ(plan.ca_not_after, kT0 + Days(5 * 365));
  EXPECT_EQ(plan.serving_not_after, kT0 + Days(365));
  EXPECT_EQ(plan.next_action_at, kT0 + Days(365 - 30));
  EXPECT_EQ(plan.ExpiryTimestamps(),
            (std::map<std::string, int64_t>{{"ca", ToUnixSeconds(kT0 + Days(5 * 365))},
                                            {"serving", ToUnixSeconds(kT0 + Days(365))}}));
}

TEST_F(RotationTest, NothingToDoWhileEverythingIsFresh) {
  for (TimePoint now : {kT0, kT0 + Days(100), kT0 + Days(334)}) {  // 31 days left at the end
    auto plan = PlanRotation(initial_->next, Options(), now);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_FALSE(plan->changed()) << FormatTime(now) << ": " << plan->changes[0].reason;
    EXPECT_EQ(plan->next, initial_->next);
    EXPECT_EQ(plan->serving_not_after, kT0 + Days(365));
    EXPECT_EQ(plan->next_action_at, kT0 + Days(335));
  }
}

TEST_F(RotationTest, RenewsTheServingCertificateWith29DaysLeft) {
  TimePoint now = kT0 + Days(336);
  auto plan = PlanRotation(initial_->next, Options(), now);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Reasons(*plan),
              ElementsAre("issued a new serving certificate: the serving certificate expires at "
                          "2027-01-01T00:00:00Z (in 29 days), within the 30-day renewal window"));
  EXPECT_EQ(plan->next.ca_cert_pem, initial_->next.ca_cert_pem);
  EXPECT_EQ(plan->next.ca_key_pem, initial_->next.ca_key_pem);
  EXPECT_NE(plan->next.tls_key_pem, initial_->next.tls_key_pem);
  EXPECT_EQ(plan->serving_not_after, now + Days(365));
  EXPECT_EQ(Inspect(plan->next.tls_cert_pem)->not_before, now - kBackdate);
  EXPECT_TRUE(VerifyChain(plan->next.tls_cert_pem, plan->next.ca_cert_pem, now).ok());
}

TEST_F(RotationTest, RenewsWhenSansChange) {
  RotationOptions opts = Options();
  opts.generate.extra_dns_names = {"hooks.example.com"};
  auto plan = PlanRotation(initial_->next, opts, kT0 + Days(1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Reasons(*plan), ElementsAre("issued a new serving certificate: the serving "
                                          "certificate's SANs differ from the configured ones"));
  EXPECT_THAT(Inspect(plan->next.tls_cert_pem)->dns_names,
              ElementsAre("driftguard", "driftguard.ns", "driftguard.ns.svc",
                          "driftguard.ns.svc.cluster.local", "hooks.example.com"));
}

TEST_F(RotationTest, RotatesTheCaWithAnOverlapThenDropsTheOldOne) {
  // Four years in: the serving certificate was renewed on schedule (CA still has > 365 days).
  TimePoint renewed_at = kT0 + Days(4 * 365 - 10);
  auto renewal = PlanRotation(initial_->next, Options(), renewed_at);
  ASSERT_TRUE(renewal.ok()) << renewal.status();
  ASSERT_THAT(Actions(*renewal), ElementsAre(RotationAction::kIssuedServingCert));
  const Material before = renewal->next;
  const std::string old_ca_serial = Serial(before.ca_cert_pem);

  // The CA enters its renewal window (364 days left).
  TimePoint rotate_at = kT0 + Days(4 * 365 + 1);
  auto rotation = PlanRotation(before, Options(), rotate_at);
  ASSERT_TRUE(rotation.ok()) << rotation.status();
  EXPECT_THAT(Reasons(*rotation),
              ElementsAre("rotated the CA: CN=driftguard-ca (serial " + old_ca_serial +
                              ") expires at 2030-12-31T00:00:00Z (in 364 days), within the "
                              "365-day renewal window; it stays in ca.crt during the overlap",
                          "issued a new serving certificate: the CA changed"));
  const Material after = rotation->next;
  auto bundle = InspectAll(after.ca_cert_pem);
  ASSERT_TRUE(bundle.ok());
  ASSERT_EQ(bundle->size(), 2u);
  EXPECT_NE((*bundle)[0].serial_hex, old_ca_serial);  // the new CA is active (first)
  EXPECT_EQ((*bundle)[1].serial_hex, old_ca_serial);
  EXPECT_EQ((*bundle)[0].not_after, rotate_at + Days(5 * 365));
  EXPECT_TRUE(CheckKeyMatchesCert(after.ca_cert_pem, after.ca_key_pem).ok());
  EXPECT_EQ(rotation->ca_not_after, rotate_at + Days(5 * 365));

  // During the overlap a leaf signed by either CA verifies against the published bundle ...
  EXPECT_TRUE(VerifyChain(before.tls_cert_pem, after.ca_cert_pem, rotate_at).ok());
  EXPECT_TRUE(VerifyChain(after.tls_cert_pem, after.ca_cert_pem, rotate_at).ok());
  // ... and the new leaf really is signed by the new CA only.
  EXPECT_FALSE(VerifyChain(after.tls_cert_pem, before.ca_cert_pem, rotate_at).ok());
  EXPECT_EQ(Inspect(after.tls_cert_pem)->issuer, "CN=driftguard-ca");

  // A day later: nothing to do, the old CA is still kept.
  auto next_day = PlanRotation(after, Options(), rotate_at + Days(1));
  ASSERT_TRUE(next_day.ok());
  EXPECT_FALSE(next_day->changed());
  EXPECT_EQ(next_day->next_action_at, rotate_at - kBackdate + Days(7));

  // Seven days after it was superseded, the old CA leaves the bundle; nothing else changes.
  TimePoint drop_at = rotate_at - kBackdate + Days(7);
  auto drop = PlanRotation(after, Options(), drop_at);
  ASSERT_TRUE(drop.ok()) << drop.status();
  EXPECT_THAT(Reasons(*drop),
              ElementsAre("dropped the previous CA CN=driftguard-ca (serial " + old_ca_serial +
                          ") from ca.crt: superseded at " + FormatTime(rotate_at - kBackdate) +
                          ", more than 7 days ago"));
  EXPECT_EQ(drop->next.ca_cert_pem,
            after.ca_cert_pem.substr(0, after.ca_cert_pem.find("-----END CERTIFICATE-----") + 26));
  EXPECT_EQ(drop->next.ca_key_pem, after.ca_key_pem);
  EXPECT_EQ(drop->next.tls_cert_pem, after.tls_cert_pem);
  EXPECT_EQ(drop->next.tls_key_pem, after.tls_key_pem);
  EXPECT_FALSE(VerifyChain(before.tls_cert_pem, drop->next.ca_cert_pem, drop_at).ok());
  EXPECT_TRUE(VerifyChain(after.tls_cert_pem, drop->next.ca_cert_pem, drop_at).ok());

  // With a long retention the old CA is dropped when it expires instead.
  RotationOptions keep = Options();
  keep.old_ca_retention = Days(3650);
  keep.serving_renew_before = std::chrono::hours(1);  // keep the leaf out of this step
  auto expired = PlanRotation(after, keep, kT0 + Days(5 * 365));
  ASSERT_TRUE(expired.ok());
  EXPECT_THAT(Reasons(*expired),
              ElementsAre("dropped the previous CA CN=driftguard-ca (serial " + old_ca_serial +
                          ") from ca.crt: it expired at 2030-12-31T00:00:00Z"));
}

TEST_F(RotationTest, CorruptMaterialIsRecreated) {
  Material m = initial_->next;
  m.ca_cert_pem = "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n";
  auto plan = PlanRotation(m, Options(), kT0);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Reasons(*plan),
              ElementsAre("created a new CA: ca.crt is invalid: invalid PEM certificate #1: PEM "
                          "routines: bad base64 decode",
                          "issued a new serving certificate: the CA changed"));
  EXPECT_TRUE(VerifyChain(plan->next.tls_cert_pem, plan->next.ca_cert_pem, kT0).ok());
}

TEST_F(RotationTest, ForeignCaKeyCreatesANewCaButKeepsTheOldCertificateForTheOverlap) {
  auto other = PlanRotation(Material{}, Options(), kT0);
  ASSERT_TRUE(other.ok());
  Material m = initial_->next;
  m.ca_key_pem = other->next.ca_key_pem;
  auto plan = PlanRotation(m, Options(), kT0 + Days(1));
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Reasons(*plan),
              ElementsAre("created a new CA: ca.key does not belong to the first certificate of "
                          "ca.crt",
                          "issued a new serving certificate: the CA changed"));
  auto bundle = InspectAll(plan->next.ca_cert_pem);
  ASSERT_EQ(bundle->size(), 2u);
  EXPECT_EQ((*bundle)[1].serial_hex, Serial(initial_->next.ca_cert_pem));
  EXPECT_TRUE(VerifyChain(initial_->next.tls_cert_pem, plan->next.ca_cert_pem, kT0).ok());
}

TEST_F(RotationTest, ServingProblemsAreNamed) {
  auto other = PlanRotation(Material{}, Options(), kT0);
  ASSERT_TRUE(other.ok());
  struct Case {
    Material m;
    std::string reason;
  };
  Material base = initial_->next;
  std::vector<Case> cases;
  Material m = base;
  m.tls_cert_pem.clear();
  cases.push_back({m, "tls.crt is missing"});
  m = base;
  m.tls_key_pem = other->next.tls_key_pem;
  cases.push_back({m, "tls.key does not belong to tls.crt"});
  m = base;
  m.tls_key_pem = "junk";
  cases.push_back({m, "tls.key is invalid: no PEM private key found"});
  m = base;
  m.tls_cert_pem = other->next.tls_cert_pem;
  m.tls_key_pem = other->next.tls_key_pem;
  cases.push_back({m,
                   "tls.crt does not verify against the active CA: certificate verify failed: "
                   "unable to get local issuer certificate"});
  for (const auto& c : cases) {
    auto plan = PlanRotation(c.m, Options(), kT0 + Days(1));
    ASSERT_TRUE(plan.ok());
    EXPECT_THAT(Reasons(*plan), ElementsAre("issued a new serving certificate: " + c.reason));
    EXPECT_EQ(plan->next.ca_cert_pem, base.ca_cert_pem);
    EXPECT_TRUE(CheckKeyMatchesCert(plan->next.tls_cert_pem, plan->next.tls_key_pem).ok());
  }

  RotationOptions rsa = Options();
  rsa.generate.key_algorithm = KeyAlgorithm::kRsa2048;
  auto plan = PlanRotation(base, rsa, kT0 + Days(1));
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Reasons(*plan), ElementsAre("issued a new serving certificate: the serving key is "
                                          "ECDSA P-256, configured is RSA 2048"));
}

TEST(RotationOptionsTest, Validate) {
  RotationOptions opts;
  EXPECT_TRUE(opts.Validate().ok());
  opts.serving_renew_before = Days(400);
  EXPECT_EQ(opts.Validate(),
            core::InvalidArgumentError(
                "serving_renew_before must be positive and shorter than serving_validity"));
  EXPECT_EQ(PlanRotation(Material{}, opts, kT0).status(), opts.Validate());
  opts = RotationOptions();
  opts.ca_renew_before = Days(5 * 365);
  EXPECT_EQ(opts.Validate(), core::InvalidArgumentError(
                                 "ca_renew_before must be positive and shorter than ca_validity"));
}

}  // namespace
}  // namespace driftguard::certs
