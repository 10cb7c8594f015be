// The key that signs the audit log's checkpoints, made on first start.
//
// Files under the data directory: log_signing_key.pem (PKCS#8, mode 0600,
// readable only by the server), log_origin (the log's name, e.g.
// "custos.local/log/3f9a0c12") and log_verifier_key (public: what auditors
// and customers pin). Thread-compatible: call once at start.
#ifndef CUSTOS_GATEWAY_LOG_SIGNER_H_
#define CUSTOS_GATEWAY_LOG_SIGNER_H_

#include <string>

#include "absl/status/statusor.h"
#include "audit/note.h"

namespace custos::gateway {

// Loads the signer from `data_dir`, or makes a new key and origin there.
// Errors name the file.
absl::StatusOr<audit::NoteSigner> LoadOrCreateLogSigner(
    const std::string& data_dir);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_LOG_SIGNER_H_
