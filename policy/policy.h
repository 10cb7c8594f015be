// A loaded, validated policy file (proto/custos/v1/policy.proto).
//
// Immutable after Parse and safe to share between threads; custosd swaps in
// a new shared_ptr on reload while calls in flight keep the old one.
#ifndef CUSTOS_POLICY_POLICY_H_
#define CUSTOS_POLICY_POLICY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "policy/networks.h"
#include "proto/custos/v1/policy.pb.h"

namespace custos::policy {

// A category with its durations parsed.
struct CategoryRule {
  const custos::v1::Category* proto;
  absl::Duration default_duration;
  absl::Duration max_duration;
};

class Policy {
 public:
  // Parses and validates a policy file. INVALID_ARGUMENT whose message names
  // `source_name`, the line and the field, e.g.
  // "policy.textproto:42: categories[2].max_duration: expected a duration
  // such as 8h". Validation covers syntax, unknown roles, duplicate names,
  // durations, data kinds, masked fields, networks and company-data rules.
  static absl::StatusOr<std::shared_ptr<const Policy>> Parse(
      absl::string_view text, absl::string_view source_name);

  // "sha256:" and the first 16 hex digits of SHA-256 of the file's bytes.
  const std::string& version() const { return version_; }
  const custos::v1::PolicyFile& file() const { return file_; }

  // The category named `name`, or null.
  const CategoryRule* FindCategory(absl::string_view name) const;
  // Category names, sorted, for messages.
  const std::vector<std::string>& category_names() const {
    return category_names_;
  }

  const NetworkMap& networks() const { return networks_; }
  absl::Duration random_check_window() const { return random_check_window_; }
  // Where the company's dates (contracts, trips) begin and end.
  absl::TimeZone time_zone() const { return time_zone_; }
  absl::Duration keep_full_source_address() const {
    return keep_full_source_address_;
  }

 private:
  Policy() = default;

  custos::v1::PolicyFile file_;
  std::string version_;
  absl::flat_hash_map<std::string, CategoryRule> categories_;
  std::vector<std::string> category_names_;
  NetworkMap networks_;
  absl::Duration random_check_window_;
  absl::Duration keep_full_source_address_;
  absl::TimeZone time_zone_;
};

}  // namespace custos::policy

#endif  // CUSTOS_POLICY_POLICY_H_
