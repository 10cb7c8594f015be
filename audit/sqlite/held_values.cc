#include "audit/sqlite/held_values.h"

#include <cstdint>

namespace custos::audit::sqlite {
namespace {

void PutString(absl::string_view s, std::string& out) {
  uint64_t n = s.size();
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  out.append(s.data(), s.size());
}

// Takes one length-prefixed string off the front of `in`; `out` points into
// what `in` pointed to.
bool TakeString(absl::string_view& in, absl::string_view& out) {
  uint64_t n = 0;
  for (int shift = 0;; shift += 7) {
    if (in.empty() || shift > 28) return false;  // lengths stay under 2^35
    const uint8_t byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    n |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      // One encoding per length: no zero byte closing a longer varint.
      if (byte == 0 && shift > 0) return false;
      break;
    }
  }
  if (n > in.size()) return false;
  out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

}  // namespace

std::string EncodeRowValues(const std::vector<RowValue>& values) {
  std::string out;
  for (const RowValue& value : values) {
    PutString(value.field, out);
    PutString(value.subject, out);
    PutString(value.salt, out);
    PutString(value.value, out);
  }
  return out;
}

absl::Status DecodeRowValueViews(absl::string_view bytes,
                                 std::vector<RowValueView>& values) {
  values.clear();
  while (!bytes.empty()) {
    RowValueView& value = values.emplace_back();
    if (!TakeString(bytes, value.field) || !TakeString(bytes, value.subject) ||
        !TakeString(bytes, value.salt) || !TakeString(bytes, value.value)) {
      return absl::DataLossError(
          "an entry's personal values are not in their stored form");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RowValue>> DecodeRowValues(absl::string_view bytes) {
  std::vector<RowValueView> views;
  if (auto s = DecodeRowValueViews(bytes, views); !s.ok()) return s;
  std::vector<RowValue> values;
  values.reserve(views.size());
  for (const RowValueView& view : views) {
    values.push_back({std::string(view.field), std::string(view.subject),
                      std::string(view.salt), std::string(view.value)});
  }
  return values;
}

}  // namespace custos::audit::sqlite
