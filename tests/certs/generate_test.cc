#include "certs/generate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "certs/pem.h"
#include "tests/support/test_util.h"

namespace driftguard::certs {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const TimePoint kNow = FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

GenerateOptions TestOptions() {
  GenerateOptions opts;
  opts.namespace_name = "team-a";
  opts.extra_dns_names = {"webhook.example.com"};
  opts.extra_ip_addresses = {"127.0.0.1", "::1"};
  return opts;
}

TEST(GenerateTest, ServingCertificateHasExactSansSubjectAndValidity) {
  FakeClock clock(kNow + std::chrono::milliseconds(900));  // sub-second part is dropped
  auto material = Generate(TestOptions(), clock);
  ASSERT_TRUE(material.ok()) << material.status();
  auto leaf = Inspect(material->tls_cert_pem);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(leaf->subject, "CN=driftguard.team-a.svc");
  EXPECT_EQ(leaf->issuer, "CN=driftguard-ca");
  EXPECT_THAT(leaf->dns_names,
              ElementsAre("driftguard", "driftguard.team-a", "driftguard.team-a.svc",
                          "driftguard.team-a.svc.cluster.local", "webhook.example.com"));
  EXPECT_THAT(leaf->ip_addresses, ElementsAre("127.0.0.1", "::1"));
  EXPECT_EQ(leaf->not_before, kNow - std::chrono::minutes(5));
  EXPECT_EQ(leaf->not_after, kNow + Days(365));
  EXPECT_FALSE(leaf->is_ca);
  EXPECT_EQ(leaf->key_algorithm, "ECDSA P-256");
  EXPECT_EQ(leaf->serial_hex.size(), 32u);  // 128 random bits, lowest bit forced to 1
  EXPECT_EQ(leaf->sha256_fingerprint.size(), 32u * 3 - 1);
  EXPECT_TRUE(VerifyChain(material->tls_cert_pem, material->ca_cert_pem, kNow).ok());
  EXPECT_TRUE(CheckKeyMatchesCert(material->tls_cert_pem, material->tls_key_pem).ok());
}

TEST(GenerateTest, CaHasCaFlagsAndFiveYearValidity) {
  FakeClock clock(kNow);
  auto material = Generate(TestOptions(), clock);
  ASSERT_TRUE(material.ok()) << material.status();
  auto ca = Inspect(material->ca_cert_pem);
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(ca->subject, "CN=driftguard-ca");
  EXPECT_EQ(ca->issuer, "CN=driftguard-ca");
  EXPECT_TRUE(ca->is_ca);
  EXPECT_TRUE(ca->dns_names.empty());
  EXPECT_EQ(ca->not_before, kNow - std::chrono::minutes(5));
  EXPECT_EQ(ca->not_after, kNow + Days(5 * 365));
  EXPECT_TRUE(CheckKeyMatchesCert(material->ca_cert_pem, material->ca_key_pem).ok());

  // Extensions exactly as the profile says (read back through OpenSSL's own decoder).
  auto cert = ParseCertificate(material->ca_cert_pem);
  ASSERT_TRUE(cert.ok());
  int crit = -1;
  BASIC_CONSTRAINTS* bc = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert->get(), NID_basic_constraints, &crit, nullptr));
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(crit, 1);
  EXPECT_NE(bc->ca, 0);
  EXPECT_EQ(ASN1_INTEGER_get(bc->pathlen), 0);
  BASIC_CONSTRAINTS_free(bc);
  EXPECT_EQ(X509_get_key_usage(cert->get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_NE(X509_get0_subject_key_id(cert->get()), nullptr);

  auto leaf = ParseCertificate(material->tls_cert_pem);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(X509_get_key_usage(leaf->get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf->get()), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf->get()),
                                  X509_get0_subject_key_id(cert->get())),
            0);
}

TEST(GenerateTest, SerialsAreRandom) {
  FakeClock clock(kNow);
  auto a = Generate(TestOptions(), clock);
  auto b = Generate(TestOptions(), clock);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(Inspect(a->ca_cert_pem)->serial_hex, Inspect(b->ca_cert_pem)->serial_hex);
  EXPECT_NE(Inspect(a->tls_cert_pem)->serial_hex, Inspect(b->tls_cert_pem)->serial_hex);
}

