#include "gateway/pki/dev_ca.h"

#include <dirent.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/openssl.h"
#include "gateway/pki/client_verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::pki {
namespace {

using ::testing::HasSubstr;

// The staff id, or why it was refused, so that a failing EXPECT_EQ says why.
std::string Who(const absl::StatusOr<std::string>& verified) {
  return verified.ok() ? *verified : "refused: " + verified.status().ToString();
}
using ::testing::StartsWith;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

int Mode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : -1;
}

// Every file under `dir` (one level of subdirectories), by relative path.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const std::string sub : {"", "/clients"}) {
    DIR* d = opendir((dir + sub).c_str());
    if (d == nullptr) continue;
    while (dirent* entry = readdir(d)) {
      const std::string name = entry->d_name;
      const std::string path = absl::StrCat(dir, sub, "/", name);
      struct stat st;
      if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        files[absl::StrCat(sub, "/", name)] = ReadFile(path);
      }
    }
    closedir(d);
  }
  return files;
}

X509Ptr ParseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string CommonName(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
                            sizeof(buf));
  return buf;
}

absl::Duration Lifetime(X509* cert) {
  int days = 0, seconds = 0;
  ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert),
                 X509_get0_notAfter(cert));
  return absl::Hours(24) * days + absl::Seconds(seconds);
}

