#include "gateway/pki/client_verifier.h"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/openssl.h"
#include "common/utf8.h"
#include "gateway/pki/dev_ca.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::pki {
namespace {

using ::testing::HasSubstr;

// The staff id, or why it was refused, so that a failing EXPECT_EQ says why.
std::string Who(const absl::StatusOr<std::string>& verified) {
  return verified.ok() ? *verified : "refused: " + verified.status().ToString();
}

X509Ptr ParseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// The serial as BN_bn2hex prints it: uppercase, no separators.
std::string SerialHex(const std::string& pem) {
  X509Ptr cert = ParseCert(pem);
  std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_free>> bn(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex;
  OPENSSL_free(hex);
  return out;
}

std::string Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

void AddName(X509* cert, const char* field, const char* value) {
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), field, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(value), -1,
                             -1, 0);
}

// A certificate with serial 42, valid for the hour around `now`, signed by
// `ca`, whose subject and extensions `shape` sets: for the shapes that
// IssueClientCert does not make.
std::string IssueShaped(const IssuedCert& ca, absl::Time now,
                        const std::function<void(X509*, X509*)>& shape) {
  X509Ptr issuer = ParseCert(ca.cert_pem);
  BioPtr bio(
      BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size())));
  EvpPkeyPtr issuer_key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 42);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                absl::ToTimeT(now - absl::Minutes(30)));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                absl::ToTimeT(now + absl::Minutes(30)));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer.get()));
  X509_set_pubkey(cert.get(), key.get());
  shape(cert.get(), issuer.get());
  EXPECT_GT(X509_sign(cert.get(), issuer_key.get(), EVP_sha256()), 0);
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(out.get(), cert.get());
  char* data = nullptr;
  const long length = BIO_get_mem_data(out.get(), &data);
  return std::string(data, length);
}

class ClientVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = MakeCa("Test CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    auto verifier = ClientVerifier::Create(ca_.cert_pem);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
  }

  std::string Issue(const std::string& cn, absl::Time from, absl::Time to) {
    auto cert = IssueClientCert(ca_.cert_pem, ca_.key_pem, cn, from, to);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return cert.ok() ? cert->cert_pem : "";
  }

  std::string IssueCurrent(const std::string& cn) {
    return Issue(cn, now_ - absl::Hours(1), now_ + absl::Hours(1));
  }

  void ExpectRefused(const std::string& pem, const std::string& why,
                     absl::Time at) {
    auto result = verifier_->Verify(pem, at);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated)
        << "expected: " << why;
    EXPECT_THAT(result.status().message(), HasSubstr(why));
  }
  void ExpectRefused(const std::string& pem, const std::string& why) {
    ExpectRefused(pem, why, now_);
  }

  const absl::Time now_ =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  IssuedCert ca_;
  std::unique_ptr<ClientVerifier> verifier_;
};

TEST_F(ClientVerifierTest, AcceptsACurrentCertificateAndReturnsItsCommonName) {
  const std::string pem = IssueCurrent("anna.support");
  EXPECT_EQ(Who(verifier_->Verify(pem, now_)), "anna.support");
  // Again, from the cache.
  EXPECT_EQ(Who(verifier_->Verify(pem, now_)), "anna.support");
}

TEST_F(ClientVerifierTest, RefusesAMissingCertificate) {
  ExpectRefused("", "no client certificate was presented");
  ExpectRefused("\n", "no client certificate was presented");
}

TEST_F(ClientVerifierTest, RefusesGarbage) {
  ExpectRefused("garbage", "client certificate is not a PEM certificate");
  ExpectRefused(
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      "client certificate is not a PEM certificate");
}

