#include "gateway/grant_reads.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/access_decision.h"
#include "policy/decide.h"

namespace custos::gateway {

namespace {

// The partner organisation whose consent from the customer `grant` rests
// on; empty when it rests on none (a grant of staff, or a partner's grant
// on the company's own data, which it reaches by the category's contracts)
// or its holder is not in the directory. The one the grant was issued on
// holds whatever the policy now says of its category: a reload must not
// free a grant from the consent it was given under.
std::string ConsentNeeded(const Gateway& gateway, const policy::Policy& policy,
                          const custos::v1::Grant& grant) {
  if (!grant.consent_of().empty()) return grant.consent_of();
  const custos::v1::StaffMember* holder =
      gateway.directory->FindStaff(grant.staff_id());
  if (holder == nullptr || holder->contract() != custos::v1::PARTNER) {
    return "";
  }
  const policy::CategoryRule* rule =
      policy.FindCategory(grant.justification().category());
  if (rule != nullptr && rule->proto->company_data()) return "";
  return holder->partner_organisation();
}

// `grant`'s customer as it stands now (EffectiveCustomer: its consents
// included); PERMISSION_DENIED when it has left the directory.
absl::StatusOr<custos::v1::Customer> CustomerNow(
    const Gateway& gateway, const custos::v1::Grant& grant) {
  const custos::v1::Customer* customer =
      gateway.directory->FindCustomer(grant.customer_id());
  if (customer == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("grant ", grant.grant_id(), ": customer ",
                     grant.customer_id(), " is no longer in the directory"));
  }
  return EffectiveCustomer(gateway, *customer);
}

// OK while `customer` (the grant's, now) has its consent to access by
// `partner`.
absl::Status ConsentHolds(const custos::v1::Customer& customer,
                          const custos::v1::Grant& grant,
                          const std::string& partner) {
  const auto& partners = customer.consented_partners();
  if (std::find(partners.begin(), partners.end(), partner) == partners.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("PARTNER_WITHOUT_CONSENT: ", grant.customer_id(),
                     " has withdrawn its consent to access by ", partner,
                     "; grant ", grant.grant_id(), " serves nothing more"));
  }
  return absl::OkStatus();
}

// OK while `holder` still meets the staff side of the policy in force for
// the grant's category (DecideStaff): the directory can change under a
// live grant (a contract ended early or changed, a clause or role gone).
// `customer` is the grant's as it stands now; only a partner's consent
// reads it.
absl::Status HolderStillQualifies(const AuditedCall& call,
                                  const custos::v1::Grant& grant,
                                  const custos::v1::StaffMember& holder,
                                  const custos::v1::Customer& customer) {
  policy::AccessFacts facts;
  facts.staff = &holder;
  facts.customer = &customer;
  facts.category = grant.justification().category();
  facts.reference = grant.justification().reference();
  facts.now = call.now();
  const custos::v1::Decision staff = policy::DecideStaff(call.policy(), facts);
  if (staff.verdict() == custos::v1::ALLOW) return absl::OkStatus();
  std::vector<std::string> reasons;
  for (const custos::v1::Reason& reason : staff.reasons()) {
    reasons.push_back(absl::StrCat(reason.code(), ": ", reason.message()));
  }
  return absl::PermissionDeniedError(absl::StrCat(absl::StrJoin(reasons, "; "),
                                                  "; grant ", grant.grant_id(),
                                                  " serves nothing more"));
}

}  // namespace

absl::Status GrantStillBacked(const Gateway& gateway, const AuditedCall& call,
                              const custos::v1::Grant& grant) {
  const std::string& here = call.caller().placement.country;
  if (grant.has_issued_for_country() && grant.issued_for_country() != here) {
    const auto where = [](const std::string& country) {
      return country.empty() ? std::string("an address the policy cannot place")
                             : country;
    };
    return absl::PermissionDeniedError(absl::StrCat(
        "LOCATION_CHANGED: grant ", grant.grant_id(),
        " was issued for access from ", where(grant.issued_for_country()),
        "; this call comes from ", where(here), ": ask for access from here"));
  }
  const custos::v1::StaffMember* holder =
      gateway.directory->FindStaff(grant.staff_id());
  if (holder == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("grant ", grant.grant_id(), ": its holder ",
                     grant.staff_id(), " is no longer in the staff directory"));
  }
  if (!holder->active()) {
    return absl::PermissionDeniedError(
        absl::StrCat("grant ", grant.grant_id(), ": its holder ",
                     grant.staff_id(), " is no longer active"));
  }
  // The customer counts only for a partner's consent, which its consents
  // as given since (EffectiveCustomer) decide: looked up once, and only
  // then; a copy on every read of staff would be for nothing.
  const std::string partner = ConsentNeeded(gateway, call.policy(), grant);
  custos::v1::Customer customer;
  if (!partner.empty() || holder->contract() == custos::v1::PARTNER) {
    auto effective = CustomerNow(gateway, grant);
    if (!effective.ok()) return effective.status();
    customer = *std::move(effective);
  }
  if (!partner.empty()) {
    if (auto s = ConsentHolds(customer, grant, partner); !s.ok()) return s;
  }
  return HolderStillQualifies(call, grant, *holder, customer);
}

