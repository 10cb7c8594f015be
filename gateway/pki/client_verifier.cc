#include "gateway/pki/client_verifier.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace custos::pki {
namespace {

std::string SubjectOf(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

std::string FormatAsn1Time(const ASN1_TIME* t) {
  struct tm tm;
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable time";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromTM(tm, absl::UTCTimeZone()),
                          absl::UTCTimeZone());
}

std::string SerialHex(X509* cert) {
  std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_free>> bn(
      ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr));
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientVerifier>> ClientVerifier::Create(
    absl::string_view ca_pem) {
  X509StorePtr store(X509_STORE_new());
  BioPtr bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  int count = 0;
  while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509Ptr ca(raw);
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
      return OpenSslError("adding a CA certificate",
                          absl::StatusCode::kInvalidArgument);
    }
    ++count;
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (count == 0) {
    return absl::InvalidArgumentError(
        "CA certificates: expected at least one PEM certificate");
  }
  return std::unique_ptr<ClientVerifier>(new ClientVerifier(std::move(store)));
}

absl::StatusOr<std::string> ClientVerifier::Verify(absl::string_view peer_pem,
                                                   absl::Time now) const {
  if (peer_pem.empty()) {
    return absl::UnauthenticatedError(
        "no client certificate was presented; staff connect with the "
        "certificate their "
        "company CA issued");
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = verified_.find(peer_pem);
    if (it != verified_.end() && now >= it->second.not_before &&
        now < it->second.not_after) {
      if (revoked_.contains(it->second.serial)) {
        return absl::UnauthenticatedError(
            absl::StrCat("the client certificate (CN=", it->second.common_name,
                         ") is revoked (serial ", it->second.serial, ")"));
      }
      return it->second.common_name;
    }
  }
  BioPtr bio(
      BIO_new_mem_buf(peer_pem.data(), static_cast<int>(peer_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::UnauthenticatedError(
        "the client certificate is not a PEM certificate");
  }
  const std::string subject = SubjectOf(cert.get());

  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store_.get(), cert.get(), nullptr) != 1) {
    return OpenSslError("preparing certificate verification",
                        absl::StatusCode::kInternal);
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                             absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    switch (error) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return absl::UnauthenticatedError(
            absl::StrCat("the client certificate (", subject, ") expired at ",
                         FormatAsn1Time(X509_get0_notAfter(cert.get()))));
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return absl::UnauthenticatedError(absl::StrCat(
            "the client certificate (", subject, ") is not valid until ",
            FormatAsn1Time(X509_get0_notBefore(cert.get()))));
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return absl::UnauthenticatedError(
            absl::StrCat("the client certificate (", subject,
                         ") is not signed by the trusted CA"));
      default:
        return absl::UnauthenticatedError(absl::StrCat(
            "the client certificate (", subject,
            ") does not verify: ", X509_verify_cert_error_string(error)));
    }
  }
  const std::string serial = SerialHex(cert.get());
  {
    absl::MutexLock lock(&mu_);
    if (revoked_.contains(serial)) {
      return absl::UnauthenticatedError(
          absl::StrCat("the client certificate (", subject,
                       ") is revoked (serial ", serial, ")"));
    }
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the client certificate (", subject, ") has no subject common name"));
  }
  ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, cn);
  if (length < 0) {
    return absl::UnauthenticatedError(
        "the client certificate's common name is not text");
  }
  std::string common_name(reinterpret_cast<char*>(utf8), length);
  OPENSSL_free(utf8);
  struct tm tm;
  absl::Time not_before = absl::InfiniteFuture();
  absl::Time not_after = absl::InfinitePast();
  if (ASN1_TIME_to_tm(X509_get0_notBefore(cert.get()), &tm) == 1) {
    not_before = absl::FromTM(tm, absl::UTCTimeZone());
  }
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) == 1) {
    not_after = absl::FromTM(tm, absl::UTCTimeZone());
  }
  absl::MutexLock lock(&mu_);
  constexpr size_t kMaxCached = 10000;
  if (verified_.size() >= kMaxCached) verified_.clear();
  verified_[std::string(peer_pem)] = {common_name, serial, not_before,
                                      not_after};
  return common_name;
}

void ClientVerifier::Revoke(absl::string_view serial_hex) {
  absl::MutexLock lock(&mu_);
  revoked_.insert(absl::AsciiStrToLower(serial_hex));
}

}  // namespace custos::pki