bool IsCritical(X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  return index >= 0 &&
         X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

// Whether the key in `key_path` is the key of the certificate in
// `cert_path`: what a TLS server or client needs of the two files.
bool PairMatches(const std::string& cert_path, const std::string& key_path) {
  X509Ptr cert = ParseCert(ReadFile(cert_path));
  const std::string pem = ReadFile(key_path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  return cert != nullptr && key != nullptr &&
         X509_check_private_key(cert.get(), key.get()) == 1;
}

DevPkiPaths FreshPaths(const std::string& name) {
  return DevPkiPaths{
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/dev_ca/", name)};
}

TEST(DevPkiPathsTest, NamesTheFilesUnderDir) {
  const DevPkiPaths paths{"/d"};
  EXPECT_EQ(paths.ca_cert(), "/d/ca.crt");
  EXPECT_EQ(paths.ca_key(), "/d/ca.key");
  EXPECT_EQ(paths.server_cert(), "/d/server.crt");
  EXPECT_EQ(paths.server_key(), "/d/server.key");
  EXPECT_EQ(paths.client_cert("anna.support"), "/d/clients/anna.support.crt");
  EXPECT_EQ(paths.client_key("anna.support"), "/d/clients/anna.support.key");
}

TEST(EnsureDevPkiTest, CreatesPrivateKeysAndReadableCertificates) {
  const DevPkiPaths paths = FreshPaths("modes");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support", "dirk.dpo"}),
            absl::OkStatus());
  EXPECT_EQ(Mode(paths.dir), 0700);
  EXPECT_EQ(Mode(paths.dir + "/clients"), 0700);
  for (const std::string& key :
       {paths.ca_key(), paths.server_key(), paths.client_key("anna.support"),
        paths.client_key("dirk.dpo")}) {
    EXPECT_EQ(Mode(key), 0600) << key;
    EXPECT_THAT(ReadFile(key), StartsWith("-----BEGIN PRIVATE KEY-----\n"))
        << key << " is not PKCS#8";
  }
  for (const std::string& cert :
       {paths.ca_cert(), paths.server_cert(), paths.client_cert("anna.support"),
        paths.client_cert("dirk.dpo")}) {
    EXPECT_EQ(Mode(cert), 0644) << cert;
  }
  // Nothing but the pairs: no temporary file is left behind.
  const auto files = Snapshot(paths.dir);
  EXPECT_EQ(files.size(), 8u);
  for (const auto& [name, contents] : files) {
    EXPECT_FALSE(absl::StrContains(name, ".tmp")) << name;
  }
}

TEST(EnsureDevPkiTest, KeysAreP256) {
  const DevPkiPaths paths = FreshPaths("p256");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  for (const std::string& path :
       {paths.ca_key(), paths.server_key(), paths.client_key("anna.support")}) {
    const std::string pem = ReadFile(path);
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EvpPkeyPtr key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_NE(key, nullptr) << path;
    char group[64] = {};
    ASSERT_EQ(EVP_PKEY_get_group_name(key.get(), group, sizeof(group), nullptr),
              1);
    EXPECT_EQ(std::string(group), "prime256v1") << path;
  }
}

TEST(EnsureDevPkiTest, CaIsASelfSignedTenYearCa) {
  const DevPkiPaths paths = FreshPaths("ca");
  ASSERT_EQ(EnsureDevPki(paths, {}), absl::OkStatus());
  X509Ptr ca = ParseCert(ReadFile(paths.ca_cert()));
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ(CommonName(ca.get()), "Custos development CA");
  EXPECT_EQ(X509_self_signed(ca.get(), /*verify_signature=*/1), 1);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_TRUE(IsCritical(ca.get(), NID_basic_constraints));
  EXPECT_TRUE(IsCritical(ca.get(), NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(ca.get()), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
  EXPECT_GE(Lifetime(ca.get()), absl::Hours(24 * 3650));
  EXPECT_LT(Lifetime(ca.get()), absl::Hours(24 * 3651));
}

TEST(EnsureDevPkiTest, ServerCertificateNamesLocalhostForServerAuth) {
  const DevPkiPaths paths = FreshPaths("server");
  ASSERT_EQ(EnsureDevPki(paths, {}), absl::OkStatus());
  X509Ptr cert = ParseCert(ReadFile(paths.server_cert()));
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(CommonName(cert.get()), "custosd");
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "evil.example", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.0.0.1", 0), 0);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), XKU_SSL_SERVER);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_GE(Lifetime(cert.get()), absl::Hours(24 * 730));
  EXPECT_LT(Lifetime(cert.get()), absl::Hours(24 * 731));
  // Signed by the CA beside it.
  X509Ptr ca = ParseCert(ReadFile(paths.ca_cert()));
  EXPECT_EQ(X509_check_issued(ca.get(), cert.get()), X509_V_OK);
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(ca.get())), 1);
}

TEST(EnsureDevPkiTest, ClientCertificatesCarryTheIdForClientAuth) {
  const DevPkiPaths paths = FreshPaths("clients");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support", "dirk.dpo"}),
            absl::OkStatus());
  X509Ptr anna = ParseCert(ReadFile(paths.client_cert("anna.support")));
  X509Ptr dirk = ParseCert(ReadFile(paths.client_cert("dirk.dpo")));
  ASSERT_NE(anna, nullptr);
  ASSERT_NE(dirk, nullptr);
  EXPECT_EQ(CommonName(anna.get()), "anna.support");
  EXPECT_EQ(CommonName(dirk.get()), "dirk.dpo");
  EXPECT_EQ(X509_get_extended_key_usage(anna.get()), XKU_SSL_CLIENT);
  EXPECT_GE(Lifetime(anna.get()), absl::Hours(24 * 365));
  EXPECT_LT(Lifetime(anna.get()), absl::Hours(24 * 366));

  auto verifier = ClientVerifier::Create(ReadFile(paths.ca_cert()));
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(Who((*verifier)->Verify(ReadFile(paths.client_cert("dirk.dpo")),
                                    absl::Now())),
            "dirk.dpo");
}

TEST(EnsureDevPkiTest, SerialsAreRandom128BitNumbers) {
  const DevPkiPaths paths = FreshPaths("serials");
  ASSERT_EQ(EnsureDevPki(paths, {"a", "b", "c"}), absl::OkStatus());
  std::set<std::string> serials;
  for (const std::string& path :
       {paths.ca_cert(), paths.server_cert(), paths.client_cert("a"),
        paths.client_cert("b"), paths.client_cert("c")}) {
    X509Ptr cert = ParseCert(ReadFile(path));
    ASSERT_NE(cert, nullptr);
    std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_free>> serial(
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
    EXPECT_LE(BN_num_bits(serial.get()), 128) << path;
    EXPECT_GT(BN_num_bits(serial.get()), 64) << path;  // fails 1 in 2^64
    EXPECT_FALSE(BN_is_negative(serial.get())) << path;
    char* hex = BN_bn2hex(serial.get());
    serials.insert(hex);
    OPENSSL_free(hex);
  }
  EXPECT_EQ(serials.size(), 5u);
}

TEST(EnsureDevPkiTest, SecondCallLeavesEveryFileByteIdentical) {
  const DevPkiPaths paths = FreshPaths("idempotent");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support", "dirk.dpo"}),
            absl::OkStatus());
  const auto before = Snapshot(paths.dir);
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support", "dirk.dpo"}),
            absl::OkStatus());
  EXPECT_EQ(Snapshot(paths.dir), before);
}

