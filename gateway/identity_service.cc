#include "gateway/identity_service.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/openssl.h"
#include "gateway/access_decision.h"
#include "gateway/audit_log_service.h"
#include "gateway/audited_call.h"
#include "gateway/grant_reads.h"
#include "gateway/validate.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

using google::protobuf::util::TimeUtil;

// A single-use link is good for this long after the session starts.
constexpr absl::Duration kLinkLifetime = absl::Minutes(1);
// Records a take-identity page shows at most, as the application's own list
// pages do.
constexpr int kRecordsPerPage = 50;

// Which data kind a page of the customer's application shows, and the
// record it names ("subscribers/s1004" → SUBSCRIBERS, "s1004").
struct PageRef {
  custos::v1::DataKind kind = custos::v1::DATA_KIND_UNSPECIFIED;
  std::string record_id;
  std::string title;
};

absl::StatusOr<PageRef> ParsePage(absl::string_view page) {
  static constexpr struct {
    const char* prefix;
    custos::v1::DataKind kind;
    const char* title;
  } kPages[] = {
      {"dashboard", custos::v1::ACCOUNT, "Dashboard"},
      {"campaigns", custos::v1::CAMPAIGNS, "Campaigns"},
      {"subscribers", custos::v1::SUBSCRIBERS, "Subscribers"},
      {"messages", custos::v1::MESSAGES, "Messages"},
      {"users", custos::v1::CUSTOMER_USERS, "Users"},
      {"complaints", custos::v1::ABUSE_COMPLAINTS, "Abuse complaints"}};
  for (const auto& p : kPages) {
    absl::string_view rest = page;
    if (!absl::ConsumePrefix(&rest, p.prefix)) continue;
    if (rest.empty()) return PageRef{p.kind, "", p.title};
    if (absl::ConsumePrefix(&rest, "/") && !rest.empty() && rest.size() <= 64 &&
        rest.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") ==
            absl::string_view::npos) {
      return PageRef{p.kind, std::string(rest),
                     absl::StrCat(p.title, " / ", rest)};
    }
  }
  return absl::InvalidArgumentError(
      "page: expected dashboard, campaigns, subscribers, messages, users or "
      "complaints, "
      "optionally followed by /<record id>");
}

std::string TokenHash(absl::string_view token) { return Sha256(token); }

absl::Status SessionUsable(const custos::v1::TakeIdentitySession& session,
                           const custos::v1::Grant& grant) {
  if (auto s = SessionLive(session); !s.ok()) return s;
  if (grant.state() != custos::v1::GRANT_ACTIVE) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", session.session_id(), " ended: its grant is ",
                     custos::v1::GrantState_Name(grant.state())));
  }
  return absl::OkStatus();
}

void RecordSession(const custos::v1::TakeIdentitySession& s,
                   custos::v1::LogEntry& entry) {
  entry.set_customer_id(s.customer_id());
  entry.set_category(s.justification().category());
  entry.set_reference(s.justification().reference());
  entry.set_grant_id(s.grant_id());
  entry.set_session_id(s.session_id());
}

// A session may act only for what the customer asked: each action names
// the customer's own request, which must be an open support ticket of this
// customer in the ticket system (not merely a reference the engineer
// typed). `actions` are the request's or the session's; PERMISSION_DENIED
// naming the field of the `index`th otherwise; UNAVAILABLE when the ticket
// system cannot be asked.
absl::Status CheckCustomerRequest(
    const Gateway& gateway, absl::string_view customer_id,
    const google::protobuf::RepeatedPtrField<
        custos::v1::CustomerRequestedAction>& actions,
    int index) {
  const std::string& ref = actions.Get(index).customer_request_ref();
  auto found = gateway.references->Find(ref);
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->kind != custos::v1::SUPPORT_TICKET ||
      (*found)->customer_id != customer_id || !(*found)->open) {
    return absl::PermissionDeniedError(absl::StrCat(
        "customer_requested_actions[", index, "].customer_request_ref: ", ref,
        " is not an open support ticket of ", customer_id,
        "; a session acts only on the customer's own request"));
  }
  return absl::OkStatus();
}

