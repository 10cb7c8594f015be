#include "gateway/pki/client_verifier.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/openssl.h"
#include "common/status_macros.h"
#include "common/utf8.h"

namespace custos::pki {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_free>>;

// Distinguished names come from the peer: bounded, control characters
// escaped, UTF-8 kept readable. Valid UTF-8 whatever the peer sent and
// wherever the bound falls: refusals quote the name, and a log entry whose
// text is not UTF-8 would never parse again.
std::string NameOf(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), name, 0,
                         XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ERR_clear_error();
    return "an unreadable name";
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  if (length <= 0) return "an empty name";
  constexpr size_t kMaxLength = 200;
  const std::string text = ToValidUtf8(absl::string_view(data, length));
  std::string out(Utf8Prefix(text, kMaxLength));
  if (out.size() < text.size()) out += "...";
  return out;
}

std::string SubjectOf(X509* cert) {
  return NameOf(X509_get_subject_name(cert));
}

absl::Time ToTime(const ASN1_TIME* t, absl::Time if_unreadable) {
  struct tm tm;
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return if_unreadable;
  return absl::FromTM(tm, absl::UTCTimeZone());
}

std::string FormatAsn1Time(const ASN1_TIME* t) {
  struct tm tm;
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable time";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromTM(tm, absl::UTCTimeZone()),
                          absl::UTCTimeZone());
}

// Lowercase hex without separators or leading zeros, so that every way of
// writing one serial compares equal.
std::string NormalizeSerial(absl::string_view hex) {
  hex = absl::StripAsciiWhitespace(hex);
  if (absl::StartsWithIgnoreCase(hex, "0x")) hex.remove_prefix(2);
  std::string out;
  out.reserve(hex.size());
  for (char c : hex) {
    if (c == ':' || absl::ascii_isspace(static_cast<unsigned char>(c))) {
      continue;
    }
    if (out.empty() && c == '0') continue;
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out.empty() ? "0" : out;
}

std::string SerialOf(X509* cert) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (bn == nullptr) {
    ERR_clear_error();
    return "unreadable";
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) return "unreadable";
  std::string out = NormalizeSerial(hex);
  OPENSSL_free(hex);
  return out;
}

// The subject's one common name, as UTF-8.
absl::StatusOr<std::string> CommonNameOf(X509* cert) {
  const X509_NAME* name = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) {
    return absl::UnauthenticatedError(
        "client certificate has no subject common name");
  }
  if (X509_NAME_get_index_by_NID(name, NID_commonName, index) >= 0) {
    return absl::UnauthenticatedError(
        "client certificate has more than one subject common name");
  }
  const ASN1_STRING* data =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) {
    ERR_clear_error();
    return absl::UnauthenticatedError(
        "client certificate's subject common name is not text");
  }
  std::string common_name(reinterpret_cast<char*>(utf8),
                          static_cast<size_t>(length));
  OPENSSL_free(utf8);
  if (common_name.empty()) {
    return absl::UnauthenticatedError(
        "client certificate has no subject common name (its CN is empty)");
  }
  if (common_name.find('\0') != std::string::npos) {
    return absl::UnauthenticatedError(
        "client certificate's subject common name holds a NUL character");
  }
  return common_name;
}

// The leaf's issuer, for a leaf the trusted CA did not sign; a self-signed
// leaf's issuer is its subject, which names a person.
std::string IssuerOf(X509* leaf) {
  if (X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(leaf)) ==
      0) {
    return "it is self-signed";
  }
  return absl::StrCat("issuer ", NameOf(X509_get_issuer_name(leaf)));
}

// Why X509_verify_cert refused `leaf`, in words a person can act on. The
// leaf's subject is left out: it names a person, and the message goes into
// the log, whose entries can never be erased.
absl::Status ChainError(X509_STORE_CTX* ctx, X509* leaf) {
  const int error = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* at = X509_STORE_CTX_get_current_cert(ctx);
  if (at == nullptr) at = leaf;
  ERR_clear_error();
  // The leaf or, for depth > 0, the CA above it.
  const std::string which =
      depth == 0 ? "client certificate"
                 : absl::StrCat("CA certificate (subject ", SubjectOf(at),
                                ") above the client certificate");
  switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_AKID_SKID_MISMATCH:
      return absl::UnauthenticatedError(
          absl::StrCat("client certificate is not signed by the trusted CA (",
                       IssuerOf(leaf), ")"));
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return absl::UnauthenticatedError(absl::StrCat(
          which, " expired at ", FormatAsn1Time(X509_get0_notAfter(at)),
          depth == 0 ? "; ask for a new one" : "; the CA must be renewed"));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return absl::UnauthenticatedError(
          absl::StrCat(which, " is not valid until ",
                       FormatAsn1Time(X509_get0_notBefore(at)),
                       "; check the clocks of this server and of the CA"));
    case X509_V_ERR_INVALID_PURPOSE:
      return absl::UnauthenticatedError(
          absl::StrCat(which,
                       " is not for client authentication (its "
                       "extendedKeyUsage or keyUsage does not allow it)"));
    default:
      return absl::UnauthenticatedError(absl::StrCat(
          which, " does not verify: ", X509_verify_cert_error_string(error)));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientVerifier>> ClientVerifier::Create(
    absl::string_view ca_pem) {
  X509StorePtr store(X509_STORE_new());
  BioPtr bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  if (store == nullptr || bio == nullptr) {
    return OpenSslError("making the trust store");
  }
  int count = 0;
  while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509Ptr ca(raw);
    ++count;
    if (X509_check_ca(ca.get()) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA certificate ", count, " (subject ",
                       SubjectOf(ca.get()), ") is not a CA certificate"));
    }
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
      return OpenSslError(absl::StrCat("adding CA certificate ", count),
                          absl::StatusCode::kInvalidArgument);
    }
  }
  // PEM_read_bio_X509 stops with "no start line" at the end of the input;
  // any other error is a certificate that does not parse.
  const unsigned long error = ERR_peek_last_error();
  if (error != 0 && !(ERR_GET_LIB(error) == ERR_LIB_PEM &&
                      ERR_GET_REASON(error) == PEM_R_NO_START_LINE)) {
    return OpenSslError(
        absl::StrCat("CA certificate ", count + 1, ": not a PEM certificate"),
        absl::StatusCode::kInvalidArgument);
  }
  ERR_clear_error();
  if (count == 0) {
    return absl::InvalidArgumentError(
        "CA certificates: expected at least one PEM certificate");
  }
  return std::unique_ptr<ClientVerifier>(new ClientVerifier(std::move(store)));
}