TEST(EnsureDevPkiTest, NewIdLaterGetsACertificateFromTheSameCa) {
  const DevPkiPaths paths = FreshPaths("new_id");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  auto before = Snapshot(paths.dir);
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support", "new.hire"}),
            absl::OkStatus());
  auto after = Snapshot(paths.dir);
  EXPECT_EQ(after.size(), before.size() + 2);
  after.erase("/clients/new.hire.crt");
  after.erase("/clients/new.hire.key");
  EXPECT_EQ(after, before);

  auto verifier = ClientVerifier::Create(ReadFile(paths.ca_cert()));
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(Who((*verifier)->Verify(ReadFile(paths.client_cert("new.hire")),
                                    absl::Now())),
            "new.hire");
}

TEST(EnsureDevPkiTest, ReissuesACertificateWhoseKeyIsMissing) {
  const DevPkiPaths paths = FreshPaths("lost_key");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  const std::string ca = ReadFile(paths.ca_cert());
  const std::string old_cert = ReadFile(paths.client_cert("anna.support"));
  ASSERT_EQ(unlink(paths.client_key("anna.support").c_str()), 0);
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  EXPECT_EQ(ReadFile(paths.ca_cert()), ca);
  EXPECT_NE(ReadFile(paths.client_cert("anna.support")), old_cert);
  EXPECT_EQ(Mode(paths.client_key("anna.support")), 0600);
  auto verifier = ClientVerifier::Create(ca);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(Who((*verifier)->Verify(ReadFile(paths.client_cert("anna.support")),
                                    absl::Now())),
            "anna.support");
}

// What a crash leaves between writing a new key and its certificate (the
// key goes first): the old certificate beside a key that is not its own,
// with which custosd, or the staff member, could not make a connection.
TEST(EnsureDevPkiTest, ReissuesAPairWhoseKeyIsNotTheCertificates) {
  const DevPkiPaths paths = FreshPaths("other_key");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  const std::string ca = ReadFile(paths.ca_cert());
  const std::string old_server = ReadFile(paths.server_cert());
  const std::string old_anna = ReadFile(paths.client_cert("anna.support"));
  for (const std::string& key :
       {paths.server_key(), paths.client_key("anna.support")}) {
    auto other = MakeCa("Any key");  // a fresh P-256 key, PKCS#8
    ASSERT_TRUE(other.ok()) << other.status();
    WriteFile(key, other->key_pem);
  }
  ASSERT_FALSE(PairMatches(paths.server_cert(), paths.server_key()));

  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  EXPECT_EQ(ReadFile(paths.ca_cert()), ca);
  EXPECT_NE(ReadFile(paths.server_cert()), old_server);
  EXPECT_NE(ReadFile(paths.client_cert("anna.support")), old_anna);
  EXPECT_TRUE(PairMatches(paths.server_cert(), paths.server_key()));
  EXPECT_TRUE(PairMatches(paths.client_cert("anna.support"),
                          paths.client_key("anna.support")));
  EXPECT_EQ(Mode(paths.server_key()), 0600);
  auto verifier = ClientVerifier::Create(ca);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(Who((*verifier)->Verify(ReadFile(paths.client_cert("anna.support")),
                                    absl::Now())),
            "anna.support");
}

TEST(EnsureDevPkiTest, ReissuesAPairWhoseKeyIsTruncatedOrEmpty) {
  const DevPkiPaths paths = FreshPaths("truncated_key");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  const std::string cert = paths.client_cert("anna.support");
  const std::string key = paths.client_key("anna.support");
  const std::string whole = ReadFile(key);
  for (const std::string& damaged :
       {whole.substr(0, whole.size() / 2), std::string()}) {
    const std::string old_cert = ReadFile(cert);
    WriteFile(key, damaged);
    ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus())
        << damaged.size() << " bytes";
    EXPECT_NE(ReadFile(cert), old_cert) << damaged.size() << " bytes";
    EXPECT_TRUE(PairMatches(cert, key)) << damaged.size() << " bytes";
  }
}