absl::Status CheckCustomerRequests(
    const Gateway& gateway, const custos::v1::StartSessionRequest& request) {
  for (int i = 0; i < request.customer_requested_actions_size(); ++i) {
    if (auto s = CheckCustomerRequest(gateway, request.customer_id(),
                                      request.customer_requested_actions(), i);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Start(AuditedCall& call, const Gateway& gateway,
                   const custos::v1::StartSessionRequest& request,
                   custos::v1::StartSessionResponse& response) {
  if (auto s = call.caller().StaffStatus(); !s.ok()) return s;
  const custos::v1::StaffMember& staff = *call.caller().staff;
  if (auto s = ValidateStartSession(request); !s.ok()) return s;
  custos::v1::LogEntry& entry = call.entry();
  entry.set_customer_id(request.customer_id());
  const custos::v1::Customer* customer =
      gateway.directory->FindCustomer(request.customer_id());
  if (customer == nullptr) {
    return absl::NotFoundError(absl::StrCat("customer_id: no customer \"",
                                            request.customer_id(), "\""));
  }
  const auto& users = customer->users();
  auto user = std::find_if(users.begin(), users.end(),
                           [&](const custos::v1::CustomerUser& u) {
                             return u.user_id() == request.customer_user_id();
                           });
  if (user == users.end()) {
    return absl::NotFoundError(
        absl::StrCat("customer_user_id: ", request.customer_id(),
                     " has no user \"", request.customer_user_id(), "\""));
  }
  if (auto s = CheckCustomerRequests(gateway, request); !s.ok()) return s;

  custos::v1::Grant grant;
  if (!request.grant_id().empty()) {
    auto existing = gateway.grants->Get(request.grant_id(), call.now());
    if (!existing.ok()) return existing.status();
    const policy::CategoryRule* rule =
        call.policy().FindCategory(existing->justification().category());
    if (existing->staff_id() != staff.staff_id() ||
        existing->customer_id() != customer->customer_id()) {
      return absl::PermissionDeniedError(
          "grant_id: not your grant on this customer");
    }
    if (existing->state() != custos::v1::GRANT_ACTIVE) {
      return absl::FailedPreconditionError(
          absl::StrCat("grant ", existing->grant_id(), " is ",
                       custos::v1::GrantState_Name(existing->state())));
    }
    if (rule == nullptr || !rule->proto->take_identity()) {
      return absl::PermissionDeniedError(
          absl::StrCat("TAKE_IDENTITY_NOT_ALLOWED: category ",
                       existing->justification().category(),
                       " does not allow taking identity"));
    }
    if (auto s = GrantStillBacked(gateway, call, *existing); !s.ok()) {
      return s;
    }
    grant = *std::move(existing);
  } else {
    custos::v1::RequestAccessRequest access;
    access.set_customer_id(request.customer_id());
    *access.mutable_justification() = request.justification();
    if (request.has_duration()) *access.mutable_duration() = request.duration();
    access.set_device_id(request.device_id());
    if (auto s = ValidateRequestAccess(access, call.policy()); !s.ok())
      return s;
    // The engineer's stated reason for taking identity, committed to as
    // RequestAccess commits to a grant's.
    call.AddPersonalValue("note", request.justification().note());
    entry.set_category(request.justification().category());
    entry.set_reference(request.justification().reference());
    AccessQuestion question;
    question.call = &call;
    question.staff = &staff;
    question.customer = customer;
    question.request = &access;
    question.placement = call.caller().placement;
    question.now = call.now();
    question.take_identity = true;
    auto decided = DecideAccess(gateway, call.policy(), question);
    if (!decided.ok()) return decided.status();
    const custos::v1::Decision* decision = &decided->decision;
    *entry.mutable_reasons() = decision->reasons();
    *response.mutable_decision() = *decision;
    if (decision->verdict() == custos::v1::NEEDS_APPROVAL) {
      return absl::FailedPreconditionError(
          "this session needs approval: ask with `access request`, and once "
          "approved start the "
          "session with its grant_id");
    }
    if (decision->verdict() != custos::v1::ALLOW) {
      std::vector<std::string> reasons;
      for (const auto& r : decision->reasons())
        reasons.push_back(absl::StrCat(r.code(), ": ", r.message()));
      return absl::PermissionDeniedError(
          absl::StrCat("session refused: ", absl::StrJoin(reasons, "; ")));
    }
    auto issued = IssueGrant(gateway, call, staff, access, *decided);
    if (!issued.ok()) return issued.status();
    grant = *std::move(issued);
  }

  auto session_id = NewId("s_");
  auto link_token = NewId("lt_");
  if (!session_id.ok()) return session_id.status();
  if (!link_token.ok()) return link_token.status();
  custos::v1::TakeIdentitySession& session = *response.mutable_session();
  session.set_session_id(*session_id);
  session.set_staff_id(staff.staff_id());
  session.set_staff_certificate_serial(call.caller().certificate_serial);
  session.set_customer_id(customer->customer_id());
  session.set_customer_user_id(request.customer_user_id());
  *session.mutable_justification() = grant.justification();
  session.set_grant_id(grant.grant_id());
  session.set_state(custos::v1::SESSION_LINK_ISSUED);
  *session.mutable_started_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(call.now()));
  absl::Time expires =
      TimeUtil::TimestampToMicroseconds(grant.obligations().expires_at()) == 0
          ? call.now()
          : absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(
                grant.obligations().expires_at()));
  if (request.has_duration()) {
    expires = std::min(
        expires, call.now() + absl::Seconds(request.duration().seconds()));
  }
  *session.mutable_expires_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(expires));
  *session.mutable_customer_requested_actions() =
      request.customer_requested_actions();
  session.set_read_only(request.customer_requested_actions_size() == 0);
  session.set_grant_issued_for_session(request.grant_id().empty());
  RecordSession(session, entry);
  entry.set_resource(absl::StrCat("session/", *session_id));
  // Stored only once its entry is durable, like a grant: a session must
  // never exist without the record of who started it and why.
  // A grant issued for this session alone is ended if the session cannot
  // be stored: the engineer was told nothing was served, and the grant
  // would otherwise stay usable for reads.
  call.AfterLogged([sessions = gateway.sessions, grants = gateway.grants,
                    session, link_hash = TokenHash(*link_token),
                    link_expires = call.now() + kLinkLifetime,
                    now = call.now()] {
    const absl::Status stored =
        sessions->Create(session, link_hash, link_expires);
    if (!stored.ok() && session.grant_issued_for_session()) {
      (void)grants->End(session.grant_id(), custos::v1::GRANT_ENDED,
                        "custosd:session-not-stored", now);
    }
    return stored;
  });
  // The token rides in the fragment, which browsers never send to servers.
  response.set_link(
      absl::StrCat(gateway.web_base_url, "/identity/start#", *link_token));
  return absl::OkStatus();
}

