#include "audit/checkpoint.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace custos::audit {

std::string FormatCheckpointBody(const CheckpointBody& body) {
  return absl::StrCat(body.origin, "\n", body.size, "\n",
                      absl::Base64Escape(body.root_hash), "\n");
}

absl::StatusOr<CheckpointBody> ParseCheckpointBody(absl::string_view text) {
  if (!absl::EndsWith(text, "\n")) {
    return absl::InvalidArgumentError(
        "checkpoint: expected text ending in a newline");
  }
  text.remove_suffix(1);
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 3) {
    return absl::InvalidArgumentError(
        "checkpoint: expected at least three lines: origin, size, root hash");
  }
  CheckpointBody body;
  body.origin = std::string(lines[0]);
  if (body.origin.empty())
    return absl::InvalidArgumentError("checkpoint line 1: empty origin");
  const absl::string_view size = lines[1];
  const bool canonical =
      !size.empty() && size.size() <= 20 &&
      std::all_of(size.begin(), size.end(), absl::ascii_isdigit) &&
      (size == "0" || size[0] != '0');
  if (!canonical || !absl::SimpleAtoi(size, &body.size)) {
    return absl::InvalidArgumentError(
        "checkpoint line 2: expected the tree size in decimal without leading "
        "zeros");
  }
  if (!absl::Base64Unescape(lines[2], &body.root_hash) ||
      body.root_hash.size() != 32 ||
      absl::Base64Escape(body.root_hash) != lines[2]) {
    return absl::InvalidArgumentError(
        "checkpoint line 3: expected the root hash as standard base64 of 32 "
        "bytes");
  }
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint line ", i + 1, ": empty extension line"));
    }
  }
  return body;
}

}  // namespace custos::audit
