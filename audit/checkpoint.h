// The C2SP tlog-checkpoint body: the text a signed note carries to commit to
// one size and root of the log.
//
//   <origin>\n<size in decimal>\n<base64 of the 32-byte root hash>\n
//
// followed by optional extension lines, which Custos neither writes nor
// interprets. Pure; thread-safe.
#ifndef CUSTOS_AUDIT_CHECKPOINT_H_
#define CUSTOS_AUDIT_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos::audit {

struct CheckpointBody {
  // Names the log, e.g. "custos.example/log/3f9a0c12"; unique per log.
  std::string origin;
  uint64_t size = 0;
  std::string root_hash;  // 32 raw bytes
};

std::string FormatCheckpointBody(const CheckpointBody& body);

// Parses a note text. INVALID_ARGUMENT naming the line that is wrong: an
// empty origin, a size that is not canonical decimal, a root that is not
// base64 of 32 bytes, or a missing final newline.
absl::StatusOr<CheckpointBody> ParseCheckpointBody(absl::string_view text);

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_CHECKPOINT_H_