// custos-web presents a link or session token on the engineer's behalf: the
// engineer whose session it is becomes the entry's actor.
absl::Status ActForSessionStaff(
    AuditedCall& call, const Gateway& gateway,
    const custos::v1::TakeIdentitySession& session) {
  if (!call.caller().is_front_end()) return absl::OkStatus();
  const custos::v1::StaffMember* staff =
      gateway.directory->FindStaff(session.staff_id());
  if (staff == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "session ", session.session_id(), ": its engineer ", session.staff_id(),
        " is no longer in the staff directory"));
  }
  const absl::Status admitted = call.ActFor(*staff);
  // custos-web carries the session on without the engineer's certificate:
  // the one they started it with must not have been revoked since.
  if (!session.staff_certificate_serial().empty() &&
      gateway.authenticator->CertificateRevoked(
          session.staff_certificate_serial())) {
    return absl::PermissionDeniedError(
        absl::StrCat("session ", session.session_id(), ": the certificate ",
                     session.staff_id(), " started it with (serial ",
                     session.staff_certificate_serial(),
                     ") is revoked; nothing more is shown"));
  }
  return admitted;
}

absl::Status Exchange(AuditedCall& call, const Gateway& gateway,
                      const custos::v1::ExchangeLinkRequest& request,
                      custos::v1::ExchangeLinkResponse& response) {
  // The link is the engineer's bearer credential, delivered over their own
  // mTLS connection; custos-web may exchange it for them.
  const bool front_end = call.caller().is_front_end();
  if (!front_end) {
    if (auto s = call.caller().StaffStatus(); !s.ok()) return s;
  }
  if (auto s = ValidateExchangeLink(request); !s.ok()) return s;
  auto token = NewId("st_");
  if (!token.ok()) return token.status();
  const std::string link_hash = TokenHash(request.link_token());
  const std::string staff_id = front_end ? "" : call.caller().staff->staff_id();
  auto session = gateway.sessions->FindLink(link_hash, staff_id, call.now());
  if (!session.ok()) return session.status();
  RecordSession(*session, call.entry());
  if (auto s = ActForSessionStaff(call, gateway, *session); !s.ok()) return s;
  call.entry().set_resource(absl::StrCat("session/", session->session_id()));
  // A session opens only while its grant serves, held as a page's use is:
  // one revoked or ended since the link was made would show nothing, and
  // its opening must not be logged as allowed after that revocation.
  auto grant = gateway.grants->Get(session->grant_id(), call.now());
  if (!grant.ok()) return grant.status();
  if (auto s = ActUnderGrant(gateway, call, *grant); !s.ok()) return s;
  const custos::v1::StaffMember* staff =
      gateway.directory->FindStaff(session->staff_id());
  const custos::v1::Customer* customer =
      gateway.directory->FindCustomer(session->customer_id());
  if (staff != nullptr) response.set_staff_display_name(staff->display_name());
  if (customer != nullptr) {
    for (const auto& u : customer->users()) {
      if (u.user_id() == session->customer_user_id()) {
        response.set_customer_user_display_name(u.display_name());
      }
    }
  }
  // Spent only once its entry is durable, like a session started: a link
  // the log could not record stays good, and no LIVE session exists
  // without the record of its opening. Of two exchanges racing, the store
  // lets one win; the other is told it was logged but not served.
  call.AfterLogged([sessions = gateway.sessions, link_hash, staff_id,
                    token_hash = TokenHash(*token), now = call.now(),
                    response = &response] {
    auto opened = sessions->ExchangeLink(link_hash, staff_id, token_hash, now);
    if (!opened.ok()) return opened.status();
    *response->mutable_session() = *std::move(opened);
    return absl::OkStatus();
  });
  response.set_session_token(*token);
  return absl::OkStatus();
}

