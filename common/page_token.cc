#include "common/page_token.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace custos {

std::string PageToken(char list, int64_t rowid) {
  return absl::StrCat(absl::string_view(&list, 1), rowid);
}

absl::StatusOr<int64_t> PageStart(char list, absl::string_view token) {
  if (token.empty()) return std::numeric_limits<int64_t>::max();
  int64_t rowid = 0;
  if (token.size() < 2 || token[0] != list ||
      !absl::SimpleAtoi(token.substr(1), &rowid) || rowid <= 0 ||
      // One spelling per token: no sign, no leading zeros.
      PageToken(list, rowid) != token) {
    return absl::InvalidArgumentError(
        "page_token: expected the next_page_token of a previous page of this "
        "list");
  }
  return rowid;
}

}  // namespace custos
