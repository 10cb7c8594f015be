// The property custosd relies on: with
// GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY the TLS handshake
// succeeds whatever client certificate is sent (the dev PKI's, none, or one
// from another CA), and the peer's certificate reaches the application, where
// ClientVerifier decides. A real server on a loopback port, the default
// health-check service, and a generic "who am I" method that runs the
// verifier on the peer certificate gRPC hands over.
#include <grpc/grpc_security_constants.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "gateway/pki/client_verifier.h"
#include "gateway/pki/dev_ca.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::pki {
namespace {

using ::testing::HasSubstr;

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kWhoAmI[] = "/custos.test.PeerIdentity/WhoAmI";
constexpr char kPeerAuthenticated[] = "x-grpc-peer-authenticated";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Answers every method it is asked for with the verified staff id of the
// peer, or UNAUTHENTICATED and the verifier's reason.
class PeerIdentityService : public grpc::CallbackGenericService {
 public:
  explicit PeerIdentityService(const ClientVerifier* verifier)
      : verifier_(verifier) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    return new Reactor(context, verifier_);
  }

 private:
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    Reactor(grpc::GenericCallbackServerContext* context,
            const ClientVerifier* verifier) {
      std::string peer_pem;
      const auto auth = context->auth_context();
      // What gRPC itself claims about the peer, for the tests to compare.
      context->AddTrailingMetadata(
          kPeerAuthenticated,
          auth != nullptr && auth->IsPeerAuthenticated() ? "true" : "false");
      if (auth != nullptr) {
        for (const grpc::string_ref& value :
             auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
          peer_pem.assign(value.data(), value.size());
        }
      }
      absl::StatusOr<std::string> who = verifier->Verify(peer_pem, absl::Now());
      if (!who.ok()) {
        Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                            std::string(who.status().message())));
        return;
      }
      grpc::Slice slice(*who);
      response_ = grpc::ByteBuffer(&slice, 1);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    grpc::ByteBuffer response_;
  };

  const ClientVerifier* verifier_;
};

struct CallResult {
  grpc::Status status;
  std::string body;
  // gRPC's AuthContext::IsPeerAuthenticated() on the server, from WhoAmI.
  std::string peer_authenticated;
};

class TlsHandshakeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    paths_ = new DevPkiPaths{absl::StrCat(std::getenv("TEST_TMPDIR"), "/tls")};
    ASSERT_EQ(EnsureDevPki(*paths_, {"anna.support"}), absl::OkStatus());
    auto verifier = ClientVerifier::Create(ReadFile(paths_->ca_cert()));
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = verifier->release();
    service_ = new PeerIdentityService(verifier_);

    // As gateway/server.cc configures it.
    grpc::SslServerCredentialsOptions tls(
        GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
    tls.pem_root_certs = ReadFile(paths_->ca_cert());
    tls.pem_key_cert_pairs.push_back(
        {ReadFile(paths_->server_key()), ReadFile(paths_->server_cert())});
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls),
                             &port_);
    builder.RegisterCallbackGenericService(service_);
    server_ = builder.BuildAndStart().release();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      server_->Shutdown();
      server_->Wait();
    }
    delete server_;
    delete service_;
    delete verifier_;
    delete paths_;
  }

  // A channel of its own (no subchannel shared with another test) that
  // trusts `root_pem` and presents `cert_pem`/`key_pem`, or nothing if empty.
  static std::shared_ptr<grpc::Channel> Connect(const std::string& root_pem,
                                                const std::string& cert_pem,
                                                const std::string& key_pem) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = root_pem;
    tls.pem_cert_chain = cert_pem;
    tls.pem_private_key = key_pem;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_),
                                     grpc::SslCredentials(tls), args);
  }

  static bool Connected(grpc::Channel& channel) {
    return channel.WaitForConnected(std::chrono::system_clock::now() +
                                    std::chrono::seconds(5));
  }

  // A unary call with an empty request message.
  static CallResult Call(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& method) {
    grpc::GenericStub stub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    grpc::Slice empty("");
    const grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    CallResult result;
    Notification done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&](grpc::Status status) {
                     result.status = std::move(status);
                     done.Notify();
                   });
    done.WaitForNotification();
    const auto& trailers = context.GetServerTrailingMetadata();
    if (auto it = trailers.find(kPeerAuthenticated); it != trailers.end()) {
      result.peer_authenticated.assign(it->second.data(), it->second.size());
    }
    std::vector<grpc::Slice> slices;
    if (result.status.ok() && response.Dump(&slices).ok()) {
      for (const grpc::Slice& slice : slices) {
        result.body.append(reinterpret_cast<const char*>(slice.begin()),
                           slice.size());
      }
    }
    return result;
  }

  static void ExpectHealthy(const std::shared_ptr<grpc::Channel>& channel) {
    const CallResult health = Call(channel, kHealthCheck);
    ASSERT_TRUE(health.status.ok()) << health.status.error_message();
    // HealthCheckResponse{status: SERVING}.
    EXPECT_EQ(health.body, std::string("\x08\x01", 2));
  }

  static DevPkiPaths* paths_;
  static ClientVerifier* verifier_;
  static PeerIdentityService* service_;
  static grpc::Server* server_;
  static int port_;
};

