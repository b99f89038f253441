// Real TLS handshakes on 127.0.0.1 with certificates from driftguard::certs: a client that trusts
// only the published bundle accepts the serving certificate before and after a CA rotation, and a
// client that trusts an unrelated CA refuses it.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "certs/pem.h"
#include "certs/rotation.h"
#include "tests/support/test_util.h"

namespace driftguard::certs {
namespace {

// An HTTPS server on 127.0.0.1:<ephemeral> answering GET /healthz with "ok". The serving identity
// is chosen per handshake (SSL_CTX_set_cert_cb), so SetIdentity swaps it without a restart, the way
// a serving process picks up a renewed Secret.
class TlsServer {
 public:
  TlsServer(const std::string& cert_pem, const std::string& key_pem)
      : server_([this](SSL_CTX& ctx) {
          SSL_CTX_set_cert_cb(&ctx, &TlsServer::SelectIdentity, this);
          return true;
        }) {
    SetIdentity(cert_pem, key_pem);
    server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~TlsServer() {
    while (!server_.is_running()) std::this_thread::yield();  // stop() only works once listening
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

  void SetIdentity(const std::string& cert_pem, const std::string& key_pem) {
    auto identity = std::make_shared<Identity>();
    identity->cert = std::move(ParseCertificate(cert_pem)).value();
    identity->key = std::move(ParsePrivateKey(key_pem)).value();
    identity->serial = Inspect(cert_pem)->serial_hex;
    std::lock_guard<std::mutex> lock(mu_);
    identity_ = std::move(identity);
  }
  // Handshakes served with the certificate whose serial is `serial`.
  int HandshakesWith(const std::string& serial) {
    std::lock_guard<std::mutex> lock(mu_);
    return handshakes_[serial];
  }

 private:
  struct Identity {
    X509Ptr cert;
    EvpPkeyPtr key;
    std::string serial;
  };
  static int SelectIdentity(SSL* ssl, void* arg) {
    auto* self = static_cast<TlsServer*>(arg);
    std::shared_ptr<Identity> identity;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      identity = self->identity_;
      ++self->handshakes_[identity->serial];
    }
    return SSL_use_certificate(ssl, identity->cert.get()) == 1 &&
                   SSL_use_PrivateKey(ssl, identity->key.get()) == 1
               ? 1
               : 0;
  }

  std::mutex mu_;
  std::shared_ptr<Identity> identity_;
  std::map<std::string, int> handshakes_;
  httplib::SSLServer server_;
  int port_ = -1;
  std::thread thread_;
};

struct Outcome {
  httplib::Error error = httplib::Error::Unknown;
  int status = 0;
  std::string body;
  long verify_result = -1;
};

// GET https://127.0.0.1:<port>/healthz trusting exactly the certificates in `bundle_pem`, with
// hostname (IP SAN) verification.
Outcome Get(int port, const std::string& bundle_pem) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "bundle.pem", bundle_pem);
  httplib::SSLClient client("127.0.0.1", port);
  client.set_ca_cert_path((dir.path() / "bundle.pem").string());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto res = client.Get("/healthz");
  Outcome out;
  out.error = res.error();
  out.verify_result = client.get_openssl_verify_result();
  if (res) {
    out.status = res->status;
    out.body = res->body;
  }
  return out;
}

class TlsHandshakeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const TimePoint now = SystemClock().Now();
    RotationOptions opts;
    opts.generate.namespace_name = "ns";
    opts.generate.extra_ip_addresses = {"127.0.0.1"};
    // A CA issued just over four years ago (364 days left) and a serving certificate it signed
    // ten days ago: the state right before a CA rotation.
    auto old_ca = GenerateCa(opts.generate, now - Days(4 * 365 + 1));
    ASSERT_TRUE(old_ca.ok()) << old_ca.status();
    auto old_leaf =
        IssueServingCert(opts.generate, old_ca->cert_pem, old_ca->key_pem, now - Days(10));
    ASSERT_TRUE(old_leaf.ok()) << old_leaf.status();
    before_ =
        new Material{old_ca->cert_pem, old_ca->key_pem, old_leaf->cert_pem, old_leaf->key_pem};
    auto plan = PlanRotation(*before_, opts, now);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_EQ(plan->changes.size(), 2u);
    ASSERT_EQ(plan->changes[0].action, RotationAction::kRotatedCa);
    after_ = new Material(plan->next);
    // Eight days later the old CA has left the bundle.
    auto drop = PlanRotation(*after_, opts, now + Days(8));
    ASSERT_TRUE(drop.ok()) << drop.status();
    ASSERT_EQ(drop->changes.size(), 1u);
    ASSERT_EQ(drop->changes[0].action, RotationAction::kDroppedCa);
    dropped_ = new Material(drop->next);
    FakeClock clock(now);
    auto unrelated = Generate(opts.generate, clock);
    ASSERT_TRUE(unrelated.ok());
    unrelated_ca_ = new std::string(unrelated->ca_cert_pem);
  }
  static void TearDownTestSuite() {
    delete before_;
    delete after_;
    delete dropped_;
    delete unrelated_ca_;
  }
  static Material* before_;
  static Material* after_;
  static Material* dropped_;
  static std::string* unrelated_ca_;
};
Material* TlsHandshakeTest::dropped_ = nullptr;
Material* TlsHandshakeTest::before_ = nullptr;
Material* TlsHandshakeTest::after_ = nullptr;
std::string* TlsHandshakeTest::unrelated_ca_ = nullptr;