bool ClientVerifier::IsRevoked(absl::string_view serial_hex) const {
  MutexLock lock(&mu_);
  return revoked_.contains(NormalizeSerial(serial_hex));
}

absl::StatusOr<std::string> ClientVerifier::Verify(absl::string_view peer_pem,
                                                   absl::Time now,
                                                   std::string* serial,
                                                   std::string* subject) const {
  if (absl::StripAsciiWhitespace(peer_pem).empty()) {
    return absl::UnauthenticatedError(
        "no client certificate was presented; staff connect with the "
        "certificate their company CA issued them");
  }
  {
    MutexLock lock(&mu_);
    auto it = verified_.find(peer_pem);
    if (it != verified_.end() && now >= it->second.not_before &&
        now <= it->second.not_after) {
      if (subject != nullptr) *subject = it->second.subject;
      CUSTOS_RETURN_IF_ERROR(RefuseIfRevoked(it->second));
      if (serial != nullptr) *serial = it->second.serial;
      return it->second.common_name;
    }
  }
  Verified verified;
  const absl::Status chain = VerifyChain(peer_pem, now, verified);
  if (subject != nullptr) *subject = verified.subject;
  CUSTOS_RETURN_IF_ERROR(chain);
  MutexLock lock(&mu_);
  CUSTOS_RETURN_IF_ERROR(RefuseIfRevoked(verified));
  constexpr size_t kMaxCached = 10000;
  if (verified_.size() >= kMaxCached) verified_.clear();
  verified_.insert_or_assign(std::string(peer_pem), verified);
  if (serial != nullptr) *serial = verified.serial;
  return verified.common_name;
}

absl::Status ClientVerifier::VerifyChain(absl::string_view peer_pem,
                                         absl::Time now,
                                         Verified& verified) const {
  BioPtr bio(
      BIO_new_mem_buf(peer_pem.data(), static_cast<int>(peer_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::UnauthenticatedError(
        "client certificate is not a PEM certificate");
  }
  verified.subject = SubjectOf(cert.get());

  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store_.get(), cert.get(), nullptr) != 1) {
    return OpenSslError("preparing certificate verification");
  }
  // The purpose checks the leaf's extendedKeyUsage (and keyUsage, if any)
  // allow client authentication; set_time also sets X509_V_FLAG_USE_CHECK_TIME.
  if (X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT) != 1) {
    return OpenSslError("setting the verification purpose");
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                             absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) != 1)
    return ChainError(ctx.get(), cert.get());

  // The purpose accepts a certificate without extendedKeyUsage; Custos
  // wants clientAuth said explicitly.
  if ((X509_get_extension_flags(cert.get()) & EXFLAG_XKUSAGE) == 0 ||
      (X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT) == 0) {
    return absl::UnauthenticatedError(
        "client certificate is not for client authentication (it has no "
        "extendedKeyUsage clientAuth)");
  }
  CUSTOS_ASSIGN_OR_RETURN(verified.common_name, CommonNameOf(cert.get()));
  verified.serial = SerialOf(cert.get());
  verified.not_before = absl::InfinitePast();
  verified.not_after = absl::InfiniteFuture();
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    X509* link = sk_X509_value(chain, i);
    verified.not_before =
        std::max(verified.not_before,
                 ToTime(X509_get0_notBefore(link), absl::InfiniteFuture()));
    verified.not_after =
        std::min(verified.not_after,
                 ToTime(X509_get0_notAfter(link), absl::InfinitePast()));
  }
  return absl::OkStatus();
}

absl::Status ClientVerifier::RefuseIfRevoked(const Verified& verified) const {
  if (!revoked_.contains(verified.serial)) return absl::OkStatus();
  return absl::UnauthenticatedError(absl::StrCat(
      "client certificate is revoked (serial ", verified.serial, ")"));
}

void ClientVerifier::Revoke(absl::string_view serial_hex) {
  MutexLock lock(&mu_);
  revoked_.insert(NormalizeSerial(serial_hex));
}

}  // namespace custos::pki
