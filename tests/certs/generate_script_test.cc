// certs/generate.sh (openssl CLI) produces material the library accepts, with exactly the
// requested SANs, and re-running it is idempotent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "certs/generate.h"
#include "certs/pem.h"
#include "certs/rotation.h"
#include "tests/support/test_util.h"

namespace driftguard::certs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kScript = std::string(DRIFTGUARD_SOURCE_DIR) + "/certs/generate.sh";

testing::CommandResult RunScript(const std::string& args) {
  return testing::RunCommand("bash " + kScript + " " + args + " 2>&1");
}

TEST(GenerateScriptTest, HelpExitsZero) {
  auto r = RunScript("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("Usage: generate.sh [options]"));
  r = RunScript("--bogus");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("generate.sh: unknown argument: --bogus"));
  r = RunScript("--namespace Bad_NS");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("namespace \"Bad_NS\" is not a DNS-1123 label"));
}

TEST(GenerateScriptTest, OutputPassesTheLibraryChecksAndRerunIsIdempotent) {
  testing::TempDir dir;
  const std::string out = (dir.path() / "certs").string();
  const std::string args =
      "--namespace team-a --service hooks --dns webhook.example.com --ip "
      "127.0.0.1 --ip ::1 --out " +
      out;
  auto r = RunScript(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto material = LoadMaterial(out);
  ASSERT_TRUE(material.ok()) << material.status();
  auto leaf = Inspect(material->tls_cert_pem);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(leaf->subject, "CN=hooks.team-a.svc");
  EXPECT_EQ(leaf->issuer, "CN=driftguard-ca");
  EXPECT_THAT(leaf->dns_names,
              ElementsAre("hooks", "hooks.team-a", "hooks.team-a.svc",
                          "hooks.team-a.svc.cluster.local", "webhook.example.com"));
  EXPECT_THAT(leaf->ip_addresses, ElementsAre("127.0.0.1", "::1"));
  EXPECT_FALSE(leaf->is_ca);
  EXPECT_EQ(leaf->key_algorithm, "ECDSA P-256");
  EXPECT_EQ(leaf->not_after - leaf->not_before, Days(365) + std::chrono::minutes(5));
  EXPECT_EQ(leaf->serial_hex.size(), 32u);

  auto ca = Inspect(material->ca_cert_pem);
  ASSERT_TRUE(ca.ok());
  EXPECT_TRUE(ca->is_ca);
  EXPECT_EQ(ca->subject, "CN=driftguard-ca");
  EXPECT_EQ(ca->not_after - ca->not_before, Days(5 * 365) + std::chrono::minutes(5));

  EXPECT_TRUE(VerifyChain(material->tls_cert_pem, material->ca_cert_pem).ok());
  EXPECT_TRUE(CheckKeyMatchesCert(material->tls_cert_pem, material->tls_key_pem).ok());
  EXPECT_TRUE(CheckKeyMatchesCert(material->ca_cert_pem, material->ca_key_pem).ok());

  // Same profile as the library: the library's rotation policy finds nothing to change.
  RotationOptions opts;
  opts.generate.namespace_name = "team-a";
  opts.generate.service_name = "hooks";
  opts.generate.extra_dns_names = {"webhook.example.com"};
  opts.generate.extra_ip_addresses = {"127.0.0.1", "::1"};
  auto plan = PlanRotation(*material, opts, SystemClock().Now());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->changed()) << plan->changes[0].reason;
  auto x509 = ParseCertificate(material->tls_cert_pem);
  ASSERT_TRUE(x509.ok());
  EXPECT_EQ(X509_get_key_usage(x509->get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(x509->get()), static_cast<uint32_t>(XKU_SSL_SERVER));

  struct stat st;
  ASSERT_EQ(stat((out + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((out + "/tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Re-running with the same request changes nothing.
  r = RunScript(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("nothing to do"));
  auto again = LoadMaterial(out);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *material);

  // A different SAN request keeps the CA and reissues only the serving certificate.
  r = RunScript("--namespace team-a --service hooks --ip 127.0.0.1 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto changed = LoadMaterial(out);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->ca_cert_pem, material->ca_cert_pem);
  EXPECT_EQ(changed->ca_key_pem, material->ca_key_pem);
  EXPECT_NE(changed->tls_cert_pem, material->tls_cert_pem);
  EXPECT_THAT(
      Inspect(changed->tls_cert_pem)->dns_names,
      ElementsAre("hooks", "hooks.team-a", "hooks.team-a.svc", "hooks.team-a.svc.cluster.local"));
  EXPECT_THAT(Inspect(changed->tls_cert_pem)->ip_addresses, ElementsAre("127.0.0.1"));
  EXPECT_TRUE(VerifyChain(changed->tls_cert_pem, changed->ca_cert_pem).ok());
}

TEST(GenerateScriptTest, RsaKeyType) {
  testing::TempDir dir;
  auto r = RunScript("--key-type rsa-2048 --out " + dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto material = LoadMaterial(dir.path());
  ASSERT_TRUE(material.ok());
  EXPECT_EQ(Inspect(material->ca_cert_pem)->key_algorithm, "RSA 2048");
  EXPECT_EQ(Inspect(material->tls_cert_pem)->key_algorithm, "RSA 2048");
  EXPECT_THAT(
      Inspect(material->tls_cert_pem)->dns_names,
      ElementsAre("driftguard", "driftguard.driftguard-system", "driftguard.driftguard-system.svc",
                  "driftguard.driftguard-system.svc.cluster.local"));
  EXPECT_TRUE(VerifyChain(material->tls_cert_pem, material->ca_cert_pem).ok());
}

}  // namespace
}  // namespace driftguard::certs
