#include "gateway/pki/dev_ca.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/openssl.h"
#include "common/status_macros.h"

namespace custos::pki {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_free>>;

constexpr char kCaName[] = "Custos development CA";
constexpr char kServerName[] = "custosd";
constexpr absl::Duration kCaLifetime = absl::Hours(24 * 3650);
constexpr absl::Duration kServerLifetime = absl::Hours(24 * 730);
constexpr absl::Duration kClientLifetime = absl::Hours(24 * 365);
// Certificates start an hour back so that clocks a few minutes apart agree.
constexpr absl::Duration kBackdate = absl::Hours(1);
// A leaf that expires sooner than this is issued again at start: custosd
// runs for weeks between starts, and a staff certificate that lapsed while
// it ran would lock its holder out until the next one. Far below the
// leaves' lifetimes, so a fresh one is never renewed.
constexpr absl::Duration kRenewBefore = absl::Hours(24 * 30);

enum class Kind { kCa, kServer, kClient };

// ---------------------------------------------------------------------------
// Files.

absl::Status WithPath(const absl::Status& status, absl::string_view path) {
  return absl::Status(status.code(),
                      absl::StrCat(path, ": ", status.message()));
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// mkdir -p, each directory it makes with mode 0700.
absl::Status MakeDirectories(const std::string& path) {
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    if (!prefix.empty() && mkdir(prefix.c_str(), 0700) != 0) {
      if (errno != EEXIST) {
        return FileError(prefix, "cannot create directory", errno);
      }
      struct stat st;
      if (stat(prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return absl::FailedPreconditionError(
            absl::StrCat(prefix, ": exists and is not a directory"));
      }
    }
    if (end == std::string::npos) return absl::OkStatus();
  }
}

// The key first: a certificate on disk always has a key beside it. A crash
// between the two leaves a new key beside an old certificate, which
// EnsureDevPki does not keep: the next start issues the pair again.
absl::Status WritePair(const std::string& cert_path,
                       const std::string& key_path, const IssuedCert& pair) {
  CUSTOS_RETURN_IF_ERROR(WriteFileAtomically(key_path, pair.key_pem, 0600));
  return WriteFileAtomically(cert_path, pair.cert_pem, 0644);
}

// ---------------------------------------------------------------------------
// Certificates.

absl::StatusOr<EvpPkeyPtr> NewKey() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("generating a P-256 key");
  return key;
}

absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  BignumPtr serial;
  do {
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return OpenSslError("drawing a serial number");
    }
    serial.reset(BN_bin2bn(bytes, sizeof(bytes), nullptr));
    if (serial == nullptr) return OpenSslError("making a serial number");
  } while (BN_is_zero(serial.get()));  // RFC 5280 wants a positive serial
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) ==
      nullptr) {
    return OpenSslError("setting the serial number");
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid,
                          const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    return OpenSslError(
        absl::StrCat("making the extension ", OBJ_nid2sn(nid), " = ", value));
  }
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) {
    return OpenSslError(absl::StrCat("adding the extension ", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

// A certificate of `kind` for `key`, named `common_name`, signed by `issuer`
// with `issuer_key`, or self-signed when `issuer` is null.
absl::StatusOr<X509Ptr> MakeCert(Kind kind, absl::string_view common_name,
                                 EVP_PKEY* key, X509* issuer,
                                 EVP_PKEY* issuer_key, absl::Time not_before,
                                 absl::Time not_after) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslError("setting the version");
  }
  CUSTOS_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                    absl::ToTimeT(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_after)) ==
          nullptr) {
    return OpenSslError("setting the validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(common_name.data()),
          static_cast<int>(common_name.size()), -1, 0) != 1) {
    return OpenSslError(absl::StrCat("setting the subject CN=", common_name));
  }
  const bool self_signed = issuer == nullptr;
  if (self_signed) {
    issuer = cert.get();
    issuer_key = key;
  }
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpenSslError("setting the issuer and public key");
  }
  X509* c = cert.get();
  switch (kind) {
    case Kind::kCa:
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(c, issuer, NID_basic_constraints, "critical,CA:TRUE"));
      CUSTOS_RETURN_IF_ERROR(AddExtension(c, issuer, NID_key_usage,
                                          "critical,keyCertSign,cRLSign"));
      break;
    case Kind::kServer:
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(c, issuer, NID_basic_constraints, "critical,CA:FALSE"));
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(c, issuer, NID_key_usage, "critical,digitalSignature"));
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(c, issuer, NID_ext_key_usage, "serverAuth"));
      CUSTOS_RETURN_IF_ERROR(AddExtension(c, issuer, NID_subject_alt_name,
                                          "DNS:localhost,IP:127.0.0.1,IP:::1"));
      break;
    case Kind::kClient:
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(c, issuer, NID_basic_constraints, "critical,CA:FALSE"));
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(c, issuer, NID_key_usage, "critical,digitalSignature"));
      CUSTOS_RETURN_IF_ERROR(
          AddExtension(c, issuer, NID_ext_key_usage, "clientAuth"));
      break;
  }
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(c, issuer, NID_subject_key_identifier, "hash"));
  if (!self_signed) {
    CUSTOS_RETURN_IF_ERROR(
        AddExtension(c, issuer, NID_authority_key_identifier, "keyid:always"));
  }
  if (X509_sign(c, issuer_key, EVP_sha256()) <= 0) {
    return OpenSslError("signing the certificate");
  }
  return cert;
}

