#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gateway/pki/client_verifier.h"
#include "gateway/pki/dev_ca.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::pki {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int Mode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? (st.st_mode & 0777) : -1;
}

DevPkiPaths FreshPaths(const std::string& name) {
  return DevPkiPaths{absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name)};
}

TEST(DevPkiTest, CreatesKeysPrivateAndCertificatesThatVerify) {
  const DevPkiPaths paths = FreshPaths("create");
  ASSERT_TRUE(EnsureDevPki(paths, {"anna.support", "dirk.dpo"}).ok());
  EXPECT_EQ(Mode(paths.ca_key()), 0600);
  EXPECT_EQ(Mode(paths.server_key()), 0600);
  EXPECT_EQ(Mode(paths.client_key("anna.support")), 0600);
  EXPECT_EQ(Mode(paths.client_cert("anna.support")), 0644);

  auto verifier = ClientVerifier::Create(ReadFile(paths.ca_cert()));
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto who =
      (*verifier)->Verify(ReadFile(paths.client_cert("dirk.dpo")), absl::Now());
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(*who, "dirk.dpo");
}

TEST(DevPkiTest, SecondRunChangesNothingAndNewIdsShareTheCa) {
  const DevPkiPaths paths = FreshPaths("idempotent");
  ASSERT_TRUE(EnsureDevPki(paths, {"anna.support"}).ok());
  const std::string ca = ReadFile(paths.ca_cert());
  const std::string anna = ReadFile(paths.client_cert("anna.support"));
  ASSERT_TRUE(EnsureDevPki(paths, {"anna.support", "new.hire"}).ok());
  EXPECT_EQ(ReadFile(paths.ca_cert()), ca);
  EXPECT_EQ(ReadFile(paths.client_cert("anna.support")), anna);
  auto verifier = ClientVerifier::Create(ca);
  EXPECT_EQ(*(*verifier)->Verify(ReadFile(paths.client_cert("new.hire")),
                                 absl::Now()),
            "new.hire");
}

TEST(DevPkiTest, RefusesIdsThatAreNotSafeFileNames) {
  const DevPkiPaths paths = FreshPaths("unsafe");
  const absl::Status status = EnsureDevPki(paths, {"../../etc/evil"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("../../etc/evil"));
}

TEST(DevPkiTest, ServerCertificateNamesLocalhost) {
  const DevPkiPaths paths = FreshPaths("server");
  ASSERT_TRUE(EnsureDevPki(paths, {}).ok());
  const std::string pem = ReadFile(paths.server_cert());
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "evil.example", 0, 0, nullptr), 0);
}

class ClientVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = MakeCa("Test CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    verifier_ = *ClientVerifier::Create(ca_.cert_pem);
  }

  std::string Issue(const std::string& cn, absl::Time from, absl::Time to) {
    auto cert = IssueClientCert(ca_.cert_pem, ca_.key_pem, cn, from, to);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return cert->cert_pem;
  }

  void ExpectRefused(const std::string& pem, const std::string& why) {
    auto result = verifier_->Verify(pem, now_);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated)
        << why;
    EXPECT_THAT(result.status().message(), HasSubstr(why));
  }

  const absl::Time now_ = absl::Now();
  IssuedCert ca_;
  std::unique_ptr<ClientVerifier> verifier_;
};

TEST_F(ClientVerifierTest, AcceptsACurrentCertificate) {
  auto who = verifier_->Verify(
      Issue("anna.support", now_ - absl::Hours(1), now_ + absl::Hours(1)),
      now_);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(*who, "anna.support");
}

TEST_F(ClientVerifierTest, RefusesWithAReasonAPersonCanActOn) {
  auto other = *MakeCa("Other CA");
  auto foreign = *IssueClientCert(other.cert_pem, other.key_pem, "anna.support",
                                  now_ - absl::Hours(1), now_ + absl::Hours(1));
  ExpectRefused("", "no client certificate was presented");
  ExpectRefused("garbage", "not a PEM certificate");
  ExpectRefused(foreign.cert_pem, "not signed by the trusted CA");
  ExpectRefused(other.cert_pem, "not signed by the trusted CA");
  ExpectRefused(
      Issue("anna.support", now_ - absl::Hours(48), now_ - absl::Hours(24)),
      "expired at");
  ExpectRefused(
      Issue("anna.support", now_ + absl::Hours(24), now_ + absl::Hours(48)),
      "is not valid until");
}

TEST_F(ClientVerifierTest, RefusesARevokedSerial) {
  const std::string pem =
      Issue("eva.former", now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(verifier_->Verify(pem, now_).ok());
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert.get()), nullptr);
  char* hex = BN_bn2hex(bn);
  verifier_->Revoke(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  ExpectRefused(pem, "is revoked");
}

TEST(ClientVerifierCreateTest, RefusesEmptyTrust) {
  EXPECT_EQ(ClientVerifier::Create("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::pki
