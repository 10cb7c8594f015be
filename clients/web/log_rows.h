// An entry of a customer's access log as the portal and its exports show
// it: staff by role and pseudonym, never by id.
//
// Pure; thread-safe.
#ifndef CUSTOS_CLIENTS_WEB_LOG_ROWS_H_
#define CUSTOS_CLIENTS_WEB_LOG_ROWS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "proto/custos/v1/audit.pb.h"

namespace custos::web {

// One access-log row, each field as text.
struct LogRow {
  uint64_t index = 0;
  std::string when, who, country, category, reference, action, read, outcome;
};

// Entry `e` of customer `customer_id`'s log as the customer sees it. Who
// made the call: a staff member as their roles and StaffPseudonym under
// `secret`; the customer themself as "you", any other customer as "another
// customer"; custosd; or "unknown caller"; then " via " the front end that
// made it, if any.
LogRow ToRow(const custos::v1::LogEntry& e, absl::string_view secret,
             absl::string_view customer_id);

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_LOG_ROWS_H_