// The session a session token opens, with its grant, checked usable.
absl::Status OpenSession(AuditedCall& call, const Gateway& gateway,
                         absl::string_view token,
                         custos::v1::TakeIdentitySession& session,
                         custos::v1::Grant& grant) {
  const bool front_end = call.caller().is_front_end();
  if (!front_end) {
    if (auto s = call.caller().StaffStatus(); !s.ok()) return s;
  }
  if (auto s = ValidateText("session_token", token, 64, true); !s.ok())
    return s;
  auto found = gateway.sessions->ByToken(TokenHash(token), call.now());
  if (!found.ok()) return found.status();
  session = *std::move(found);
  RecordSession(session, call.entry());
  if (auto s = ActForSessionStaff(call, gateway, session); !s.ok()) return s;
  if (!front_end && session.staff_id() != call.caller().staff->staff_id()) {
    return absl::PermissionDeniedError("session_token: not your session");
  }
  auto g = gateway.grants->Get(session.grant_id(), call.now());
  if (!g.ok()) return g.status();
  grant = *std::move(g);
  if (auto s = SessionUsable(session, grant); !s.ok()) return s;
  return GrantStillBacked(gateway, call, grant);
}

// MarkEnding refuses later counts but does not wait for a view or action
// counted before it: one whose entry lands after the end's, once the end is
// applied, serves nothing (recorded as not applied).
void StillLiveOnceLogged(AuditedCall& call, const Gateway& gateway,
                         const custos::v1::TakeIdentitySession& session) {
  call.AfterLogged([sessions = gateway.sessions, id = session.session_id(),
                    now = call.now()] { return sessions->StillLive(id, now); });
}

