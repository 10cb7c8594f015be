#include "gateway/data/customer_data.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/utf8.h"

namespace custos::gateway {
namespace {

// The bytes of `value`'s first character: a whole UTF-8 sequence, never
// part of one (a record's fields are proto3 strings, which a client refuses
// to parse when they are not UTF-8); none when it does not start with one.
// The first character whole, or nothing if `value` does not start with a
// valid one.
absl::string_view FirstCharacter(absl::string_view value) {
  return value.empty() ? value : value.substr(0, Utf8SequenceLength(value, 0));
}

// Keeps the shape and little else: the first character, and for an e-mail
// address its domain.
std::string Mask(const std::string& value) {
  if (value.empty()) return value;
  const size_t at = value.find('@');
  if (at != std::string::npos && at > 0) {
    return absl::StrCat(FirstCharacter(value), "***", value.substr(at));
  }
  return absl::StrCat(FirstCharacter(value), "***");
}

}  // namespace

std::vector<std::string> MaskRecords(
    custos::v1::DataKind kind, const std::vector<std::string>& masked_fields,
    std::vector<custos::v1::Record>& records) {
  const std::string prefix = absl::StrCat(custos::v1::DataKind_Name(kind), ".");
  std::vector<std::string> applied;
  for (const std::string& masked : masked_fields) {
    if (masked.rfind(prefix, 0) != 0) continue;
    const std::string field = masked.substr(prefix.size());
    bool present = false;
    for (custos::v1::Record& record : records) {
      auto it = record.mutable_fields()->find(field);
      if (it == record.mutable_fields()->end()) continue;
      it->second = Mask(it->second);
      present = true;
    }
    if (present) applied.push_back(masked);
  }
  return applied;
}

absl::Status CheckMaskedFields(const custos::v1::PolicyFile& policy,
                               const CustomerData& data) {
  for (const custos::v1::Category& category : policy.categories()) {
    for (const std::string& masked : category.masked_fields()) {
      const std::vector<absl::string_view> parts =
          absl::StrSplit(masked, absl::MaxSplits('.', 1));
      custos::v1::DataKind kind;
      // The policy's own check has refused an unknown kind already.
      if (parts.size() != 2 ||
          !custos::v1::DataKind_Parse(std::string(parts[0]), &kind)) {
        continue;
      }
      const std::optional<std::vector<std::string>> fields =
          data.FieldNames(kind);
      if (!fields.has_value() || std::find(fields->begin(), fields->end(),
                                           parts[1]) != fields->end()) {
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "categories[", category.name(), "].masked_fields: ", parts[0],
          " records have no field \"", parts[1], "\" (they have ",
          absl::StrJoin(*fields, ", "),
          "); a field named wrongly would be served unmasked"));
    }
  }
  return absl::OkStatus();
}

}  // namespace custos::gateway