TEST(GenerateTest, RsaKeysOnRequest) {
  GenerateOptions opts = TestOptions();
  opts.key_algorithm = KeyAlgorithm::kRsa2048;
  FakeClock clock(kNow);
  auto material = Generate(opts, clock);
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_EQ(Inspect(material->ca_cert_pem)->key_algorithm, "RSA 2048");
  EXPECT_EQ(Inspect(material->tls_cert_pem)->key_algorithm, "RSA 2048");
  auto leaf = ParseCertificate(material->tls_cert_pem);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(X509_get_key_usage(leaf->get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_TRUE(VerifyChain(material->tls_cert_pem, material->ca_cert_pem, kNow).ok());
}

TEST(GenerateKeyTest, Rsa3072) {
  auto key = GenerateKey(KeyAlgorithm::kRsa3072);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 3072);
}

TEST(GenerateTest, ServingValidityNeverExceedsTheCa) {
  FakeClock clock(kNow);
  auto material = Generate(TestOptions(), clock);
  ASSERT_TRUE(material.ok());
  TimePoint late = kNow + Days(5 * 365 - 100);  // the CA has 100 days left
  auto leaf = IssueServingCert(TestOptions(), material->ca_cert_pem, material->ca_key_pem, late);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(Inspect(leaf->cert_pem)->not_after, kNow + Days(5 * 365));
}

TEST(GenerateTest, IssueRejectsAKeyOfAnotherCa) {
  FakeClock clock(kNow);
  auto a = Generate(TestOptions(), clock);
  auto b = Generate(TestOptions(), clock);
  ASSERT_TRUE(a.ok() && b.ok());
  auto leaf = IssueServingCert(TestOptions(), a->ca_cert_pem, b->ca_key_pem, kNow);
  EXPECT_EQ(leaf.status(),
            core::FailedPreconditionError("CA key: private key does not match certificate"));
}

TEST(GenerateTest, OptionsValidation) {
  GenerateOptions opts;
  EXPECT_TRUE(opts.Validate().ok());
  opts.namespace_name = "Team_A";
  EXPECT_EQ(opts.Validate(),
            core::InvalidArgumentError("namespace \"Team_A\" is not a DNS-1123 label"));
  opts = GenerateOptions();
  opts.extra_dns_names = {"*.apps.example.com", "bad..name"};
  EXPECT_EQ(opts.Validate(),
            core::InvalidArgumentError("extra DNS name \"bad..name\" is not a DNS-1123 subdomain"));
  opts = GenerateOptions();
  opts.extra_ip_addresses = {"300.1.1.1"};
  EXPECT_EQ(opts.Validate(),
            core::InvalidArgumentError("extra IP address \"300.1.1.1\" is not an IP literal"));
  FakeClock clock(kNow);
  EXPECT_EQ(Generate(opts, clock).status().code(), core::StatusCode::kInvalidArgument);

  EXPECT_EQ(*ParseKeyAlgorithm("rsa-3072"), KeyAlgorithm::kRsa3072);
  EXPECT_EQ(ParseKeyAlgorithm("dsa").status(),
            core::InvalidArgumentError(
                "unknown key algorithm \"dsa\" (want ecdsa-p256, rsa-2048 or rsa-3072)"));
}

TEST(GenerateTest, DuplicateExtraNamesAreDroppedAndIpsCanonical) {
  GenerateOptions opts;
  opts.namespace_name = "ns";
  opts.extra_dns_names = {"driftguard.ns.svc", "x.example.com", "x.example.com"};
  opts.extra_ip_addresses = {"0:0::1", "::1", "10.0.0.1"};
  EXPECT_THAT(opts.DnsNames(), ElementsAre("driftguard", "driftguard.ns", "driftguard.ns.svc",
                                           "driftguard.ns.svc.cluster.local", "x.example.com"));
  EXPECT_THAT(opts.IpAddresses(), ElementsAre("::1", "10.0.0.1"));
}

TEST(MaterialTest, SecretDataRoundTrip) {
  Material m{"a", "", "c", "d"};
  auto data = m.ToSecretData();
  EXPECT_EQ(data, (std::map<std::string, std::string>{
                      {"ca.crt", "a"}, {"tls.crt", "c"}, {"tls.key", "d"}}));
  data["other"] = "ignored";
  EXPECT_EQ(Material::FromSecretData(data), m);
}

TEST(MaterialTest, WriteAndLoadWithKeyPermissions) {
  testing::TempDir dir;
  FakeClock clock(kNow);
  auto material = Generate(TestOptions(), clock);
  ASSERT_TRUE(material.ok());
  auto out = dir.path() / "nested" / "tls";
  ASSERT_TRUE(WriteMaterial(*material, out).ok());
  auto mode = [&](const char* name) {
    struct stat st;
    EXPECT_EQ(stat((out / name).c_str(), &st), 0);
    return st.st_mode & 0777;
  };
  EXPECT_EQ(mode("ca.key"), 0600u);
  EXPECT_EQ(mode("tls.key"), 0600u);
  EXPECT_EQ(mode("ca.crt"), 0644u);
  EXPECT_EQ(mode("tls.crt"), 0644u);
  auto loaded = LoadMaterial(out);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, *material);
  // Rewriting replaces the files in place.
  ASSERT_TRUE(WriteMaterial(*material, out).ok());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out),
                          std::filesystem::directory_iterator()),
            4);
}

TEST(MaterialTest, LoadLeavesMissingFilesEmpty) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "tls.crt", "cert");
  auto loaded = LoadMaterial(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, (Material{"", "", "cert", ""}));
}

}  // namespace
}  // namespace driftguard::certs