absl::Status View(AuditedCall& call, const Gateway& gateway,
                  const custos::v1::ViewPageRequest& request,
                  custos::v1::ViewPageResponse& response) {
  custos::v1::TakeIdentitySession session;
  custos::v1::Grant grant;
  if (auto s =
          OpenSession(call, gateway, request.session_token(), session, grant);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateViewPage(request); !s.ok()) return s;
  auto page = ParsePage(request.page());
  if (!page.ok()) return page.status();
  call.entry().set_resource(absl::StrCat("page/", request.page()));
  RecordsWanted wanted;
  wanted.kind = page->kind;
  wanted.page_size = kRecordsPerPage;
  wanted.page_token = request.page_token();
  wanted.record_id = page->record_id;
  wanted.kind_field = "page";
  auto served = ServeUnderGrant(gateway, call, grant, wanted);
  if (!served.ok()) return served.status();
  // Counted before the entry is appended, in one step with any end or
  // revocation: a session ended since it was opened above shows nothing.
  if (auto s = gateway.sessions->Count(session.session_id(), /*page_views=*/1,
                                       /*actions=*/0, call.now());
      !s.ok()) {
    // Refused: its entry says no records were shown (the grant has counted
    // them all the same, never fewer than it served).
    call.entry().clear_record_count();
    return s;
  }
  session.set_page_views(session.page_views() + 1);
  StillLiveOnceLogged(call, gateway, session);
  response.set_title(page->title);
  response.set_kind(page->kind);
  for (auto& r : served->page.records) *response.add_records() = std::move(r);
  response.set_next_page_token(served->page.next_page_token);
  *response.mutable_session() = std::move(session);
  return absl::OkStatus();
}

absl::Status Perform(AuditedCall& call, const Gateway& gateway,
                     const custos::v1::PerformActionRequest& request,
                     custos::v1::PerformActionResponse& response) {
  custos::v1::TakeIdentitySession session;
  custos::v1::Grant grant;
  if (auto s =
          OpenSession(call, gateway, request.session_token(), session, grant);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidatePerformAction(request); !s.ok()) return s;
  const auto& asked = session.customer_requested_actions();
  auto it = std::find_if(asked.begin(), asked.end(), [&](const auto& a) {
    return a.action() == request.action();
  });
  if (it == asked.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("action: the session is read-only except for what the "
                     "customer asked; \"",
                     request.action(), "\" was not asked"));
  }
  call.entry().set_resource(absl::StrCat("action/", request.action(), "/",
                                         it->customer_request_ref()));
  // What the action was given (a test mail's recipient, say) says what it
  // did, and is personal data: the entry commits to it, erasable as a note
  // is. In key order, one "key=value" a line.
  if (!request.parameters().empty()) {
    std::vector<std::pair<std::string, std::string>> given(
        request.parameters().begin(), request.parameters().end());
    std::sort(given.begin(), given.end());
    std::vector<std::string> lines;
    for (const auto& [key, value] : given) {
      lines.push_back(absl::StrCat(key, "=", value));
    }
    call.AddPersonalValue("action_parameters", absl::StrJoin(lines, "\n"));
  }
  // Checked again at each action, as the session and its grant are: a
  // ticket closed or moved to another customer since the session started
  // no longer asks for anything.
  if (auto s = CheckCustomerRequest(gateway, session.customer_id(), asked,
                                    static_cast<int>(it - asked.begin()));
      !s.ok()) {
    return s;
  }
  // As a page is: the grant still active and backed, a revocation of it or
  // a withdrawal of the consent it rests on started from here on waiting
  // for this action's entry, and one applied before that entry leaving the
  // action undone.
  if (auto s = ActUnderGrant(gateway, call, grant); !s.ok()) return s;
  if (auto s = gateway.sessions->Count(session.session_id(), /*page_views=*/0,
                                       /*actions=*/1, call.now());
      !s.ok()) {
    return s;
  }
  session.set_actions(session.actions() + 1);
  StillLiveOnceLogged(call, gateway, session);
  // The demo application has no mail server; the action is recorded and
  // acknowledged.
  response.set_result(absl::StrCat(request.action(), " done for ",
                                   session.customer_id(), " (customer request ",
                                   it->customer_request_ref(), ")"));
  return absl::OkStatus();
}

