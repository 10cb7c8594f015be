// The personal values an entry commits to, as the SQLite log keeps them in
// the entry's own row (column `personal`), with their subjects and salts.
//
// Bytes: for each value, four length-prefixed strings (field, subject,
// salt, value), each a varint length then the bytes. Not hashed or signed:
// erasure and masking rewrite it. An empty salt marks a value that was
// masked and no longer matches its commitment.
//
// Pure and thread-safe.
#ifndef CUSTOS_AUDIT_SQLITE_HELD_VALUES_H_
#define CUSTOS_AUDIT_SQLITE_HELD_VALUES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos::audit::sqlite {

struct RowValue {
  std::string field;
  std::string subject;
  std::string salt;
  std::string value;

  bool operator==(const RowValue& other) const {
    return field == other.field && subject == other.subject &&
           salt == other.salt && value == other.value;
  }
};

std::string EncodeRowValues(const std::vector<RowValue>& values);

// DATA_LOSS when `bytes` are not what EncodeRowValues makes.
absl::StatusOr<std::vector<RowValue>> DecodeRowValues(absl::string_view bytes);

// A RowValue as views into the bytes it was decoded from.
struct RowValueView {
  absl::string_view field;
  absl::string_view subject;
  absl::string_view salt;
  absl::string_view value;
};
// As DecodeRowValues, into `values` (cleared first) without copying, for
// verification, which decodes every row: the views point into `bytes`.
absl::Status DecodeRowValueViews(absl::string_view bytes,
                                 std::vector<RowValueView>& values);

}  // namespace custos::audit::sqlite

#endif  // CUSTOS_AUDIT_SQLITE_HELD_VALUES_H_
