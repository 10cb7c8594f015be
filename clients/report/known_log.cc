#include "clients/report/known_log.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "audit/checkpoint.h"
#include "audit/sqlite/sqlite_log_store.h"
#include "common/status_macros.h"
#include "policy/decide.h"

namespace custos::report::testing {

using custos::v1::LogEntry;

LogEntry& Story::Add(absl::string_view utc, absl::string_view staff,
                     absl::string_view role, absl::string_view action,
                     custos::v1::Outcome outcome) {
  absl::Time t;
  std::string error;
  absl::ParseTime("%Y-%m-%d %H:%M", std::string(utc), absl::UTCTimeZone(), &t,
                  &error);
  LogEntry& e = entries_.emplace_back();
  e.mutable_time()->set_seconds(absl::ToUnixSeconds(t));
  e.mutable_actor()->set_kind(custos::v1::ACTOR_STAFF);
  e.mutable_actor()->set_id(std::string(staff));
  if (!role.empty()) e.mutable_actor()->add_roles(std::string(role));
  e.mutable_actor()->set_contract(custos::v1::DUTCH_EMPLOYMENT);
  e.mutable_actor()->set_country("NL");
  e.mutable_actor()->set_network("office-amsterdam");
  e.set_action(std::string(action));
  e.set_outcome(outcome);
  if (outcome == custos::v1::OUTCOME_REFUSED) e.set_status_code(7);
  e.set_policy_version("sha256:0123456789abcdef");
  return e;
}

LogEntry& Story::Request(absl::string_view utc, absl::string_view staff,
                         absl::string_view role, absl::string_view customer,
                         absl::string_view category,
                         absl::string_view reference,
                         custos::v1::Outcome outcome) {
  LogEntry& e = Add(utc, staff, role, "StaffAccess.RequestAccess", outcome);
  Justify(e, customer, category, reference);
  return e;
}

LogEntry& Story::Grant(absl::string_view utc, absl::string_view staff,
                       absl::string_view role, absl::string_view customer,
                       absl::string_view category, absl::string_view reference,
                       absl::string_view grant) {
  LogEntry& e = Request(utc, staff, role, customer, category, reference,
                        custos::v1::OUTCOME_ALLOWED);
  e.set_grant_id(std::string(grant));
  e.set_resource(absl::StrCat("grant/", grant));
  Reason(e, policy::reason::kAllowedForCategory, "allowed");
  return e;
}

LogEntry& Story::Read(absl::string_view utc, absl::string_view staff,
                      absl::string_view role, absl::string_view customer,
                      absl::string_view category, absl::string_view reference,
                      absl::string_view grant, custos::v1::DataKind kind,
                      uint64_t records) {
  LogEntry& e = Add(utc, staff, role, "StaffAccess.ReadCustomerData",
                    custos::v1::OUTCOME_ALLOWED);
  Justify(e, customer, category, reference);
  e.set_grant_id(std::string(grant));
  e.set_data_kind(kind);
  e.set_record_count(records);
  return e;
}

LogEntry& Story::Refused(absl::string_view utc, absl::string_view staff,
                         absl::string_view role, absl::string_view customer,
                         absl::string_view category,
                         absl::string_view reference,
                         absl::string_view reason) {
  LogEntry& e = Request(utc, staff, role, customer, category, reference,
                        custos::v1::OUTCOME_REFUSED);
  Reason(e, reason, "refused");
  return e;
}

LogEntry& Story::Session(absl::string_view utc, absl::string_view staff,
                         absl::string_view role, absl::string_view action,
                         absl::string_view customer, absl::string_view category,
                         absl::string_view reference, absl::string_view grant,
                         absl::string_view session) {
  LogEntry& e = Add(utc, staff, role, action, custos::v1::OUTCOME_ALLOWED);
  Justify(e, customer, category, reference);
  e.set_grant_id(std::string(grant));
  e.set_session_id(std::string(session));
  return e;
}

LogEntry& Story::GrantEnd(absl::string_view utc, absl::string_view staff,
                          absl::string_view role, absl::string_view action,
                          absl::string_view customer,
                          absl::string_view category,
                          absl::string_view reference,
                          absl::string_view grant) {
  LogEntry& e = Add(utc, staff, role, action, custos::v1::OUTCOME_ALLOWED);
  Justify(e, customer, category, reference);
  e.set_grant_id(std::string(grant));
  return e;
}

LogEntry& Story::Pending(absl::string_view utc, absl::string_view staff,
                         absl::string_view role, absl::string_view customer,
                         absl::string_view category,
                         absl::string_view reference, absl::string_view pending,
                         absl::string_view reason) {
  LogEntry& e = Request(utc, staff, role, customer, category, reference,
                        custos::v1::OUTCOME_PENDING);
  e.set_pending_request_id(std::string(pending));
  e.set_resource(absl::StrCat("pending/", pending));
  Reason(e, reason, "waits for approval");
  return e;
}

LogEntry& Story::Decide(absl::string_view utc, size_t request,
                        custos::v1::ActorKind kind, absl::string_view approver,
                        custos::v1::Outcome outcome) {
  // Copied first: adding the decision may move the request.
  const LogEntry asked = entries_.at(request);
  const bool customer = kind == custos::v1::ACTOR_CUSTOMER;
  LogEntry& e = Add(utc, approver, customer ? "" : "dpo",
                    "Approvals.DecidePendingRequest", outcome);
  if (customer) {
    e.mutable_actor()->set_kind(custos::v1::ACTOR_CUSTOMER);
    e.mutable_actor()->clear_contract();
    e.mutable_actor()->set_country("");
    e.mutable_actor()->set_network("");
  }
  e.set_status_code(0);
  Justify(e, asked.customer_id(), asked.category(), asked.reference());
  e.set_pending_request_id(asked.pending_request_id());
  e.set_resource(absl::StrCat("pending/", asked.pending_request_id()));
  return e;
}

LogEntry& Story::NotApplied(absl::string_view utc, size_t logged,
                            absl::string_view why) {
  const LogEntry was = entries_.at(logged);
  LogEntry& e = Add(utc, was.actor().id(), "", "Custos.NotApplied",
                    custos::v1::OUTCOME_NOT_APPLIED);
  *e.mutable_actor() = was.actor();
  Justify(e, was.customer_id(), was.category(), was.reference());
  e.set_grant_id(was.grant_id());
  e.set_session_id(was.session_id());
  e.set_pending_request_id(was.pending_request_id());
  e.set_resource(absl::StrCat("entry/", logged));
  e.set_status_code(14);
  Reason(e, "NOT_APPLIED",
         absl::StrCat(was.action(), " entry #", logged,
                      " is logged as allowed, but was not applied: ", why));
  return e;
}

void Story::Justify(LogEntry& e, absl::string_view customer,
                    absl::string_view category, absl::string_view reference) {
  e.set_customer_id(std::string(customer));
  e.set_category(std::string(category));
  e.set_reference(std::string(reference));
}

void Story::Reason(LogEntry& e, absl::string_view code,
                   absl::string_view message) {
  auto* r = e.add_reasons();
  r->set_code(std::string(code));
  r->set_message(std::string(message));
}

std::vector<LogEntry> KnownEntries() {
  using custos::v1::ABUSE_COMPLAINTS;
  using custos::v1::ACCOUNT;
  using custos::v1::CAMPAIGNS;
  using custos::v1::SUBSCRIBERS;
  Story s;
  // Before the period: not reported.
  s.Grant("2026-10-30 09:00", "anna.support", "support", "acme", "support",
          "SUP-1001", "g_before");

  // Week 1. Support grants: reads of 25, 30, 20 and 1000 records; the
  // median is 25, so only the 1000 is over five times the norm.
  s.Grant("2026-11-02 09:00", "anna.support", "support", "acme", "support",
          "SUP-1042", "g_1");
  s.Read("2026-11-02 09:05", "anna.support", "support", "acme", "support",
         "SUP-1042", "g_1", SUBSCRIBERS, 20);
  s.Read("2026-11-02 09:06", "anna.support", "support", "acme", "support",
         "SUP-1042", "g_1", CAMPAIGNS, 5);
  s.Grant("2026-11-02 10:00", "daan.developer", "developer", "acme", "bug",
          "BUG-7", "g_2");
  s.Read("2026-11-02 10:10", "daan.developer", "developer", "acme", "bug",
         "BUG-7", "g_2", SUBSCRIBERS, 10);
  s.Grant("2026-11-03 11:00", "lars.deliverability", "deliverability",
          "nordwind", "abuse", "ABUSE-3", "g_3");
  s.Read("2026-11-03 11:05", "lars.deliverability", "deliverability",
         "nordwind", "abuse", "ABUSE-3", "g_3", ABUSE_COMPLAINTS, 12);
  s.Grant("2026-11-03 12:00", "anna.support", "support", "bakkerij-jansen",
          "support", "SUP-2001", "g_5");
  s.Read("2026-11-03 12:05", "anna.support", "support", "bakkerij-jansen",
         "support", "SUP-2001", "g_5", SUBSCRIBERS, 30);
  s.Grant("2026-11-04 09:00", "cora.consultant", "support", "acme", "support",
          "SUP-1043", "g_6");
  s.Read("2026-11-04 09:05", "cora.consultant", "support", "acme", "support",
         "SUP-1043", "g_6", SUBSCRIBERS, 20);
  s.Grant("2026-11-04 13:00", "anna.support", "support", "acme", "support",
          "SUP-1043", "g_7");
  s.Read("2026-11-04 13:05", "anna.support", "support", "acme", "support",
         "SUP-1043", "g_7", SUBSCRIBERS, 1000);
  // 20:30 in Amsterdam: outside working hours.
  s.Read("2026-11-04 19:30", "daan.developer", "developer", "acme", "bug",
         "BUG-7", "g_2", CAMPAIGNS, 3);
  // eva.former's contract ended in 2025: three refusals within an hour
  // (repeated), then one access the gateway allowed.
  for (const char* t :
       {"2026-11-05 09:00", "2026-11-05 09:20", "2026-11-05 09:40"}) {
    s.Refused(t, "eva.former", "support", "acme", "support", "SUP-1042",
              policy::reason::kContractNotCurrent);
  }
  s.Grant("2026-11-06 09:00", "eva.former", "support", "acme", "support",
          "SUP-1042", "g_eva");
  // Two refusals a day apart: not repeated.
  s.Refused("2026-11-05 10:00", "noah.noclause", "support", "acme", "support",
            "SUP-1042", policy::reason::kNoConfidentialityClause);
  s.Refused("2026-11-06 10:30", "noah.noclause", "support", "acme", "support",
            "SUP-1042", policy::reason::kNoConfidentialityClause);
  // A closed ticket.
  s.Refused("2026-11-06 11:00", "mila.accounts", "account_manager", "acme",
            "support", "SUP-0917", policy::reason::kReferenceClosed);
  // Saturday: outside working hours.
  s.Grant("2026-11-07 10:00", "anna.support", "support", "acme", "support",
          "SUP-1042", "g_sat");
  // An unknown caller, refused before any policy.
  {
    LogEntry& e =
        s.Add("2026-11-07 11:00", "CN=mallory", "", "StaffAccess.RequestAccess",
              custos::v1::OUTCOME_REFUSED);
    e.mutable_actor()->set_kind(custos::v1::ACTOR_UNKNOWN_CALLER);
    e.set_status_code(16);
  }

  // Week 2. Session 1: 30 minutes, ended by the engineer.
  s.Grant("2026-11-09 08:59", "anna.support", "support", "acme", "support",
          "SUP-1042", "g_8");
  s.Session("2026-11-09 09:00", "anna.support", "support",
            "TakeIdentity.StartSession", "acme", "support", "SUP-1042", "g_8",
            "s_1");
  s.Session("2026-11-09 09:01", "anna.support", "support",
            "TakeIdentity.ExchangeLink", "acme", "support", "SUP-1042", "g_8",
            "s_1");
  for (const char* t :
       {"2026-11-09 09:02", "2026-11-09 09:10", "2026-11-09 09:20"}) {
    s.Session(t, "anna.support", "support", "TakeIdentity.ViewPage", "acme",
              "support", "SUP-1042", "g_8", "s_1");
  }
  s.Session("2026-11-09 09:30", "anna.support", "support",
            "TakeIdentity.EndSession", "acme", "support", "SUP-1042", "g_8",
            "s_1");
  // Session 2: 7.5 of 8 hours, then the DPO revokes the grant.
  s.Grant("2026-11-10 07:59", "cora.consultant", "support", "bakkerij-jansen",
          "support", "SUP-2001", "g_9");
  s.Session("2026-11-10 08:00", "cora.consultant", "support",
            "TakeIdentity.StartSession", "bakkerij-jansen", "support",
            "SUP-2001", "g_9", "s_2");
  s.Session("2026-11-10 15:30", "cora.consultant", "support",
            "TakeIdentity.ViewPage", "bakkerij-jansen", "support", "SUP-2001",
            "g_9", "s_2");
  s.GrantEnd("2026-11-10 15:35", "dirk.dpo", "dpo", "StaffAccess.RevokeGrant",
             "bakkerij-jansen", "support", "SUP-2001", "g_9");
  // Session 3: a page view 4.5 hours into a 4-hour prep session.
  s.Grant("2026-11-11 08:59", "mila.accounts", "account_manager", "acme",
          "prep", "MEET-2026-11-25", "g_10");
  s.Session("2026-11-11 09:00", "mila.accounts", "account_manager",
            "TakeIdentity.StartSession", "acme", "prep", "MEET-2026-11-25",
            "g_10", "s_3");
  s.Session("2026-11-11 13:30", "mila.accounts", "account_manager",
            "TakeIdentity.ViewPage", "acme", "prep", "MEET-2026-11-25", "g_10",
            "s_3");

  // From Germany: pending, approved by the customer, then read.
  {
    const size_t request = s.size();
    LogEntry& e = s.Pending("2026-11-12 09:00", "anna.support", "support",
                            "acme", "support", "SUP-1042", "p_1",
                            policy::reason::kAbroadNeedsCustomerApproval);
    e.mutable_reasons(0)->set_message("access from DE needs acme's approval");
    e.mutable_actor()->set_country("DE");
    e.mutable_actor()->set_network("");
    LogEntry& approved =
        s.Decide("2026-11-12 09:10", request, custos::v1::ACTOR_CUSTOMER,
                 "acme", custos::v1::OUTCOME_ALLOWED);
    approved.set_grant_id("g_11");
    Story::Reason(approved, policy::reason::kAllowedForCategory, "allowed");
    Story::Reason(approved, policy::reason::kAbroadApproved,
                  "access from DE on trip t_1, which the DPO approved, with "
                  "the customer's approval");
  }
  {
    LogEntry& e = s.Read("2026-11-12 09:15", "anna.support", "support", "acme",
                         "support", "SUP-1042", "g_11", ACCOUNT, 1);
    e.mutable_actor()->set_country("DE");
    e.mutable_actor()->set_network("");
  }
  // Eleven random checks in an hour; the policy allows ten in 30 days.
  for (int i = 0; i < 11; ++i) {
    LogEntry& e = s.Grant(absl::StrCat("2026-11-13 09:", 10 + i * 4),
                          "tess.tester", "tester", "nordwind", "feature",
                          "random-check", absl::StrCat("g_rc", i));
    Story::Reason(e, policy::reason::kRandomCheckDrawn, "random check");
  }
  // An end of a grant that was logged, but could not be stored after its
  // entry; a second entry records that.
  {
    const size_t ended = s.size();
    s.GrantEnd("2026-11-14 10:00", "tess.tester", "tester",
               "StaffAccess.EndGrant", "nordwind", "feature", "random-check",
               "g_rc0");
    s.NotApplied("2026-11-14 10:00", ended,
                 "grants: storing grants: database is locked");
  }
  // After the period: not reported.
  s.Grant("2026-11-16 09:00", "anna.support", "support", "acme", "support",
          "SUP-1042", "g_after");
  return std::move(s).Take();
}

absl::StatusOr<uint64_t> WriteKnownLog(const std::string& path,
                                       const audit::NoteSigner& signer) {
  audit::SqliteLogStore::Options options;
  options.signer = [signer](uint64_t size, absl::string_view root) {
    return signer.Sign(
        audit::FormatCheckpointBody({signer.name(), size, std::string(root)}));
  };
  CUSTOS_ASSIGN_OR_RETURN(auto store,
                          audit::SqliteLogStore::Open(path, options));
  uint64_t n = 0;
  for (LogEntry& entry : KnownEntries()) {
    CUSTOS_RETURN_IF_ERROR(store->Append(std::move(entry)).status());
    ++n;
  }
  CUSTOS_RETURN_IF_ERROR(store->CheckpointNow().status());
  return n;
}

}  // namespace custos::report::testing