absl::Status End(AuditedCall& call, const Gateway& gateway,
                 const custos::v1::EndSessionRequest& request,
                 custos::v1::EndSessionResponse& response) {
  if (auto s = ValidateEndSession(request); !s.ok()) return s;
  absl::StatusOr<custos::v1::TakeIdentitySession> session =
      request.session_token().empty()
          ? gateway.sessions->ById(request.session_id(), call.now())
          : gateway.sessions->ByToken(TokenHash(request.session_token()),
                                      call.now());
  if (!session.ok()) return session.status();
  call.entry().set_resource(absl::StrCat("session/", session->session_id()));
  call.AddPersonalValue("note", request.reason());
  // Another account's session stays out of the entry, which is filed under
  // the caller's own account (as for grants, EndOrRevoke).
  if (call.caller().is_customer() &&
      call.caller().customer_id != session->customer_id()) {
    return absl::PermissionDeniedError(
        "session_id: not a session on your account");
  }
  RecordSession(*session, call.entry());
  std::string by;
  custos::v1::SessionState state = custos::v1::SESSION_ENDED;
  if (call.caller().is_front_end()) {
    // Only the session token opens a session for custos-web: it is the
    // engineer ending their own session.
    if (request.session_token().empty()) {
      return absl::PermissionDeniedError(
          "session_token: custos-web ends a session only by its token");
    }
    // Ending is never held back (by the request rate, a revoked
    // certificate, an engineer gone from the directory): it only takes
    // access away.
    (void)ActForSessionStaff(call, gateway, *session);
    by = absl::StrCat("staff:", session->staff_id());
  } else if (call.caller().is_customer()) {
    by = absl::StrCat("customer:", call.caller().customer_id);
    state = custos::v1::SESSION_REVOKED;
  } else if (!call.caller().authenticated()) {
    return call.caller().StaffStatus();
  } else if (call.caller().staff->staff_id() == session->staff_id()) {
    by = absl::StrCat("staff:", session->staff_id());
  } else if (IsDpo(*call.caller().staff)) {
    by = absl::StrCat("dpo:", call.caller().staff->staff_id());
    state = custos::v1::SESSION_REVOKED;
  } else {
    return absl::PermissionDeniedError(
        "only the engineer, the DPO or the customer ends a session");
  }
  // The session's uses are refused from here on, not only once the end is
  // stored, or a page served in between would follow the end in the log;
  // the step drops the mark when done. Another end under way is refused
  // here, and one applied before the mark shows in the state read again
  // under it: so no end goes past this point that would find the session
  // ended already once logged, with its grant's end applied.
  auto marked = gateway.sessions->MarkEnding(session->session_id());
  if (!marked.ok()) return marked.status();
  std::shared_ptr<const void> ending = *std::move(marked);
  session = gateway.sessions->ById(session->session_id(), call.now());
  if (!session.ok()) return session.status();
  const bool open = session->state() == custos::v1::SESSION_LIVE ||
                    session->state() == custos::v1::SESSION_LINK_ISSUED;
  if (!open) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session ", session->session_id(), " is ",
        custos::v1::SessionState_Name(session->state()), " already"));
  }
  // The grant goes with the session when issued for it alone, or when the
  // DPO or customer revokes: a new session under the engineer's own grant
  // would undo the revocation (DESIGN.md, rules 6 and 7).
  const bool revoked = state == custos::v1::SESSION_REVOKED;
  const bool end_grant = revoked || session->grant_issued_for_session();
  // So is its grant, as RevokeGrant does; one no longer active (or being
  // ended) has nothing left to take away.
  std::shared_ptr<GrantStore::PendingEnd> grant_ending;
  if (end_grant) {
    auto pending = gateway.grants->StartEnd(
        session->grant_id(),
        revoked ? custos::v1::GRANT_REVOKED : custos::v1::GRANT_ENDED,
        call.now());
    if (pending.ok()) {
      grant_ending = *std::move(pending);
    } else if (pending.status().code() !=
               absl::StatusCode::kFailedPrecondition) {
      return pending.status();
    }
  }
  // Ends once its entry is durable (nothing is served while the log cannot
  // be written anyway); of two ends racing, the store lets one win. The
  // grant ends first: if the session's end then fails, the session serves
  // nothing without its grant, and ending it again still works.
  call.AfterLogged(
      [sessions = gateway.sessions, grants = gateway.grants,
       ending = std::move(ending), grant_ending = std::move(grant_ending),
       id = session->session_id(), grant_id = session->grant_id(), end_grant,
       grant_state =
           revoked ? custos::v1::GRANT_REVOKED : custos::v1::GRANT_ENDED,
       state, by, now = call.now(), response = &response] {
        if (end_grant) {
          auto grant = grants->End(grant_id, grant_state, by, now);
          // A grant no longer active (ended, revoked, expired) has nothing left
          // to take away.
          if (!grant.ok() &&
              grant.status().code() != absl::StatusCode::kFailedPrecondition) {
            return grant.status();
          }
        }
        auto ended = sessions->End(id, state, by, now);
        if (!ended.ok()) return ended.status();
        *response->mutable_session() = *std::move(ended);
        return absl::OkStatus();
      });
  return absl::OkStatus();
}