// A key that is there but cannot be read is not written over: the file
// system says why, naming it.
TEST(EnsureDevPkiTest, NamesAKeyThatCannotBeRead) {
  const DevPkiPaths paths = FreshPaths("unreadable_key");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  const std::string key = paths.client_key("anna.support");
  ASSERT_EQ(unlink(key.c_str()), 0);
  ASSERT_EQ(mkdir(key.c_str(), 0700), 0);  // opens, but read() fails
  const absl::Status status = EnsureDevPki(paths, {"anna.support"});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr(key + ": cannot read"));
}

// Staff certificates last a year and the server's two; custosd is started
// again, not reinstalled, so a start renews what has lapsed or soon will.
TEST(EnsureDevPkiTest, ReissuesACertificateThatIsNotValidForAMonthMore) {
  const DevPkiPaths paths = FreshPaths("lapsed");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  const std::string ca = ReadFile(paths.ca_cert());
  const std::string cert = paths.client_cert("anna.support");
  const std::string key = paths.client_key("anna.support");
  const absl::Time now = absl::Now();
  const absl::Duration day = absl::Hours(24);
  struct Window {
    absl::Time from, to;
    const char* what;
  };
  for (const Window& window :
       {Window{now - 400 * day, now - 35 * day, "expired"},
        Window{now - 350 * day, now + 10 * day, "expires in 10 days"},
        Window{now + day, now + 365 * day, "not valid yet"}}) {
    auto planted = IssueClientCert(ca, ReadFile(paths.ca_key()), "anna.support",
                                   window.from, window.to);
    ASSERT_TRUE(planted.ok()) << planted.status();
    WriteFile(key, planted->key_pem);
    WriteFile(cert, planted->cert_pem);
    ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus())
        << window.what;
    EXPECT_NE(ReadFile(cert), planted->cert_pem) << window.what;
    EXPECT_TRUE(PairMatches(cert, key)) << window.what;
    X509Ptr renewed = ParseCert(ReadFile(cert));
    ASSERT_NE(renewed, nullptr) << window.what;
    EXPECT_GE(Lifetime(renewed.get()), absl::Hours(24 * 365)) << window.what;
    auto verifier = ClientVerifier::Create(ca);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    EXPECT_EQ(Who((*verifier)->Verify(ReadFile(cert), now)), "anna.support")
        << window.what;
  }

  // Valid for two months more: kept as it is.
  auto lasting = IssueClientCert(ca, ReadFile(paths.ca_key()), "anna.support",
                                 now - 300 * day, now + 60 * day);
  ASSERT_TRUE(lasting.ok()) << lasting.status();
  WriteFile(key, lasting->key_pem);
  WriteFile(cert, lasting->cert_pem);
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  EXPECT_EQ(ReadFile(cert), lasting->cert_pem);
  EXPECT_EQ(ReadFile(key), lasting->key_pem);
}

TEST(EnsureDevPkiTest, ReplacesAKeyLeftWithoutItsCertificate) {
  // What a crash between writing ca.key and ca.crt leaves.
  const DevPkiPaths paths = FreshPaths("half_ca");
  ASSERT_EQ(EnsureDevPki(paths, {}), absl::OkStatus());
  ASSERT_EQ(unlink(paths.server_cert().c_str()), 0);
  ASSERT_EQ(unlink(paths.ca_cert().c_str()), 0);
  ASSERT_EQ(EnsureDevPki(paths, {}), absl::OkStatus());
  X509Ptr ca = ParseCert(ReadFile(paths.ca_cert()));
  X509Ptr server = ParseCert(ReadFile(paths.server_cert()));
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(X509_verify(server.get(), X509_get0_pubkey(ca.get())), 1);
}

TEST(EnsureDevPkiTest, RefusesCertificatesTheCaDidNotSign) {
  const DevPkiPaths paths = FreshPaths("replaced_ca");
  ASSERT_EQ(EnsureDevPki(paths, {}), absl::OkStatus());
  ASSERT_EQ(unlink(paths.ca_cert().c_str()), 0);
  ASSERT_EQ(unlink(paths.ca_key().c_str()), 0);
  const absl::Status status = EnsureDevPki(paths, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr(paths.server_cert()));
  EXPECT_THAT(status.message(), HasSubstr("not signed by the CA"));
}

