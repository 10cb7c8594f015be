// Everything a decision is made on, as plain values: the policy's facts
// about people, places, references and approvals. The gateway gathers them
// (from the directory, the reference directory, the approvals store and the
// connection); decisions only read them.
#ifndef CUSTOS_POLICY_FACTS_H_
#define CUSTOS_POLICY_FACTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "policy/networks.h"
#include "proto/custos/v1/directory.pb.h"
#include "proto/custos/v1/policy.pb.h"

namespace custos::policy {

// A ticket, bug report, feature request, abuse report or signal, or meeting,
// as the company's systems know it.
struct Reference {
  std::string id;
  custos::v1::ReferenceKind kind = custos::v1::REFERENCE_KIND_UNSPECIFIED;
  std::string customer_id;
  bool open = false;
};

// Where references are looked up. The demo keeps them in SQLite; a
// deployment implements this over its ticket system. Implementations must
// be thread-safe.
class ReferenceDirectory {
 public:
  virtual ~ReferenceDirectory() = default;
  // The reference with this id, nullopt when there is none; UNAVAILABLE
  // when the directory cannot be asked (the request is then refused).
  virtual absl::StatusOr<std::optional<Reference>> Find(
      absl::string_view id) const = 0;
};

// A trip abroad the DPO approved: one staff member, country, dates, device.
struct Trip {
  std::string country;
  absl::CivilDay first_day;
  absl::CivilDay last_day;
  std::string device_id;
  bool approved = false;
  // Named in the decision's reasons, so the log says which trip allowed it.
  std::string trip_id;
};

// The reference a request names for a random check, which needs no ticket.
inline constexpr char kRandomCheckReference[] = "random-check";

struct AccessFacts {
  const custos::v1::StaffMember* staff = nullptr;
  const custos::v1::Customer* customer = nullptr;
  std::string category;
  std::string reference;
  // The reference as looked up; nullopt when not found (or for a random
  // check, which is not looked up).
  std::optional<Reference> found_reference;
  // Data kinds asked for; empty means the category's.
  std::vector<custos::v1::DataKind> data_kinds;
  // Grant length asked for; zero means the category's default.
  absl::Duration duration;
  bool take_identity = false;
  std::string device_id;
  // Where the connection comes from.
  Placement placement;
  // The staff member's trips.
  std::vector<Trip> trips;
  // Approvals already given for this very request.
  bool dpo_approved = false;
  bool customer_approved = false;
  // Random-check draws by this staff member within the policy's window.
  uint32_t random_checks_in_window = 0;
  absl::Time now;
};

}  // namespace custos::policy

#endif  // CUSTOS_POLICY_FACTS_H_