absl::Status ListAll(AuditedCall& call, const Gateway& gateway,
                     const custos::v1::ListSessionsRequest& request,
                     custos::v1::ListSessionsResponse& response) {
  if (auto s = ValidateListSessions(request); !s.ok()) return s;
  std::string customer_id = request.customer_id();
  std::string staff_id = request.staff_id();
  if (call.caller().is_customer()) {
    if (!customer_id.empty() && customer_id != call.caller().customer_id) {
      return absl::PermissionDeniedError(
          "customer_id: a customer sees their own sessions only");
    }
    customer_id = call.caller().customer_id;
  } else if (!call.caller().authenticated()) {
    return call.caller().StaffStatus();
  } else if (!IsDpo(*call.caller().staff)) {
    const std::string& self = call.caller().staff->staff_id();
    if (!staff_id.empty() && staff_id != self) {
      return absl::PermissionDeniedError(
          "staff_id: only the DPO may list another staff member's sessions");
    }
    staff_id = self;
  }
  call.entry().set_customer_id(customer_id);
  call.entry().set_resource("sessions");
  auto sessions = gateway.sessions->List(
      staff_id, customer_id, request.live_only(), call.now(),
      PageSizeOrDefault(request.page_size()), request.page_token());
  if (!sessions.ok()) return sessions.status();
  for (auto& s : sessions->items) *response.add_sessions() = std::move(s);
  response.set_next_page_token(sessions->next_page_token);
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* TakeIdentityService::StartSession(
    grpc::CallbackServerContext* context,
    const custos::v1::StartSessionRequest* request,
    custos::v1::StartSessionResponse* response) {
  return Serve(gateway_, context, "TakeIdentity.StartSession", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::Start(call, *gateway_, *request,
                                               *response);
               });
}

grpc::ServerUnaryReactor* TakeIdentityService::ExchangeLink(
    grpc::CallbackServerContext* context,
    const custos::v1::ExchangeLinkRequest* request,
    custos::v1::ExchangeLinkResponse* response) {
  return Serve(gateway_, context, "TakeIdentity.ExchangeLink", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::Exchange(call, *gateway_, *request,
                                                  *response);
               });
}

grpc::ServerUnaryReactor* TakeIdentityService::ViewPage(
    grpc::CallbackServerContext* context,
    const custos::v1::ViewPageRequest* request,
    custos::v1::ViewPageResponse* response) {
  return Serve(gateway_, context, "TakeIdentity.ViewPage", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::View(call, *gateway_, *request,
                                              *response);
               });
}

grpc::ServerUnaryReactor* TakeIdentityService::PerformAction(
    grpc::CallbackServerContext* context,
    const custos::v1::PerformActionRequest* request,
    custos::v1::PerformActionResponse* response) {
  return Serve(gateway_, context, "TakeIdentity.PerformAction", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::Perform(call, *gateway_, *request,
                                                 *response);
               });
}

grpc::ServerUnaryReactor* TakeIdentityService::EndSession(
    grpc::CallbackServerContext* context,
    const custos::v1::EndSessionRequest* request,
    custos::v1::EndSessionResponse* response) {
  return Serve(gateway_, context, "TakeIdentity.EndSession", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::End(call, *gateway_, *request,
                                             *response);
               });
}

grpc::ServerUnaryReactor* TakeIdentityService::ListSessions(
    grpc::CallbackServerContext* context,
    const custos::v1::ListSessionsRequest* request,
    custos::v1::ListSessionsResponse* response) {
  return Serve(gateway_, context, "TakeIdentity.ListSessions", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::ListAll(call, *gateway_, *request,
                                                 *response);
               });
}

}  // namespace custos::gateway