namespace {

// The start of a use of `grant` by `call`: the grant ACTIVE, the partner's
// consent it rests on (returned; empty for none) held until the call's
// entry is logged, and GrantStillBacked. The mark is taken before the
// check: a withdrawal started after the check waits for the entry, one
// started before fails the check.
absl::StatusOr<std::string> BeginUse(const Gateway& gateway, AuditedCall& call,
                                     const custos::v1::Grant& grant) {
  if (grant.state() != custos::v1::GRANT_ACTIVE) {
    return absl::FailedPreconditionError(
        absl::StrCat("grant ", grant.grant_id(), " is ",
                     custos::v1::GrantState_Name(grant.state()),
                     "; nothing is served under it"));
  }
  std::string partner = ConsentNeeded(gateway, call.policy(), grant);
  if (!partner.empty()) {
    call.KeepUntilLogged(std::shared_ptr<const void>(
        gateway.approvals->UseConsent(grant.customer_id(), partner)));
  }
  if (auto s = GrantStillBacked(gateway, call, grant); !s.ok()) return s;
  return partner;
}

// The end of a use: counts `records` against the grant's `limit` in one
// step with a check that it is still active, holds the grant's end (if one
// starts after this) until the call's entry is logged, and answers the call
// only if, once logged, neither an end of the grant nor a withdrawal of
// `partner`'s consent was applied before it, and the count is in the file.
absl::Status CountUse(const Gateway& gateway, AuditedCall& call,
                      const custos::v1::Grant& grant,
                      const std::string& partner, uint64_t records,
                      uint64_t limit) {
  std::unique_ptr<GrantStore::ReadInFlight> in_flight;
  if (auto s = gateway.grants->AddRecordsRead(grant.grant_id(), records, limit,
                                              call.now(), &in_flight);
      !s.ok()) {
    return s;
  }
  call.KeepUntilLogged(std::shared_ptr<const void>(std::move(in_flight)));
  // An end that stopped waiting for this use (StartEnd waits a few seconds)
  // may have its entry before this one's: then this use is logged after
  // it, and must serve nothing.
  call.AfterLogged([grants = gateway.grants, id = grant.grant_id()] {
    return grants->StillServing(id);
  });
  // A withdrawal waits for this use only a few seconds: one that gave up
  // and was stored before this use was logged leaves it nothing to serve.
  if (!partner.empty()) {
    call.AfterLogged([approvals = gateway.approvals,
                      customer = grant.customer_id(), partner] {
      return approvals->ConsentNotWithdrawn(customer, partner);
    });
  }
  if (records > 0) {
    call.AfterLoggedAsync(
        [grants = gateway.grants](AuditedCall::StepDone done) {
          grants->StoreRecordsReadAsync(std::move(done));
        });
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ActUnderGrant(const Gateway& gateway, AuditedCall& call,
                           const custos::v1::Grant& grant) {
  auto partner = BeginUse(gateway, call, grant);
  if (!partner.ok()) return partner.status();
  return CountUse(gateway, call, grant, *partner, /*records=*/0,
                  gateway.max_records_per_grant);
}

absl::StatusOr<ServedRecords> ServeUnderGrant(const Gateway& gateway,
                                              AuditedCall& call,
                                              const custos::v1::Grant& grant,
                                              const RecordsWanted& wanted) {
  call.entry().set_data_kind(wanted.kind);
  if (grant.state() == custos::v1::GRANT_ACTIVE) {
    const auto& kinds = grant.obligations().data_kinds();
    if (std::find(kinds.begin(), kinds.end(), wanted.kind) == kinds.end()) {
      return absl::PermissionDeniedError(absl::StrCat(
          wanted.kind_field, ": grant ", grant.grant_id(), " does not reach ",
          custos::v1::DataKind_Name(wanted.kind)));
    }
  }
  auto partner = BeginUse(gateway, call, grant);
  if (!partner.ok()) return partner.status();
  const uint64_t limit = gateway.max_records_per_grant;
  if (grant.records_read() >= limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("grant ", grant.grant_id(), " has served its limit of ",
                     limit, " records; ask for a new grant with a reason"));
  }
  // A page never takes the grant past its limit: the last one is shorter.
  const int page_size = static_cast<int>(std::min<uint64_t>(
      std::max(wanted.page_size, 1), limit - grant.records_read()));
  ServedRecords served;
  auto page =
      gateway.customer_data->Read(grant.customer_id(), wanted.kind, page_size,
                                  wanted.page_token, wanted.record_id);
  if (!page.ok()) return page.status();
  served.page = *std::move(page);
  const std::vector<std::string> masked(
      grant.obligations().masked_fields().begin(),
      grant.obligations().masked_fields().end());
  served.masked_fields = MaskRecords(wanted.kind, masked, served.page.records);
  // Counted before the entry is appended, and in the grants file before
  // the records are served: should the append or the file's write fail, or
  // the gateway stop in between, the grant has counted records it did not
  // serve, never the other way round. The count also checks, under the
  // grant store's lock, that the grant is still active: a revocation that
  // came after the check above serves nothing more. And an end started
  // after the count (GrantStore::StartEnd) waits until this read's entry is
  // logged (`in_flight`), so that its own entry follows.
  if (auto s = CountUse(gateway, call, grant, *partner,
                        served.page.records.size(), limit);
      !s.ok()) {
    return s;
  }
  call.entry().set_record_count(served.page.records.size());
  return served;
}

}  // namespace custos::gateway
