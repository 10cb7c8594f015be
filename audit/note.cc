#include "audit/note.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace custos::audit {
namespace {

constexpr char kEd25519Type = 0x01;
constexpr absl::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // "— "

bool IsValidName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == '+' || c == ' ' || c == '\n' || c == '\t' || c == '\r')
      return false;
  }
  return true;
}

absl::StatusOr<std::string> RawPublicKey(EVP_PKEY* key) {
  std::string raw(32, '\0');
  size_t length = raw.size();
  if (EVP_PKEY_get_raw_public_key(
          key, reinterpret_cast<unsigned char*>(raw.data()), &length) != 1 ||
      length != 32) {
    return OpenSslError("reading the Ed25519 public key");
  }
  return raw;
}

}  // namespace

std::string NoteKeyId(absl::string_view name, absl::string_view public_key) {
  return Sha256(
             absl::StrCat(name, "\n", std::string(1, kEd25519Type), public_key))
      .substr(0, 4);
}

NoteSigner::NoteSigner(std::string name, EvpPkeyPtr key)
    : name_(std::move(name)), key_(key.release(), EVP_PKEY_free) {}

absl::StatusOr<NoteSigner> NoteSigner::Generate(absl::string_view name) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return OpenSslError("generating an Ed25519 key");
  }
  EvpPkeyPtr key(raw);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    return OpenSslError("encoding the Ed25519 key");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return FromPrivateKeyPem(name, absl::string_view(data, length));
}

absl::StatusOr<NoteSigner> NoteSigner::FromPrivateKeyPem(
    absl::string_view name, absl::string_view pem) {
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "note signer name \"", name, "\": expected no spaces and no '+'"));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return OpenSslError("reading the signing key",
                        absl::StatusCode::kInvalidArgument);
  }
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError("the signing key is not an Ed25519 key");
  }
  auto public_key = RawPublicKey(key.get());
  if (!public_key.ok()) return public_key.status();
  NoteSigner signer{std::string(name), std::move(key)};
  signer.key_id_ = NoteKeyId(name, *public_key);
  signer.verifier_key_ =
      absl::StrCat(name, "+", absl::BytesToHexString(signer.key_id_), "+",
                   absl::Base64Escape(absl::StrCat(std::string(1, kEd25519Type),
                                                   *public_key)));
  return signer;
}

absl::StatusOr<std::string> NoteSigner::PrivateKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    return OpenSslError("encoding the signing key");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, length);
}

absl::StatusOr<std::string> NoteSigner::Sign(absl::string_view text) const {
  if (text.empty() || text.back() != '\n' || absl::EndsWith(text, "\n\n")) {
    return absl::InvalidArgumentError(
        "note text: expected non-empty text ending in exactly one newline");
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char signature[64];
  size_t length = sizeof(signature);
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) !=
          1 ||
      EVP_DigestSign(ctx.get(), signature, &length,
                     reinterpret_cast<const unsigned char*>(text.data()),
                     text.size()) != 1) {
    return OpenSslError("signing the note");
  }
  return absl::StrCat(
      text, "\n", kSignaturePrefix, name_, " ",
      absl::Base64Escape(absl::StrCat(
          key_id_,
          absl::string_view(reinterpret_cast<char*>(signature), length))),
      "\n");
}

NoteVerifier::NoteVerifier(std::string name, std::string key_id, EvpPkeyPtr key)
    : name_(std::move(name)),
      key_id_(std::move(key_id)),
      key_(key.release(), EVP_PKEY_free) {}

absl::StatusOr<NoteVerifier> NoteVerifier::FromVerifierKey(
    absl::string_view verifier_key) {
  // The name has no '+', the key id is 8 hex digits, and the base64 may
  // itself contain '+': split at the first two only.
  std::vector<absl::string_view> parts =
      absl::StrSplit(verifier_key, absl::MaxSplits('+', 2));
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(
        "verifier key: expected NAME+KEYID+BASE64, three parts separated by "
        "'+'");
  }
  if (!IsValidName(parts[0])) {
    return absl::InvalidArgumentError("verifier key: name has spaces");
  }
  std::string key_id = absl::HexStringToBytes(parts[1]);
  if (parts[1].size() != 8 ||
      absl::BytesToHexString(key_id) != absl::AsciiStrToLower(parts[1])) {
    return absl::InvalidArgumentError(
        "verifier key: key id must be 8 hex digits");
  }
  std::string decoded;
  if (!absl::Base64Unescape(parts[2], &decoded) || decoded.size() != 33 ||
      decoded[0] != kEd25519Type) {
    return absl::InvalidArgumentError(
        "verifier key: expected base64 of 0x01 followed by a 32-byte Ed25519 "
        "key");
  }
  const std::string public_key = decoded.substr(1);
  if (NoteKeyId(parts[0], public_key) != key_id) {
    return absl::InvalidArgumentError(
        "verifier key: key id does not match name and key");
  }
  EvpPkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size()));
  if (key == nullptr) {
    return OpenSslError("verifier key", absl::StatusCode::kInvalidArgument);
  }
  return NoteVerifier(std::string(parts[0]), std::move(key_id), std::move(key));
}

absl::StatusOr<std::string> NoteVerifier::Open(
    absl::string_view signed_note) const {
  const size_t split = signed_note.rfind("\n\n");
  if (split == absl::string_view::npos || !absl::EndsWith(signed_note, "\n")) {
    return absl::InvalidArgumentError(
        "signed note: expected text, a blank line and signature lines, ending "
        "in a newline");
  }
  const absl::string_view text = signed_note.substr(0, split + 1);
  absl::string_view signatures = signed_note.substr(split + 2);
  // A note that ends in its blank line has no signature line at all.
  if (signatures.empty()) {
    return absl::InvalidArgumentError(
        "signed note: no signature lines after the blank line");
  }
  signatures.remove_suffix(1);
  for (absl::string_view line : absl::StrSplit(signatures, '\n')) {
    if (!absl::ConsumePrefix(&line, kSignaturePrefix)) {
      return absl::InvalidArgumentError(
          "signed note: every signature line must start with an em dash and a "
          "space");
    }
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "signed note: signature line without a signature");
    }
    if (line.substr(0, space) != name_) continue;
    std::string blob;
    if (!absl::Base64Unescape(line.substr(space + 1), &blob) ||
        blob.size() != 4 + 64) {
      return absl::InvalidArgumentError(
          "signed note: signature is not base64 of a key id and 64 bytes");
    }
    if (blob.substr(0, 4) != key_id_) continue;
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr,
                             key_.get()) == 1 &&
        EVP_DigestVerify(
            ctx.get(), reinterpret_cast<const unsigned char*>(blob.data() + 4),
            64, reinterpret_cast<const unsigned char*>(text.data()),
            text.size()) == 1) {
      return std::string(text);
    }
    ERR_clear_error();
    return absl::DataLossError(absl::StrCat("signed note: the signature by ",
                                            name_, " does not verify"));
  }
  return absl::DataLossError(
      absl::StrCat("signed note: no signature by ", name_));
}

}  // namespace custos::audit
