// C2SP signed-note with Ed25519 keys: signing a note's text, and verifying
// a signed note against a verifier key.
//
//   key id        = SHA-256(name || 0x0A || 0x01 || public key)[0:4]
//   verifier key  = name "+" hex(key id) "+" base64(0x01 || public key)
//   signed note   = text "\n" ("— " name " " base64(key id || signature) "\n")+
//
// where text ends in a newline and the signature is Ed25519 over text.
// NoteSigner and NoteVerifier are immutable after creation and thread-safe.
#ifndef CUSTOS_AUDIT_NOTE_H_
#define CUSTOS_AUDIT_NOTE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/openssl.h"

namespace custos::audit {

class NoteSigner {
 public:
  // A signer named `name` (no whitespace, no '+') with a fresh Ed25519 key.
  static absl::StatusOr<NoteSigner> Generate(absl::string_view name);
  // A signer from a PEM (PKCS#8) Ed25519 private key.
  static absl::StatusOr<NoteSigner> FromPrivateKeyPem(absl::string_view name,
                                                      absl::string_view pem);

  // The private key as PEM (PKCS#8), for the key file.
  absl::StatusOr<std::string> PrivateKeyPem() const;
  const std::string& name() const { return name_; }
  const std::string& verifier_key() const { return verifier_key_; }

  // Returns `text` followed by a blank line and this key's signature line.
  // INVALID_ARGUMENT unless text is non-empty and ends in exactly one newline.
  absl::StatusOr<std::string> Sign(absl::string_view text) const;

 private:
  NoteSigner(std::string name, EvpPkeyPtr key);

  std::string name_;
  std::shared_ptr<EVP_PKEY> key_;
  std::string key_id_;  // 4 bytes
  std::string verifier_key_;
};

class NoteVerifier {
 public:
  // Parses "name+hex8+base64". INVALID_ARGUMENT naming what is wrong.
  static absl::StatusOr<NoteVerifier> FromVerifierKey(
      absl::string_view verifier_key);

  // Returns the note's text once a signature line by this key verifies.
  // INVALID_ARGUMENT for a malformed note; DATA_LOSS when no line carries a
  // valid signature by this key (missing, or the text was changed).
  absl::StatusOr<std::string> Open(absl::string_view signed_note) const;

  const std::string& name() const { return name_; }

 private:
  NoteVerifier(std::string name, std::string key_id, EvpPkeyPtr key);

  std::string name_;
  std::string key_id_;
  std::shared_ptr<EVP_PKEY> key_;
};

// The key id of an Ed25519 public key under `name`, 4 raw bytes.
std::string NoteKeyId(absl::string_view name, absl::string_view public_key);

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_NOTE_H_