TEST_F(TlsHandshakeTest, OldCaSignedLeafIsAcceptedByAClientTrustingTheOverlapBundle) {
  TlsServer server(before_->tls_cert_pem, before_->tls_key_pem);
  Outcome out = Get(server.port(), after_->ca_cert_pem);
  EXPECT_EQ(out.error, httplib::Error::Success);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.body, "ok");
  EXPECT_EQ(out.verify_result, X509_V_OK);
}

TEST_F(TlsHandshakeTest, NewCaSignedLeafIsAcceptedByAClientTrustingTheOverlapBundle) {
  TlsServer server(after_->tls_cert_pem, after_->tls_key_pem);
  Outcome out = Get(server.port(), after_->ca_cert_pem);
  EXPECT_EQ(out.error, httplib::Error::Success);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.body, "ok");
  EXPECT_EQ(out.verify_result, X509_V_OK);
}

TEST_F(TlsHandshakeTest, ClientTrustingAnUnrelatedCaFailsVerification) {
  for (const Material* m : {before_, after_}) {
    TlsServer server(m->tls_cert_pem, m->tls_key_pem);
    Outcome out = Get(server.port(), *unrelated_ca_);
    EXPECT_EQ(out.error, httplib::Error::SSLServerVerification);
    EXPECT_EQ(out.verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    EXPECT_EQ(out.status, 0);
  }
}

TEST_F(TlsHandshakeTest, PreRotationBundleDoesNotTrustTheNewLeaf) {
  // Why the caBundle must be published before the new serving certificate is served.
  TlsServer server(after_->tls_cert_pem, after_->tls_key_pem);
  Outcome out = Get(server.port(), before_->ca_cert_pem);
  EXPECT_EQ(out.error, httplib::Error::SSLServerVerification);
  EXPECT_EQ(out.verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(TlsHandshakeTest, ServerKeepsAnsweringThroughACaRotation) {
  // The client plays the API server: it trusts whatever caBundle is currently injected and calls
  // the webhook again and again while the rotation is applied in the documented order.
  TlsServer server(before_->tls_cert_pem, before_->tls_key_pem);
  std::mutex mu;
  std::string injected = before_->ca_cert_pem;
  std::vector<std::string> failures;
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  std::thread client([&] {
    while (!stop.load()) {
      std::string bundle;
      {
        std::lock_guard<std::mutex> lock(mu);
        bundle = injected;
      }
      Outcome out = Get(server.port(), bundle);
      if (out.error != httplib::Error::Success || out.status != 200 || out.body != "ok") {
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back("request " + std::to_string(done.load()) + ": " +
                           httplib::to_string(out.error) +
                           " verify=" + std::to_string(out.verify_result));
      }
      ++done;
    }
  });
  auto run_more = [&](int n) {
    const int target = done.load() + n;
    while (done.load() < target) std::this_thread::yield();
  };

  run_more(5);
  {
    std::lock_guard<std::mutex> lock(mu);  // 1. inject the overlap bundle [new CA, old CA]
    injected = after_->ca_cert_pem;
  }
  run_more(5);
  server.SetIdentity(after_->tls_cert_pem, after_->tls_key_pem);  // 2. serve the new leaf
  run_more(5);
  {
    std::lock_guard<std::mutex> lock(mu);  // 3. later, the old CA leaves the bundle
    injected = dropped_->ca_cert_pem;
  }
  run_more(5);
  stop = true;
  client.join();

  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  EXPECT_GE(done.load(), 20);
  EXPECT_GE(server.HandshakesWith(Inspect(before_->tls_cert_pem)->serial_hex), 10);
  EXPECT_GE(server.HandshakesWith(Inspect(after_->tls_cert_pem)->serial_hex), 10);
}

}  // namespace
}  // namespace driftguard::certs
