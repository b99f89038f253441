#include "certs/pem.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "certs/generate.h"

namespace driftguard::certs {
namespace {

using ::testing::ElementsAre;

const TimePoint kNow = FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

class PemTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    GenerateOptions opts;
    opts.namespace_name = "ns";
    FakeClock clock(kNow);
    a_ = new Material(*Generate(opts, clock));
    b_ = new Material(*Generate(opts, clock));
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
  }
  static Material* a_;
  static Material* b_;
};
Material* PemTest::a_ = nullptr;
Material* PemTest::b_ = nullptr;

TEST_F(PemTest, CertificateRoundTripIsByteExact) {
  auto cert = ParseCertificate(a_->tls_cert_pem);
  ASSERT_TRUE(cert.ok()) << cert.status();
  auto pem = EncodeCertificate(cert->get());
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(*pem, a_->tls_cert_pem);
  EXPECT_TRUE(pem->starts_with("-----BEGIN CERTIFICATE-----\n"));
}

TEST_F(PemTest, KeyRoundTripIsPkcs8) {
  EXPECT_TRUE(a_->tls_key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
  auto key = ParsePrivateKey(a_->tls_key_pem);
  ASSERT_TRUE(key.ok()) << key.status();
  auto pem = EncodePrivateKey(key->get());
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(*pem, a_->tls_key_pem);
}

TEST_F(PemTest, BundleRoundTripKeepsOrder) {
  std::string bundle = a_->ca_cert_pem + b_->ca_cert_pem;
  auto certs = ParseCertificates("text before\n" + bundle + "text after\n");
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->size(), 2u);
  auto pem = EncodeBundle(*certs);
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(*pem, bundle);
  auto infos = InspectAll(bundle);
  ASSERT_TRUE(infos.ok());
  EXPECT_EQ((*infos)[0].serial_hex, Inspect(a_->ca_cert_pem)->serial_hex);
  EXPECT_EQ((*infos)[1].serial_hex, Inspect(b_->ca_cert_pem)->serial_hex);
}

TEST_F(PemTest, CorruptPemGivesExactErrors) {
  EXPECT_EQ(ParseCertificate("hello").status(),
            core::InvalidArgumentError("no PEM certificate found"));
  EXPECT_EQ(ParseCertificates("").status(), core::InvalidArgumentError("no PEM certificate found"));
  EXPECT_EQ(
      ParseCertificate("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").status(),
      core::InvalidArgumentError("invalid PEM certificate: PEM routines: bad base64 decode"));
  // Valid base64 that is not DER.
  EXPECT_EQ(
      ParseCertificate("-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n")
          .status(),
      core::InvalidArgumentError(
          "invalid PEM certificate: asn1 encoding routines: too long; asn1 encoding routines: bad "
          "object header; asn1 encoding routines: "
          "nested asn1 error; PEM routines: ASN1 lib"));
  // A bundle whose second certificate is truncated names it.
  std::string truncated = a_->ca_cert_pem + b_->ca_cert_pem.substr(0, 100);
  EXPECT_EQ(ParseCertificates(truncated).status(),
            core::InvalidArgumentError("invalid PEM certificate #2: PEM routines: bad end line"));
  EXPECT_EQ(ParsePrivateKey("nope").status(),
            core::InvalidArgumentError("no PEM private key found"));
  EXPECT_EQ(ParsePrivateKey("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n").status(),
            core::InvalidArgumentError("encrypted private keys are not supported"));
  EXPECT_EQ(Inspect("garbage").status(), core::InvalidArgumentError("no PEM certificate found"));
}

TEST_F(PemTest, InspectToJson) {
  auto info = Inspect(a_->tls_cert_pem);
  ASSERT_TRUE(info.ok());
  core::Json j = info->ToJson();
  EXPECT_EQ(j["subject"], "CN=driftguard.ns.svc");
  EXPECT_EQ(j["issuer"], "CN=driftguard-ca");
  EXPECT_EQ(j["notBefore"], "2025-12-31T23:55:00Z");
  EXPECT_EQ(j["notAfter"], "2027-01-01T00:00:00Z");
  EXPECT_EQ(j["isCA"], false);
  EXPECT_EQ(j["keyAlgorithm"], "ECDSA P-256");
  EXPECT_EQ(j["dnsNames"].size(), 4u);
  EXPECT_EQ(j["ipAddresses"], core::Json::array());
  EXPECT_EQ(j["serial"], info->serial_hex);
}

TEST_F(PemTest, FingerprintMatchesDerDigest) {
  auto cert = ParseCertificate(a_->ca_cert_pem);
  ASSERT_TRUE(cert.ok());
  unsigned char* der = nullptr;
  int len = i2d_X509(cert->get(), &der);
  ASSERT_GT(len, 0);
  unsigned char md[32];
  unsigned int md_len = 0;
  ASSERT_EQ(EVP_Digest(der, len, md, &md_len, EVP_sha256(), nullptr), 1);
  OPENSSL_free(der);
  char hex[4];
  std::string expected;
  for (unsigned i = 0; i < md_len; ++i) {
    snprintf(hex, sizeof(hex), i ? ":%02X" : "%02X", md[i]);
    expected += hex;
  }
  EXPECT_EQ(Inspect(a_->ca_cert_pem)->sha256_fingerprint, expected);
}

TEST_F(PemTest, VerifyChainFailures) {
  EXPECT_TRUE(VerifyChain(a_->tls_cert_pem, a_->ca_cert_pem, kNow).ok());
  EXPECT_TRUE(VerifyChain(a_->tls_cert_pem, b_->ca_cert_pem + a_->ca_cert_pem, kNow).ok());
  EXPECT_EQ(VerifyChain(a_->tls_cert_pem, b_->ca_cert_pem, kNow),
            core::FailedPreconditionError(
                "certificate verify failed: unable to get local issuer certificate"));
  EXPECT_EQ(VerifyChain(a_->tls_cert_pem, a_->ca_cert_pem, kNow + Days(366)),
            core::FailedPreconditionError("certificate verify failed: certificate has expired"));
  EXPECT_EQ(
      VerifyChain(a_->tls_cert_pem, a_->ca_cert_pem, kNow - Days(1)),
      core::FailedPreconditionError("certificate verify failed: certificate is not yet valid"));
  EXPECT_EQ(VerifyChain("x", a_->ca_cert_pem),
            core::InvalidArgumentError("leaf: no PEM certificate found"));
  EXPECT_EQ(VerifyChain(a_->tls_cert_pem, "x"),
            core::InvalidArgumentError("bundle: no PEM certificate found"));
}

TEST_F(PemTest, KeyMatch) {
  EXPECT_TRUE(CheckKeyMatchesCert(a_->tls_cert_pem, a_->tls_key_pem).ok());
  EXPECT_EQ(CheckKeyMatchesCert(a_->tls_cert_pem, b_->tls_key_pem),
            core::FailedPreconditionError("private key does not match certificate"));
  EXPECT_EQ(CheckKeyMatchesCert(a_->tls_cert_pem, a_->ca_key_pem),
            core::FailedPreconditionError("private key does not match certificate"));
}

TEST(FormatTimeTest, Rfc3339Utc) {
  EXPECT_EQ(FormatTime(kNow), "2026-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(FromUnixSeconds(0)), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace driftguard::certs
