// Customer data as the data broker reads it, behind one interface: the demo
// keeps it in SQLite; a deployment plugs in its own application database.
//
// Implementations must be thread-safe.
#ifndef CUSTOS_GATEWAY_DATA_CUSTOMER_DATA_H_
#define CUSTOS_GATEWAY_DATA_CUSTOMER_DATA_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/custos/v1/common.pb.h"
#include "proto/custos/v1/policy.pb.h"

namespace custos::gateway {

struct RecordPage {
  std::vector<custos::v1::Record> records;
  // Empty on the last page.
  std::string next_page_token;
};

class CustomerData {
 public:
  virtual ~CustomerData() = default;

  // One page of `kind` records of `customer_id`, in a stable order. With
  // `record_id` set, at most that one record. AGGREGATES returns one record
  // of counts and rates. INVALID_ARGUMENT for a page token this backend did
  // not issue for `kind`'s list (a token of another kind's list must not
  // start this one somewhere); NOT_FOUND for an unknown customer.
  virtual absl::StatusOr<RecordPage> Read(
      absl::string_view customer_id, custos::v1::DataKind kind, int page_size,
      absl::string_view page_token, absl::string_view record_id) const = 0;

  // The fields `kind`'s records may have, so that a policy naming a field
  // to mask that no record has (a typo would serve the data in clear) is
  // refused; nullopt when the backend does not say (no check is made).
  virtual std::optional<std::vector<std::string>> FieldNames(
      custos::v1::DataKind kind) const {
    return std::nullopt;
  }
};

// OK when every field `policy` masks ("KIND.field") is one that
// `data`'s records of that kind may have; else INVALID_ARGUMENT naming the
// category, the field and the fields there are.
absl::Status CheckMaskedFields(const custos::v1::PolicyFile& policy,
                               const CustomerData& data);

// Replaces the value of every field named in `masked_fields` ("KIND.field",
// for records of `kind`) with a masked form that keeps its shape: e-mail
// addresses keep their first character and domain ("j***@example.nl"),
// other text its first character ("J***"), a whole UTF-8 sequence ("É***").
// Returns the masked field names present.
std::vector<std::string> MaskRecords(
    custos::v1::DataKind kind, const std::vector<std::string>& masked_fields,
    std::vector<custos::v1::Record>& records);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_DATA_CUSTOMER_DATA_H_