TEST_F(ClientVerifierTest, RefusesACertificateFromAnotherCa) {
  auto other = MakeCa("Other CA");
  ASSERT_TRUE(other.ok());
  auto foreign =
      IssueClientCert(other->cert_pem, other->key_pem, "anna.support",
                      now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(foreign.ok());
  ExpectRefused(foreign->cert_pem,
                "client certificate is not signed by the trusted CA (issuer "
                "CN=Other CA)");
  // The other CA's own certificate.
  ExpectRefused(other->cert_pem,
                "client certificate is not signed by the trusted CA (it is "
                "self-signed)");
}

TEST_F(ClientVerifierTest, QuotesAnyIssuerAsValidUtf8) {
  // An issuer name longer than the quote's bound, of two-byte characters
  // after an ASCII run of every length, so that the bound falls inside a
  // character for half of them: the refusal goes into a log entry, which
  // would never parse again if its text were not UTF-8.
  // (Each attribute has a bound of its own: O at most 64 characters, L 128.)
  for (int ascii = 90; ascii < 110; ++ascii) {
    const std::string locality(ascii, 'a');
    std::string organization;
    for (int i = 0; i < 60; ++i) organization += "\xC3\xA9";  // é
    const std::string pem =
        IssueShaped(ca_, now_, [&](X509* cert, X509* /*issuer*/) {
          X509_NAME* name = X509_NAME_new();
          for (const auto& [field, value] :
               {std::pair(std::string("O"), organization),
                std::pair(std::string("L"), locality)}) {
            ASSERT_EQ(X509_NAME_add_entry_by_txt(
                          name, field.c_str(), MBSTRING_UTF8,
                          reinterpret_cast<const unsigned char*>(value.data()),
                          static_cast<int>(value.size()), -1, 0),
                      1)
                << field;
          }
          X509_set_issuer_name(cert, name);
          X509_NAME_free(name);
          AddName(cert, "CN", "anna.support");
        });
    const absl::Status refused = verifier_->Verify(pem, now_).status();
    ASSERT_EQ(refused.code(), absl::StatusCode::kUnauthenticated) << refused;
    EXPECT_THAT(std::string(refused.message()), HasSubstr("(issuer L=aaa"));
    EXPECT_THAT(std::string(refused.message()), HasSubstr("...)"));
    EXPECT_TRUE(IsValidUtf8(refused.message())) << ascii;
  }
}

TEST_F(ClientVerifierTest, RefusesACertificateFromAnotherCaOfTheSameName) {
  // Two development installs each have a "Custos development CA"; here both
  // are "Test CA".
  auto twin = MakeCa("Test CA");
  ASSERT_TRUE(twin.ok());
  auto foreign = IssueClientCert(twin->cert_pem, twin->key_pem, "anna.support",
                                 now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(foreign.ok());
  ExpectRefused(foreign->cert_pem,
                "client certificate is not signed by the trusted CA (issuer "
                "CN=Test CA)");
}

TEST_F(ClientVerifierTest, RefusesAnExpiredCertificateSayingWhen) {
  const absl::Time expired_at = now_ - absl::Hours(24);
  ExpectRefused(Issue("anna.support", now_ - absl::Hours(48), expired_at),
                absl::StrCat("client certificate expired at ", Utc(expired_at),
                             "; ask for a new one"));
}

TEST_F(ClientVerifierTest, RefusesANotYetValidCertificateSayingWhen) {
  const absl::Time valid_from = now_ + absl::Hours(24);
  ExpectRefused(Issue("anna.support", valid_from, now_ + absl::Hours(48)),
                absl::StrCat("client certificate is not valid until ",
                             Utc(valid_from), "; check the clocks"));
}

TEST_F(ClientVerifierTest, ChecksTheValidityWindowAtTheTimeGiven) {
  const std::string pem = IssueCurrent("anna.support");
  EXPECT_EQ(Who(verifier_->Verify(pem, now_)), "anna.support");
  // The cached result does not outlive the certificate.
  ExpectRefused(pem, "expired at", now_ + absl::Hours(2));
  ExpectRefused(pem, "is not valid until", now_ - absl::Hours(2));
  EXPECT_EQ(Who(verifier_->Verify(pem, now_ + absl::Minutes(59))),
            "anna.support");
}

TEST_F(ClientVerifierTest,
       RefusesACertificateThatOutlivesItsCaOnceTheCaExpires) {
  const std::string pem = Issue("anna.support", now_ - absl::Hours(1),
                                now_ + absl::Hours(24 * 365 * 20));
  EXPECT_EQ(Who(verifier_->Verify(pem, now_)), "anna.support");
  ExpectRefused(pem, "CA certificate (subject CN=Test CA)",
                now_ + absl::Hours(24 * 365 * 11));
  ExpectRefused(pem, "expired at", now_ + absl::Hours(24 * 365 * 11));
}

TEST_F(ClientVerifierTest, RefusesARevokedSerial) {
  const std::string pem = IssueCurrent("eva.former");
  const std::string other = IssueCurrent("anna.support");
  ASSERT_TRUE(verifier_->Verify(pem, now_).ok());  // now cached
  const std::string serial = SerialHex(pem);
  verifier_->Revoke(serial);
  // BN_bn2hex writes whole bytes ("025B..." for a random serial whose top
  // nibble is 0); messages name serials without leading zeros.
  const std::string named = absl::AsciiStrToLower(
      serial.substr(std::min(serial.find_first_not_of('0'), serial.size())));
  ExpectRefused(
      pem, absl::StrCat("client certificate is revoked (serial ", named, ")"));
  EXPECT_EQ(Who(verifier_->Verify(other, now_)), "anna.support");
}

// The subject names a person and refusals are logged: it comes back apart
// from the message, refused or not, and the message never quotes it.
TEST_F(ClientVerifierTest, GivesTheSubjectApartFromTheMessage) {
  const std::string subject = "CN=Nina Newcomer,O=Acme,C=NL";
  const auto shaped = [&](const char* key_usage) {
    return IssueShaped(ca_, now_, [&, key_usage](X509* cert, X509* issuer) {
      AddName(cert, "C", "NL");
      AddName(cert, "O", "Acme");
      AddName(cert, "CN", "Nina Newcomer");
      AddExtension(cert, issuer, NID_ext_key_usage, key_usage);
    });
  };
  const std::string current = shaped("clientAuth");
  std::string named;
  EXPECT_EQ(Who(verifier_->Verify(current, now_, nullptr, &named)),
            "Nina Newcomer");
  EXPECT_EQ(named, subject);
  const auto expect_refused_apart = [&](const std::string& pem, absl::Time at,
                                        const std::string& why) {
    std::string refused_subject;
    auto result = verifier_->Verify(pem, at, nullptr, &refused_subject);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(result.status().message(), HasSubstr(why));
    EXPECT_THAT(std::string(result.status().message()),
                ::testing::Not(HasSubstr("Newcomer")));
    EXPECT_EQ(refused_subject, subject) << why;
  };
  expect_refused_apart(current, now_ + absl::Hours(1), "expired at");
  expect_refused_apart(shaped("serverAuth"), now_,
                       "not for client authentication");
  verifier_->Revoke(SerialHex(current));
  expect_refused_apart(current, now_, "is revoked (serial 2a)");
}

TEST_F(ClientVerifierTest, RevokeAcceptsTheWaysOpenSslPrintsASerial) {
  auto shaped = [&](X509* cert, X509* issuer) {
    AddName(cert, "CN", "anna.support");
    AddExtension(cert, issuer, NID_ext_key_usage, "clientAuth");
  };
  const std::string serial_42 = IssueShaped(ca_, now_, shaped);
  ASSERT_EQ(Who(verifier_->Verify(serial_42, now_)), "anna.support");
  verifier_->Revoke("00:2A");  // as `openssl x509 -text` might print it
  ExpectRefused(serial_42, "is revoked (serial 2a)");
}

TEST_F(ClientVerifierTest, RefusesACertificateWithoutACommonName) {
  ExpectRefused(IssueShaped(ca_, now_,
                            [&](X509* cert, X509* issuer) {
                              AddName(cert, "O", "Acme");
                              AddExtension(cert, issuer, NID_ext_key_usage,
                                           "clientAuth");
                            }),
                "client certificate has no subject common name");
  ExpectRefused(IssueShaped(ca_, now_,
                            [&](X509* cert, X509* issuer) {
                              AddName(cert, "CN", "anna.support");
                              AddName(cert, "CN", "dirk.dpo");
                              AddExtension(cert, issuer, NID_ext_key_usage,
                                           "clientAuth");
                            }),
                "more than one subject common name");
}

TEST_F(ClientVerifierTest, RefusesACertificateNotForClientAuth) {
  ExpectRefused(IssueShaped(ca_, now_,
                            [&](X509* cert, X509* issuer) {
                              AddName(cert, "CN", "custosd");
                              AddExtension(cert, issuer, NID_ext_key_usage,
                                           "serverAuth");
                            }),
                "client certificate is not for client authentication");
  ExpectRefused(IssueShaped(ca_, now_,
                            [&](X509* cert, X509* /*issuer*/) {
                              AddName(cert, "CN", "anna.support");
                            }),
                "it has no extendedKeyUsage clientAuth");
  // The trusted CA's own certificate is no client certificate either.
  ExpectRefused(ca_.cert_pem,
                "client certificate is not for client authentication");
}

TEST_F(ClientVerifierTest, VerifiesAndRevokesFromManyThreads) {
  const std::string anna = IssueCurrent("anna.support");
  const std::string eva = IssueCurrent("eva.former");
  std::vector<std::thread> threads;
  std::atomic<int> anna_refused{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (!verifier_->Verify(anna, now_).ok()) ++anna_refused;
        verifier_->Verify(eva, now_).IgnoreError();
        if (t == 0 && i == 25) verifier_->Revoke(SerialHex(eva));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(anna_refused, 0);
  ExpectRefused(eva, "is revoked");
}

TEST(ClientVerifierCreateTest, RefusesTrustWithoutACaCertificate) {
  for (const std::string& pem :
       {std::string(""), std::string("garbage"),
        std::string("-----BEGIN CERTIFICATE-----\nAAAA\n"
                    "-----END CERTIFICATE-----\n")}) {
    EXPECT_EQ(ClientVerifier::Create(pem).status().code(),
              absl::StatusCode::kInvalidArgument)
        << pem;
  }
  auto ca = MakeCa("Test CA");
  ASSERT_TRUE(ca.ok());
  auto leaf = IssueClientCert(ca->cert_pem, ca->key_pem, "anna.support",
                              absl::Now(), absl::Now() + absl::Hours(1));
  ASSERT_TRUE(leaf.ok());
  const absl::Status status = ClientVerifier::Create(leaf->cert_pem).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is not a CA certificate"));
  // A good CA followed by a broken one is refused as a whole.
  EXPECT_EQ(ClientVerifier::Create(ca->cert_pem +
                                   "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                   "-----END CERTIFICATE-----\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClientVerifierCreateTest, TrustsEveryCaInABundle) {
  auto a = MakeCa("CA A");
  auto b = MakeCa("CA B");
  ASSERT_TRUE(a.ok() && b.ok());
  auto verifier = ClientVerifier::Create(a->cert_pem + b->cert_pem);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const absl::Time now = absl::Now();
  for (const IssuedCert* ca : {&*a, &*b}) {
    auto leaf = IssueClientCert(ca->cert_pem, ca->key_pem, "anna.support",
                                now - absl::Hours(1), now + absl::Hours(1));
    ASSERT_TRUE(leaf.ok());
    EXPECT_EQ(Who((*verifier)->Verify(leaf->cert_pem, now)), "anna.support");
  }
}

}  // namespace
}  // namespace custos::pki