DevPkiPaths* TlsHandshakeTest::paths_ = nullptr;
ClientVerifier* TlsHandshakeTest::verifier_ = nullptr;
PeerIdentityService* TlsHandshakeTest::service_ = nullptr;
grpc::Server* TlsHandshakeTest::server_ = nullptr;
int TlsHandshakeTest::port_ = 0;

TEST_F(TlsHandshakeTest, DevClientCertificateConnectsAndIsVerified) {
  auto channel = Connect(ReadFile(paths_->ca_cert()),
                         ReadFile(paths_->client_cert("anna.support")),
                         ReadFile(paths_->client_key("anna.support")));
  EXPECT_TRUE(Connected(*channel));
  ExpectHealthy(channel);
  const CallResult who = Call(channel, kWhoAmI);
  ASSERT_TRUE(who.status.ok()) << who.status.error_message();
  EXPECT_EQ(who.body, "anna.support");
}

TEST_F(TlsHandshakeTest, NoClientCertificateConnectsAndIsRefusedByTheApp) {
  auto channel = Connect(ReadFile(paths_->ca_cert()), "", "");
  EXPECT_TRUE(Connected(*channel));
  ExpectHealthy(channel);
  const CallResult who = Call(channel, kWhoAmI);
  EXPECT_EQ(who.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(who.status.error_message(),
              HasSubstr("no client certificate was presented"));
  EXPECT_EQ(who.peer_authenticated, "false");
}

TEST_F(TlsHandshakeTest, ForeignClientCertificateConnectsAndIsRefusedByTheApp) {
  auto other = MakeCa("Mallory CA");
  ASSERT_TRUE(other.ok()) << other.status();
  const absl::Time now = absl::Now();
  auto forged = IssueClientCert(other->cert_pem, other->key_pem, "anna.support",
                                now - absl::Hours(1), now + absl::Hours(1));
  ASSERT_TRUE(forged.ok()) << forged.status();
  auto channel =
      Connect(ReadFile(paths_->ca_cert()), forged->cert_pem, forged->key_pem);
  EXPECT_TRUE(Connected(*channel));
  ExpectHealthy(channel);
  const CallResult who = Call(channel, kWhoAmI);
  EXPECT_EQ(who.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(who.status.error_message(),
              HasSubstr("client certificate is not signed by the trusted CA "
                        "(issuer CN=Mallory CA)"));
  // Under DONT_VERIFY gRPC still calls this peer authenticated (it sets the
  // peer identity from the unverified certificate's CN and SANs): nothing in
  // custosd may rely on IsPeerAuthenticated() or GetPeerIdentity().
  EXPECT_EQ(who.peer_authenticated, "true");
}

TEST_F(TlsHandshakeTest, ExpiredClientCertificateConnectsAndIsRefusedByTheApp) {
  const absl::Time now = absl::Now();
  auto expired = IssueClientCert(ReadFile(paths_->ca_cert()),
                                 ReadFile(paths_->ca_key()), "anna.support",
                                 now - absl::Hours(48), now - absl::Hours(24));
  ASSERT_TRUE(expired.ok()) << expired.status();
  auto channel =
      Connect(ReadFile(paths_->ca_cert()), expired->cert_pem, expired->key_pem);
  EXPECT_TRUE(Connected(*channel));
  const CallResult who = Call(channel, kWhoAmI);
  EXPECT_EQ(who.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(who.status.error_message(), HasSubstr("expired at"));
}

// The control: a handshake that does fail is seen as one, so the successes
// above mean something. The client does not trust the server's CA.
TEST_F(TlsHandshakeTest, ClientThatDoesNotTrustTheServerFailsTheHandshake) {
  auto other = MakeCa("Other CA");
  ASSERT_TRUE(other.ok()) << other.status();
  auto channel = Connect(other->cert_pem, "", "");
  const CallResult health = Call(channel, kHealthCheck);
  EXPECT_EQ(health.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY);
}

}  // namespace
}  // namespace custos::pki
