#include "gateway/pki/dev_ca.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/openssl.h"
#include "common/status_macros.h"

namespace custos::pki {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_free>>;

enum class Kind { kCa, kServer, kClient };

absl::StatusOr<EvpPkeyPtr> NewKey() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("generating a P-256 key");
  return key;
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid,
                          const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr)
    return OpenSslError(absl::StrCat("certificate extension ", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return OpenSslError("adding a certificate extension");
  return absl::OkStatus();
}

// Makes a certificate for `key` named `common_name`; self-signed when
// `issuer` is null.
absl::StatusOr<X509Ptr> MakeCert(Kind kind, absl::string_view common_name,
                                 EVP_PKEY* key, X509* issuer,
                                 EVP_PKEY* issuer_key, absl::Time not_before,
                                 absl::Time not_after) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1)
    return OpenSslError("serial");
  serial_bytes[0] &= 0x7f;  // a positive serial
  BignumPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (serial == nullptr ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ==
          nullptr) {
    return OpenSslError("setting the serial");
  }
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_after));
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string cn(common_name);
  if (X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1) {
    return OpenSslError("setting the subject");
  }
  X509_set_issuer_name(cert.get(),
                       issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509* signer = issuer ? issuer : cert.get();
  switch (kind) {
    case Kind::kCa:
      CUSTOS_RETURN_IF_ERROR(AddExtension(
          cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE"));
      CUSTOS_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_key_usage,
                                          "critical,keyCertSign,cRLSign"));
      break;
    case Kind::kServer:
      CUSTOS_RETURN_IF_ERROR(AddExtension(
          cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth"));
      CUSTOS_RETURN_IF_ERROR(AddExtension(cert.get(), signer,
                                          NID_subject_alt_name,
                                          "DNS:localhost,IP:127.0.0.1,IP:::1"));
      break;
    case Kind::kClient:
      CUSTOS_RETURN_IF_ERROR(AddExtension(
          cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(cert.get(), signer, NID_ext_key_usage, "clientAuth"));
      break;
  }
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
    return OpenSslError("signing the certificate");
  }
  return cert;
}

std::string CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, length);
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                           nullptr);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, length);
}

absl::StatusOr<X509Ptr> ParseCert(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return OpenSslError("parsing the CA certificate",
                        absl::StatusCode::kInvalidArgument);
  }
  return cert;
}

absl::StatusOr<EvpPkeyPtr> ParseKey(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return OpenSslError("parsing the CA key",
                        absl::StatusCode::kInvalidArgument);
  }
  return key;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

absl::Status MakeDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": cannot create directory: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `contents` to `path` with `mode`: into a temporary file that is
// synced and then renamed, so readers see all of it or none.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, mode_t mode) {
  const std::string temp = path + ".tmp";
  const int fd =
      open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(temp, ": cannot create: ", std::strerror(errno)));
  }
  fchmod(fd, mode);
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n =
        write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string error = std::strerror(errno);
      close(fd);
      unlink(temp.c_str());
      return absl::UnavailableError(
          absl::StrCat(temp, ": cannot write: ", error));
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(temp.c_str());
    return absl::UnavailableError(
        absl::StrCat(temp, ": cannot sync: ", std::strerror(errno)));
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot rename: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WritePair(const std::string& cert_path,
                       const std::string& key_path, const IssuedCert& pair) {
  // The key first: a certificate never exists without its key.
  CUSTOS_RETURN_IF_ERROR(WriteFileAtomically(key_path, pair.key_pem, 0600));
  return WriteFileAtomically(cert_path, pair.cert_pem, 0644);
}

absl::StatusOr<IssuedCert> Issue(Kind kind, absl::string_view ca_cert_pem,
                                 absl::string_view ca_key_pem,
                                 absl::string_view common_name,
                                 absl::Time not_before, absl::Time not_after) {
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr ca, ParseCert(ca_cert_pem));
  CUSTOS_ASSIGN_OR_RETURN(EvpPkeyPtr ca_key, ParseKey(ca_key_pem));
  CUSTOS_ASSIGN_OR_RETURN(EvpPkeyPtr key, NewKey());
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr cert,
                          MakeCert(kind, common_name, key.get(), ca.get(),
                                   ca_key.get(), not_before, not_after));
  return IssuedCert{CertPem(cert.get()), KeyPem(key.get())};
}

}  // namespace

absl::StatusOr<IssuedCert> MakeCa(absl::string_view common_name) {
  const absl::Time now = absl::Now();
  CUSTOS_ASSIGN_OR_RETURN(EvpPkeyPtr key, NewKey());
  CUSTOS_ASSIGN_OR_RETURN(
      X509Ptr cert,
      MakeCert(Kind::kCa, common_name, key.get(), nullptr, nullptr,
               now - absl::Hours(1), now + absl::Hours(24 * 3650)));
  return IssuedCert{CertPem(cert.get()), KeyPem(key.get())};
}

absl::StatusOr<IssuedCert> IssueClientCert(absl::string_view ca_cert_pem,
                                           absl::string_view ca_key_pem,
                                           absl::string_view common_name,
                                           absl::Time not_before,
                                           absl::Time not_after) {
  return Issue(Kind::kClient, ca_cert_pem, ca_key_pem, common_name, not_before,
               not_after);
}

absl::Status EnsureDevPki(const DevPkiPaths& paths,
                          const std::vector<std::string>& client_ids) {
  CUSTOS_RETURN_IF_ERROR(MakeDirectory(paths.dir));
  CUSTOS_RETURN_IF_ERROR(MakeDirectory(paths.dir + "/clients"));
  if (!Exists(paths.ca_cert())) {
    CUSTOS_ASSIGN_OR_RETURN(IssuedCert ca, MakeCa("Custos development CA"));
    CUSTOS_RETURN_IF_ERROR(WritePair(paths.ca_cert(), paths.ca_key(), ca));
  }
  CUSTOS_ASSIGN_OR_RETURN(std::string ca_cert, ReadFile(paths.ca_cert()));
  CUSTOS_ASSIGN_OR_RETURN(std::string ca_key, ReadFile(paths.ca_key()));
  // Back-date a little so clocks that disagree by minutes still agree.
  const absl::Time now = absl::Now() - absl::Hours(1);
  if (!Exists(paths.server_cert())) {
    CUSTOS_ASSIGN_OR_RETURN(
        IssuedCert server, Issue(Kind::kServer, ca_cert, ca_key, "custosd", now,
                                 now + absl::Hours(24 * 730)));
    CUSTOS_RETURN_IF_ERROR(
        WritePair(paths.server_cert(), paths.server_key(), server));
  }
  for (const std::string& id : client_ids) {
    // Ids become file names: keep them to a safe alphabet.
    const bool safe =
        !id.empty() && id[0] != '.' && id.size() <= 64 &&
        id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") ==
            std::string::npos;
    if (!safe) {
      return absl::InvalidArgumentError(absl::StrCat(
          "client certificate id \"", id,
          "\": expected 1 to 64 of [a-z0-9._-], not starting with '.'"));
    }
    if (Exists(paths.client_cert(id))) continue;
    CUSTOS_ASSIGN_OR_RETURN(IssuedCert client,
                            Issue(Kind::kClient, ca_cert, ca_key, id, now,
                                  now + absl::Hours(24 * 365)));
    CUSTOS_RETURN_IF_ERROR(
        WritePair(paths.client_cert(id), paths.client_key(id), client));
  }
  return absl::OkStatus();
}

}  // namespace custos::pki