absl::StatusOr<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  if (length <= 0 || data == nullptr) return OpenSslError("reading PEM");
  return std::string(data, static_cast<size_t>(length));
}

absl::StatusOr<IssuedCert> ToPem(X509* cert, EVP_PKEY* key) {
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (cert_bio == nullptr || key_bio == nullptr ||
      PEM_write_bio_X509(cert_bio.get(), cert) != 1 ||
      // PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted.
      PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return OpenSslError("writing PEM");
  }
  IssuedCert out;
  CUSTOS_ASSIGN_OR_RETURN(out.cert_pem, BioContents(cert_bio.get()));
  CUSTOS_ASSIGN_OR_RETURN(out.key_pem, BioContents(key_bio.get()));
  return out;
}

// `what` names the PEM's origin (a file, or "the CA certificate") in errors.
absl::StatusOr<X509Ptr> ParseCert(absl::string_view pem,
                                  absl::string_view what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return OpenSslError(absl::StrCat(what, ": not a PEM certificate"),
                        absl::StatusCode::kInvalidArgument);
  }
  return cert;
}

absl::StatusOr<EvpPkeyPtr> ParseKey(absl::string_view pem,
                                    absl::string_view what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return OpenSslError(absl::StrCat(what, ": not a PEM private key"),
                        absl::StatusCode::kInvalidArgument);
  }
  return key;
}

absl::StatusOr<IssuedCert> IssueWith(Kind kind, X509* ca, EVP_PKEY* ca_key,
                                     absl::string_view common_name,
                                     absl::Time not_before,
                                     absl::Time not_after) {
  CUSTOS_ASSIGN_OR_RETURN(EvpPkeyPtr key, NewKey());
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr cert,
                          MakeCert(kind, common_name, key.get(), ca, ca_key,
                                   not_before, not_after));
  return ToPem(cert.get(), key.get());
}

bool IsSafeId(absl::string_view id) {
  return !id.empty() && id.size() <= 64 && id[0] != '.' &&
         id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") ==
             absl::string_view::npos;
}

// One certificate EnsureDevPki keeps or makes.
struct Leaf {
  Kind kind;
  std::string common_name;
  std::string cert_path;
  std::string key_path;
  absl::Duration lifetime;
};

// Whether the pair on disk for `leaf` may be kept: both files exist, the CA
// signed the certificate, the key is its key, and it is valid at `now` and
// for kRenewBefore after. A key that does not parse or is not the
// certificate's is what a crash between writing a new key and its
// certificate leaves (or damage): the pair is issued again, as for a
// missing key. A certificate that does not parse, or that another CA
// signed, is an error: replacing it would hide a replaced CA or damage the
// operator should see.
absl::StatusOr<bool> KeepLeaf(const Leaf& leaf, X509* ca,
                              const std::string& ca_path, absl::Time now) {
  if (!Exists(leaf.cert_path) || !Exists(leaf.key_path)) return false;
  CUSTOS_ASSIGN_OR_RETURN(const std::string cert_pem, ReadFile(leaf.cert_path));
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(cert_pem, leaf.cert_path));
  if (X509_verify(cert.get(), X509_get0_pubkey(ca)) != 1) {
    return OpenSslError(
        absl::StrCat(leaf.cert_path, ": not signed by the CA in ", ca_path,
                     " (was the CA replaced?); delete it, and its key, to "
                     "have a new one issued"),
        absl::StatusCode::kFailedPrecondition);
  }
  // A key that cannot be read (unlike one read that is no key) is the file
  // system's error to name, not a reason to write over it.
  CUSTOS_ASSIGN_OR_RETURN(const std::string key_pem, ReadFile(leaf.key_path));
  absl::StatusOr<EvpPkeyPtr> key = ParseKey(key_pem, leaf.key_path);
  if (!key.ok()) return false;
  if (X509_check_private_key(cert.get(), key->get()) != 1) {
    ERR_clear_error();
    return false;
  }
  // -2 is a time OpenSSL cannot compare: not valid either.
  const int started =
      ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert.get()), absl::ToTimeT(now));
  const int lasts = ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert.get()),
                                         absl::ToTimeT(now + kRenewBefore));
  return started != -2 && started <= 0 && lasts == 1;
}

}  // namespace