TEST(EnsureDevPkiTest, RefusesIdsThatAreNotSafeFileNamesBeforeWriting) {
  const DevPkiPaths paths = FreshPaths("unsafe");
  for (const std::string& id :
       std::vector<std::string>{"../../etc/evil", "", ".hidden", "Anna", "a/b",
                                std::string(65, 'a')}) {
    const absl::Status status = EnsureDevPki(paths, {"anna.support", id});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("\"", id, "\"")));
  }
  EXPECT_EQ(Mode(paths.dir), -1);
}

TEST(EnsureDevPkiTest, CreatesMissingParentDirectories) {
  const DevPkiPaths paths = FreshPaths("deep/er/pki");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  EXPECT_EQ(Mode(paths.dir), 0700);
}

TEST(EnsureDevPkiTest, NamesTheFileThatDoesNotParse) {
  const DevPkiPaths paths = FreshPaths("corrupt");
  ASSERT_EQ(EnsureDevPki(paths, {"anna.support"}), absl::OkStatus());
  WriteFile(paths.client_cert("anna.support"), "not a certificate");
  absl::Status status = EnsureDevPki(paths, {"anna.support"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(paths.client_cert("anna.support")));

  WriteFile(paths.ca_cert(), "-----BEGIN CERTIFICATE-----\nAAAA\n");
  status = EnsureDevPki(paths, {"anna.support"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(paths.ca_cert()));
}

TEST(EnsureDevPkiTest, NamesAMissingCaKeyWhenItMustIssue) {
  const DevPkiPaths paths = FreshPaths("no_ca_key");
  ASSERT_EQ(EnsureDevPki(paths, {}), absl::OkStatus());
  ASSERT_EQ(unlink(paths.ca_key().c_str()), 0);
  // Nothing to issue: the CA key is not needed.
  EXPECT_EQ(EnsureDevPki(paths, {}), absl::OkStatus());
  const absl::Status status = EnsureDevPki(paths, {"new.hire"});
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(paths.ca_key()));
}

TEST(EnsureDevPkiTest, RefusesADirectoryThatIsAFile) {
  const DevPkiPaths paths = FreshPaths("a_file");
  mkdir(FreshPaths("").dir.c_str(), 0700);  // the parent
  WriteFile(paths.dir, "");
  const absl::Status status = EnsureDevPki(paths, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr(paths.dir));
}

TEST(IssueClientCertTest, SetsTheValidityWindowGiven) {
  auto ca = MakeCa("Test CA");
  ASSERT_TRUE(ca.ok()) << ca.status();
  const absl::Time from = absl::FromUnixSeconds(1700000000);
  const absl::Time to = absl::FromUnixSeconds(1700086400);
  auto issued =
      IssueClientCert(ca->cert_pem, ca->key_pem, "anna.support", from, to);
  ASSERT_TRUE(issued.ok()) << issued.status();
  X509Ptr cert = ParseCert(issued->cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert.get()),
                                 absl::ToTimeT(from)),
            0);
  EXPECT_EQ(
      ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert.get()), absl::ToTimeT(to)),
      0);
  EXPECT_EQ(CommonName(cert.get()), "anna.support");
  EXPECT_THAT(issued->key_pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
}

TEST(IssueClientCertTest, RefusesACaThatDoesNotParseOrAKeyThatIsNotItsOwn) {
  auto ca = MakeCa("Test CA");
  auto other = MakeCa("Other CA");
  ASSERT_TRUE(ca.ok() && other.ok());
  const absl::Time now = absl::Now();
  const absl::Time later = now + absl::Hours(1);
  EXPECT_EQ(
      IssueClientCert("garbage", ca->key_pem, "a", now, later).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      IssueClientCert(ca->cert_pem, "garbage", "a", now, later).status().code(),
      absl::StatusCode::kInvalidArgument);
  const absl::Status mismatched =
      IssueClientCert(ca->cert_pem, other->key_pem, "a", now, later).status();
  EXPECT_EQ(mismatched.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatched.message(), HasSubstr("not the CA certificate's key"));
}

TEST(MakeCaTest, MakesADistinctSelfSignedCaEachTime) {
  auto a = MakeCa("Another CA");
  auto b = MakeCa("Another CA");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->cert_pem, b->cert_pem);
  EXPECT_NE(a->key_pem, b->key_pem);
  X509Ptr cert = ParseCert(a->cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(CommonName(cert.get()), "Another CA");
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  EXPECT_EQ(X509_self_signed(cert.get(), 1), 1);
}

}  // namespace
}  // namespace custos::pki
