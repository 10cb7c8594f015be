// The staff directory and the customers, as the gateway decides on them.
//
// Loaded once from a text-format custos.v1.Directory and immutable after;
// thread-safe to read from any thread.
#ifndef CUSTOS_GATEWAY_DIRECTORY_H_
#define CUSTOS_GATEWAY_DIRECTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/custos/v1/directory.pb.h"

namespace custos::gateway {

class Directory {
 public:
  // Parses and validates a text-format custos.v1.Directory. `source_name`
  // (a file name) prefixes every error. INVALID_ARGUMENT, naming the line or
  // the entry and field, for a syntax error, a malformed or duplicate id, a
  // missing contract type, a malformed date, or a partner without an
  // organisation.
  static absl::StatusOr<std::unique_ptr<Directory>> Parse(
      absl::string_view text, absl::string_view source_name);

  // Returns the staff member or customer with this id, or nullptr.
  const custos::v1::StaffMember* FindStaff(absl::string_view staff_id) const;
  const custos::v1::Customer* FindCustomer(absl::string_view customer_id) const;

  const custos::v1::Directory& proto() const { return directory_; }

  // The ids of every member of staff, in file order.
  std::vector<std::string> StaffIds() const;

  // The partner organisations that staff work for, sorted: those a customer
  // may consent to.
  const std::vector<std::string>& PartnerOrganisations() const {
    return partner_organisations_;
  }

 private:
  explicit Directory(custos::v1::Directory directory);

  custos::v1::Directory directory_;
  absl::flat_hash_map<std::string, const custos::v1::StaffMember*> staff_;
  absl::flat_hash_map<std::string, const custos::v1::Customer*> customers_;
  std::vector<std::string> partner_organisations_;
};

// Whether `id` is a valid staff, customer or user id: 1 to 64 bytes of
// lowercase ASCII letters, digits, '.', '-' and '_'.
bool IsValidId(absl::string_view id);

// Whether `date` is a calendar date written "YYYY-MM-DD".
bool IsValidDate(absl::string_view date);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_DIRECTORY_H_