absl::StatusOr<IssuedCert> MakeCa(absl::string_view common_name) {
  const absl::Time now = absl::Now();
  CUSTOS_ASSIGN_OR_RETURN(EvpPkeyPtr key, NewKey());
  CUSTOS_ASSIGN_OR_RETURN(
      X509Ptr cert, MakeCert(Kind::kCa, common_name, key.get(), nullptr,
                             nullptr, now - kBackdate, now + kCaLifetime));
  return ToPem(cert.get(), key.get());
}

absl::StatusOr<IssuedCert> IssueClientCert(absl::string_view ca_cert_pem,
                                           absl::string_view ca_key_pem,
                                           absl::string_view common_name,
                                           absl::Time not_before,
                                           absl::Time not_after) {
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr ca,
                          ParseCert(ca_cert_pem, "the CA certificate"));
  CUSTOS_ASSIGN_OR_RETURN(EvpPkeyPtr ca_key,
                          ParseKey(ca_key_pem, "the CA key"));
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    return OpenSslError("the CA key is not the CA certificate's key",
                        absl::StatusCode::kInvalidArgument);
  }
  return IssueWith(Kind::kClient, ca.get(), ca_key.get(), common_name,
                   not_before, not_after);
}

absl::Status EnsureDevPki(const DevPkiPaths& paths,
                          const std::vector<std::string>& client_ids) {
  // Ids become file names: refuse a bad one before anything is written.
  for (const std::string& id : client_ids) {
    if (!IsSafeId(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "client certificate id \"", id,
          "\": expected 1 to 64 of [a-z0-9._-], not starting with '.'"));
    }
  }
  CUSTOS_RETURN_IF_ERROR(MakeDirectories(paths.dir));
  CUSTOS_RETURN_IF_ERROR(MakeDirectories(paths.dir + "/clients"));

  // A key without its certificate is what a crash between the two writes
  // leaves; nothing can have been signed by it, so it is simply replaced.
  if (!Exists(paths.ca_cert())) {
    absl::StatusOr<IssuedCert> ca = MakeCa(kCaName);
    if (!ca.ok()) return WithPath(ca.status(), paths.ca_cert());
    CUSTOS_RETURN_IF_ERROR(WritePair(paths.ca_cert(), paths.ca_key(), *ca));
  }
  CUSTOS_ASSIGN_OR_RETURN(const std::string ca_pem, ReadFile(paths.ca_cert()));
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr ca, ParseCert(ca_pem, paths.ca_cert()));
  // The CA key is read only when something has to be issued.
  EvpPkeyPtr ca_key;
  auto load_ca_key = [&]() -> absl::Status {
    if (ca_key != nullptr) return absl::OkStatus();
    CUSTOS_ASSIGN_OR_RETURN(const std::string pem, ReadFile(paths.ca_key()));
    CUSTOS_ASSIGN_OR_RETURN(ca_key, ParseKey(pem, paths.ca_key()));
    if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
      ca_key.reset();
      return OpenSslError(
          absl::StrCat(paths.ca_key(), ": is not the key of ", paths.ca_cert()),
          absl::StatusCode::kFailedPrecondition);
    }
    return absl::OkStatus();
  };

  std::vector<Leaf> leaves;
  leaves.push_back({Kind::kServer, kServerName, paths.server_cert(),
                    paths.server_key(), kServerLifetime});
  for (const std::string& id : client_ids) {
    leaves.push_back({Kind::kClient, id, paths.client_cert(id),
                      paths.client_key(id), kClientLifetime});
  }
  const absl::Time now = absl::Now();
  for (const Leaf& leaf : leaves) {
    CUSTOS_ASSIGN_OR_RETURN(const bool keep,
                            KeepLeaf(leaf, ca.get(), paths.ca_cert(), now));
    if (keep) continue;
    CUSTOS_RETURN_IF_ERROR(load_ca_key());
    absl::StatusOr<IssuedCert> issued =
        IssueWith(leaf.kind, ca.get(), ca_key.get(), leaf.common_name,
                  now - kBackdate, now + leaf.lifetime);
    if (!issued.ok()) return WithPath(issued.status(), leaf.cert_path);
    CUSTOS_RETURN_IF_ERROR(WritePair(leaf.cert_path, leaf.key_path, *issued));
  }
  return absl::OkStatus();
}

}  // namespace custos::pki
