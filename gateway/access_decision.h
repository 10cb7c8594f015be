// Deciding one access request with everything the policy needs: the facts
// the gateway holds (references, trips, approvals, consents, past random
// checks) gathered for policy::Decide, and the grant an allowed decision
// becomes. Used by RequestAccess and by the approval that completes a
// pending request, so both decide alike.
//
// Thread-safe.
#ifndef CUSTOS_GATEWAY_ACCESS_DECISION_H_
#define CUSTOS_GATEWAY_ACCESS_DECISION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/audited_call.h"
#include "gateway/gateway.h"
#include "policy/policy.h"
#include "proto/custos/v1/access.pb.h"

namespace custos::gateway {

struct AccessQuestion {
  // The call deciding: a random check it draws stays counted until its
  // entry is written (AuditedCall::KeepUntilLogged).
  AuditedCall* call = nullptr;
  const custos::v1::StaffMember* staff = nullptr;
  const custos::v1::Customer* customer = nullptr;
  const custos::v1::RequestAccessRequest* request = nullptr;
  policy::Placement placement;
  absl::Time now;
  bool dpo_approved = false;
  bool customer_approved = false;
  // For a take-identity session rather than a plain grant.
  bool take_identity = false;
};

// What DecideAccess decided.
struct AccessDecision {
  custos::v1::Decision decision;
  // For ALLOW: the id the grant takes (NewGrant). A random check drawn is
  // counted under it from the decision on, before the grant exists.
  std::string grant_id;
};

// Gathers the facts and decides. UNAVAILABLE when a store cannot be read
// (the request is then refused, not guessed).
absl::StatusOr<AccessDecision> DecideAccess(const Gateway& gateway,
                                            const policy::Policy& policy,
                                            const AccessQuestion& question);

// The customer as the policy sees it: the directory's settings with the
// customer's current partner consents.
absl::StatusOr<custos::v1::Customer> EffectiveCustomer(
    const Gateway& gateway, const custos::v1::Customer& customer);

// The grant an ALLOW decision describes, for `staff` placed in `country`
// (as the decision placed them), made now; not stored.
absl::StatusOr<custos::v1::Grant> NewGrant(
    const AuditedCall& call, const custos::v1::StaffMember& staff,
    const custos::v1::RequestAccessRequest& request,
    const AccessDecision& decided, absl::string_view country);

// Has `call` store `grant` once the call's entry is durable, after the
// steps added before (AuditedCall::AfterLogged): a grant never exists
// without the entry that issued it.
void StoreGrantWhenLogged(const Gateway& gateway, AuditedCall& call,
                          const custos::v1::Grant& grant);

// NewGrant for the caller's placement, then StoreGrantWhenLogged.
absl::StatusOr<custos::v1::Grant> IssueGrant(
    const Gateway& gateway, AuditedCall& call,
    const custos::v1::StaffMember& staff,
    const custos::v1::RequestAccessRequest& request,
    const AccessDecision& decided);

// `prefix` and 128 random bits in hex.
absl::StatusOr<std::string> NewId(absl::string_view prefix);
// As NewId, but the first 12 hex digits are `now` in milliseconds since the
// epoch and only the other 20 (80 bits) are random: ids made one after the
// other sort together, so storing them appends to an index instead of
// touching a random page of it each time. Not for secrets.
absl::StatusOr<std::string> NewTimeOrderedId(absl::string_view prefix,
                                             absl::Time now);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_ACCESS_DECISION_H_
