#include "gateway/log_signer.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/openssl.h"
#include "common/status_macros.h"

namespace custos::gateway {
absl::StatusOr<audit::NoteSigner> LoadOrCreateLogSigner(
    const std::string& data_dir) {
  const std::string key_path = absl::StrCat(data_dir, "/log_signing_key.pem");
  const std::string origin_path = absl::StrCat(data_dir, "/log_origin");
  const std::string verifier_path = absl::StrCat(data_dir, "/log_verifier_key");
  struct stat st;
  if (stat(key_path.c_str(), &st) == 0) {
    CUSTOS_ASSIGN_OR_RETURN(std::string pem, ReadFile(key_path));
    CUSTOS_ASSIGN_OR_RETURN(std::string origin, ReadFile(origin_path));
    auto signer = audit::NoteSigner::FromPrivateKeyPem(
        absl::StripAsciiWhitespace(origin), pem);
    if (!signer.ok()) {
      return absl::Status(
          signer.status().code(),
          absl::StrCat(key_path, ": ", signer.status().message()));
    }
    // The file everyone pins must name this key: with another, every
    // checkpoint from here on would fail every verifier, or a replaced
    // signing key would go unnoticed. A deleted one is public and made
    // again.
    absl::StatusOr<std::string> pinned = ReadFile(verifier_path);
    if (absl::IsNotFound(pinned.status())) {
      CUSTOS_RETURN_IF_ERROR(WriteFileAtomically(
          verifier_path, absl::StrCat(signer->verifier_key(), "\n"), 0644));
      return signer;
    }
    if (!pinned.ok()) return pinned.status();
    if (absl::StripAsciiWhitespace(*pinned) != signer->verifier_key()) {
      return absl::FailedPreconditionError(absl::StrCat(
          verifier_path, ": names another key than ", key_path, " (",
          signer->verifier_key(), "); restore the files that belong together"));
    }
    return signer;
  }
  // A log there was signed by the key that is missing, or is being: a new
  // key could sign nothing that extends it (its checkpoints would not
  // verify), and making one would overwrite the origin and verifier key
  // that the log's readers pinned. (On a first start the key is made before
  // the log: a start stopped before the key was written left no log.)
  const std::string log_path = absl::StrCat(data_dir, "/audit.db");
  if (stat(log_path.c_str(), &st) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        key_path, " is missing, and ", log_path,
        " was signed with it: restore the key (a new one cannot extend the "
        "log's checkpoints)"));
  }
  // A random suffix keeps two development logs from sharing an origin.
  unsigned char suffix[4];
  if (RAND_bytes(suffix, sizeof(suffix)) != 1)
    return OpenSslError("drawing the log origin");
  const std::string origin =
      absl::StrCat("custos.local/log/",
                   HexEncode(absl::string_view(reinterpret_cast<char*>(suffix),
                                               sizeof(suffix))));
  CUSTOS_ASSIGN_OR_RETURN(audit::NoteSigner signer,
                          audit::NoteSigner::Generate(origin));
  CUSTOS_ASSIGN_OR_RETURN(std::string pem, signer.PrivateKeyPem());
  CUSTOS_RETURN_IF_ERROR(
      WriteFileAtomically(origin_path, absl::StrCat(origin, "\n"), 0644));
  CUSTOS_RETURN_IF_ERROR(WriteFileAtomically(
      verifier_path, absl::StrCat(signer.verifier_key(), "\n"), 0644));
  // The key last: its presence means the other two are complete.
  CUSTOS_RETURN_IF_ERROR(WriteFileAtomically(key_path, pem, 0600));
  return signer;
}

}  // namespace custos::gateway
