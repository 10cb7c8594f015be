#include "clients/report/report.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "policy/decide.h"

namespace custos::report {
namespace {

using custos::v1::LogEntry;

constexpr absl::string_view kDataActions[] = {
    "StaffAccess.RequestAccess", "StaffAccess.ReadCustomerData",
    "TakeIdentity.StartSession", "TakeIdentity.ExchangeLink",
    "TakeIdentity.ViewPage",     "TakeIdentity.PerformAction",
};

// The gRPC code's name (gRPC and absl share the codes), for refusals the
// policy gave no reason for: validation, authentication, unavailability.
std::string StatusCodeName(int code) {
  const std::string name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat("CODE_", code) : name;
}

const char* ActorKindWord(custos::v1::ActorKind kind) {
  switch (kind) {
    case custos::v1::ACTOR_STAFF:
      return "staff";
    case custos::v1::ACTOR_CUSTOMER:
      return "customer";
    case custos::v1::ACTOR_SYSTEM:
      return "custosd";
    default:
      return "unknown caller";
  }
}

// Who a refusal is filed under for REPEATED_REFUSALS.
std::string CallerLabel(custos::v1::ActorKind kind, absl::string_view id) {
  return absl::StrCat(ActorKindWord(kind), " ", id.empty() ? "(unnamed)" : id);
}

// An approver's decision on a pending request. Answered other than OK, the
// call was the approver's own attempt, refused like any other.
bool IsDecision(const LogEntry& entry) {
  return entry.action() == "Approvals.DecidePendingRequest" &&
         entry.status_code() == 0;
}

std::string CategoryLabel(const LogEntry& entry) {
  return entry.category().empty() ? "(none)" : entry.category();
}

std::string RoleLabel(const custos::v1::Actor& actor) {
  return actor.roles().empty() ? "(none)" : actor.roles(0);
}

absl::Time EntryTime(const LogEntry& entry) {
  return absl::FromUnixSeconds(entry.time().seconds()) +
         absl::Nanoseconds(entry.time().nanos());
}

bool HasReason(const LogEntry& entry, absl::string_view code) {
  for (const auto& r : entry.reasons()) {
    if (r.code() == code) return true;
  }
  return false;
}

std::vector<Count> SortedCounts(
    const absl::flat_hash_map<std::string, uint64_t>& counts) {
  std::vector<Count> out;
  out.reserve(counts.size());
  for (const auto& [label, value] : counts) out.push_back({label, value});
  std::sort(out.begin(), out.end(), [](const Count& a, const Count& b) {
    return a.value != b.value ? a.value > b.value : a.label < b.label;
  });
  return out;
}

// Times and indices of one actor's events of one kind, in log order.
using Events = std::vector<std::pair<absl::Time, uint64_t>>;

// The events that lie in some window of length `window` holding more than
// `limit` events (so `limit` = repeat threshold - 1, or the policy's
// maximum).
std::vector<uint64_t> EventsInCrowdedWindows(Events events,
                                             absl::Duration window,
                                             size_t limit) {
  // Log order is nearly time order; sort so the window slides correctly.
  std::stable_sort(
      events.begin(), events.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<bool> flagged(events.size(), false);
  size_t first = 0;
  for (size_t last = 0; last < events.size(); ++last) {
    while (events[last].first - events[first].first >= window) ++first;
    if (last - first + 1 > limit) {
      for (size_t i = first; i <= last; ++i) flagged[i] = true;
    }
  }
  std::vector<uint64_t> out;
  for (size_t i = 0; i < events.size(); ++i) {
    if (flagged[i]) out.push_back(events[i].second);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string FormatMinutes(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Minutes(d), " min");
}

}  // namespace

bool IsDataAccess(const LogEntry& entry) {
  if (entry.actor().kind() != custos::v1::ACTOR_STAFF ||
      entry.customer_id().empty()) {
    return false;
  }
  return std::find(std::begin(kDataActions), std::end(kDataActions),
                   entry.action()) != std::end(kDataActions);
}

const char* FindingTitle(absl::string_view code) {
  if (code == kOutsideWorkingHours) return "Access outside working hours";
  if (code == kRepeatedRefusals) return "Refused attempts that repeat";
  if (code == kSessionNearLimit)
    return "Take-identity sessions near their limit";
  if (code == kSessionPastLimit)
    return "Take-identity sessions past their limit";
  if (code == kReadsOverNorm)
    return "Grants whose reads far exceed their category's norm";
  if (code == kRandomChecksOverRate)
    return "Random checks above the policy's rate";
  if (code == kContractEnded) return "Access by staff whose contract has ended";
  if (code == kReferenceNotValid)
    return "Accesses whose reference was not open or not the customer's";
  if (code == kLoggedNotApplied) return "Calls logged but not applied";
  return "Finding";
}

struct GrantReads {
  std::string staff_id;
  std::string customer_id;
  std::string category;
  uint64_t records = 0;
  std::vector<uint64_t> entries;
};

struct ReportBuilder::State {
  ReportOptions options;
  const policy::Policy& policy;
  absl::flat_hash_map<std::string, const custos::v1::StaffMember*> staff;
  Report report;

  absl::flat_hash_set<std::string> categories;
  absl::flat_hash_map<std::string, uint64_t> by_role;
  absl::flat_hash_map<std::string, uint64_t> by_staff;
  absl::flat_hash_map<std::string, uint64_t> refused_by_reason;
  std::map<int, KindRow> kinds;

  absl::flat_hash_map<std::string, std::vector<uint64_t>> outside_hours;
  absl::flat_hash_map<std::string, Events> refusals;
  absl::flat_hash_map<std::string, Events> random_checks;
  absl::flat_hash_map<std::string, GrantReads> grants;
  // Accesses allowed after the contract ended, and attempts refused for it.
  absl::flat_hash_map<std::string, std::pair<std::vector<uint64_t>, uint64_t>>
      contract_ended;
  absl::flat_hash_map<std::string, std::vector<uint64_t>> bad_references;
  // The staff member who made each pending request (by its id), whatever
  // the period: the approvers' decisions on it are about their request.
  struct Requester {
    std::string staff_id;
    std::string role;
  };
  absl::flat_hash_map<std::string, Requester> requesters;
  // Entries recording that an earlier entry was not applied, in log order.
  std::vector<LogEntry> not_applied;
  // The latest reads counted, by entry, so that a read logged but not
  // served (its Custos.NotApplied entry follows within the writes then in
  // flight) can be taken out of the record counts again.
  struct CountedRead {
    int kind;
    std::string grant_id;
    uint64_t records;
  };
  absl::flat_hash_map<uint64_t, CountedRead> recent_reads;
  std::deque<uint64_t> recent_read_order;
  static constexpr size_t kRecentReads = 1 << 16;
  void UncountRead(uint64_t index);

  // A session as the log shows it so far. Its ends are kept in log order
  // until Finish: an end logged but not applied (a Custos.NotApplied entry
  // follows) left the session going, and the first end applied ended it.
  struct SessionEnd {
    uint64_t index;
    absl::Time time;
    std::string how;
  };
  struct SessionTrack {
    SessionRow row;
    // The latest allowed entry, ends included.
    absl::Time last_seen = absl::InfinitePast();
    std::vector<SessionEnd> ends;
  };
  absl::flat_hash_map<std::string, SessionTrack> sessions;
  // The entries of the period that were logged but not applied.
  absl::flat_hash_set<uint64_t> not_applied_entries;
  const SessionEnd* EndOf(const SessionTrack& s) const;
  // Allowed session activity (views, actions) after this time is past the
  // session's limit; kept per session.
  absl::flat_hash_map<std::string, std::vector<uint64_t>> past_limit;
  absl::flat_hash_map<std::string, std::vector<std::string>> sessions_by_grant;

  // What allowed each grant and each pending request, for accesses from
  // abroad: approvals seen, the pending request a grant came from, and the
  // decision's reasons.
  absl::flat_hash_map<std::string, std::vector<std::string>> approvals;
  absl::flat_hash_map<std::string, std::string> grant_pending;
  absl::flat_hash_map<std::string, std::vector<std::string>> grant_reasons;
  // Abroad rows waiting for Finish to attach approvals: row → grant/pending.
  std::vector<std::pair<std::string, std::string>> abroad_links;

  State(ReportOptions o, const policy::Policy& p)
      : options(std::move(o)), policy(p) {}

  void Add(const LogEntry& entry);
  void AddDecision(const LogEntry& entry, absl::Time time);
  void CountAccess(const LogEntry& entry, absl::Time time,
                   const std::string& staff_id, const std::string& role);
  void CountRefused(const LogEntry& entry, absl::string_view without_reasons);
  void NoteReasonsOfStaff(const LogEntry& entry, const std::string& staff_id,
                          custos::v1::ActorKind kind);
  void AddSessionEvent(const LogEntry& entry, absl::Time time);
  void NoteApprovalsAndGrants(const LogEntry& entry, absl::Time time);
  bool OutsideWorkingHours(absl::Time time) const;
  void Finish();
  void FinishSessions();
  void FinishGrants();
};

ReportBuilder::ReportBuilder(ReportOptions options,
                             const policy::Policy& policy,
                             const custos::v1::Directory& directory)
    : state_(std::make_unique<State>(std::move(options), policy)) {
  for (const auto& s : directory.staff()) state_->staff[s.staff_id()] = &s;
  state_->report.options = state_->options;
  state_->report.policy_version = policy.version();
}

ReportBuilder::~ReportBuilder() = default;

void ReportBuilder::Add(const LogEntry& entry) { state_->Add(entry); }

Report ReportBuilder::Finish() {
  state_->Finish();
  return std::move(state_->report);
}

bool ReportBuilder::State::OutsideWorkingHours(absl::Time time) const {
  const absl::CivilMinute local = absl::ToCivilMinute(time, options.zone);
  const absl::Weekday day = absl::GetWeekday(absl::CivilDay(local));
  if (day == absl::Weekday::saturday || day == absl::Weekday::sunday)
    return true;
  const int minute = local.hour() * 60 + local.minute();
  return minute < options.work_start_minute ||
         minute >= options.work_end_minute;
}

void ReportBuilder::State::Add(const LogEntry& entry) {
  const absl::Time time = EntryTime(entry);
  // Approvals and grants are remembered whatever the period, so an access
  // inside it can name the approval given just before.
  NoteApprovalsAndGrants(entry, time);
  if (time < options.from || time >= options.to) return;
  if (!options.customer_id.empty() &&
      entry.customer_id() != options.customer_id)
    return;

  Report& r = report;
  if (r.entries_in_period == 0) r.first_index = entry.index();
  r.last_index = entry.index();
  ++r.entries_in_period;
  const std::string& actor = entry.actor().id();

  if (IsDecision(entry)) {
    AddDecision(entry, time);
    return;
  }
  if (entry.outcome() == custos::v1::OUTCOME_REFUSED) {
    CountRefused(entry, StatusCodeName(entry.status_code()));
    refusals[CallerLabel(entry.actor().kind(), actor)].emplace_back(
        time, entry.index());
  } else if (entry.outcome() == custos::v1::OUTCOME_PENDING) {
    ++r.pending;
  } else if (entry.outcome() == custos::v1::OUTCOME_NOT_APPLIED) {
    not_applied.push_back(entry);
    uint64_t logged;
    if (absl::SimpleAtoi(absl::StripPrefix(entry.resource(), "entry/"),
                         &logged)) {
      UncountRead(logged);
      not_applied_entries.insert(logged);
    }
  }
  NoteReasonsOfStaff(entry, actor, entry.actor().kind());

  if (!entry.session_id().empty() ||
      entry.action() == "StaffAccess.RevokeGrant" ||
      entry.action() == "StaffAccess.EndGrant") {
    AddSessionEvent(entry, time);
  }

  if (!IsDataAccess(entry)) return;
  const std::string& country = entry.actor().country();
  if (country != policy.file().home_country()) {
    AbroadRow row;
    row.index = entry.index();
    row.time = time;
    row.staff_id = actor;
    row.country = country.empty() ? "unplaced" : country;
    row.network = entry.actor().network();
    row.customer_id = entry.customer_id();
    row.category = entry.category();
    row.reference = entry.reference();
    row.action = entry.action();
    row.outcome = entry.outcome();
    for (const auto& reason : entry.reasons()) {
      row.approvals.push_back(
          absl::StrCat(reason.code(), ": ", reason.message()));
    }
    r.abroad.push_back(std::move(row));
    abroad_links.emplace_back(entry.grant_id(), entry.pending_request_id());
  }
  if (entry.outcome() != custos::v1::OUTCOME_ALLOWED) return;

  CountAccess(entry, time, actor, RoleLabel(entry.actor()));
  if (OutsideWorkingHours(time)) outside_hours[actor].push_back(entry.index());

  if (entry.action() == "StaffAccess.ReadCustomerData") {
    KindRow& kind = kinds[entry.data_kind()];
    kind.kind = entry.data_kind();
    ++kind.reads;
    kind.records += entry.record_count();
    if (!entry.grant_id().empty()) {
      GrantReads& g = grants[entry.grant_id()];
      g.staff_id = actor;
      g.customer_id = entry.customer_id();
      g.category = CategoryLabel(entry);
      g.records += entry.record_count();
      g.entries.push_back(entry.index());
    }
    recent_reads[entry.index()] = {entry.data_kind(), entry.grant_id(),
                                   entry.record_count()};
    recent_read_order.push_back(entry.index());
    if (recent_read_order.size() > kRecentReads) {
      recent_reads.erase(recent_read_order.front());
      recent_read_order.pop_front();
    }
  }
}

// An approver's decision answered OK is no attempt of the approver's: it
// decides a staff member's request, so what it grants or refuses is the
// staff member's who asked.
void ReportBuilder::State::AddDecision(const LogEntry& entry, absl::Time time) {
  // Every pending request's entry comes before its decisions, and the log is
  // read whole.
  const auto found = requesters.find(entry.pending_request_id());
  const Requester* requester =
      found == requesters.end() ? nullptr : &found->second;
  switch (entry.outcome()) {
    case custos::v1::OUTCOME_ALLOWED:
      // The grant the last approval issues counts as the access a request
      // allowed at once would, and a random check it draws is a draw of the
      // staff member's. Not outside working hours: the approver chose the
      // time; and not again from abroad: the request's own entry is that.
      if (requester != nullptr && !entry.grant_id().empty()) {
        CountAccess(entry, time, requester->staff_id, requester->role);
      }
      return;
    case custos::v1::OUTCOME_REFUSED:
      // Without reasons it is the approver's no; with them, the decision
      // taken again once every approval was in refused.
      CountRefused(entry, entry.actor().kind() == custos::v1::ACTOR_CUSTOMER
                              ? kRefusedByCustomer
                              : kRefusedByDpo);
      if (requester == nullptr) return;
      refusals[CallerLabel(custos::v1::ACTOR_STAFF, requester->staff_id)]
          .emplace_back(time, entry.index());
      NoteReasonsOfStaff(entry, requester->staff_id, custos::v1::ACTOR_STAFF);
      return;
    default:
      // One approval of several leaves the request waiting: it was counted
      // as pending when it was made.
      return;
  }
}

// An allowed access of `staff_id` in `role`, in the charts and in the
// findings about draws and contracts.
void ReportBuilder::State::CountAccess(const LogEntry& entry, absl::Time time,
                                       const std::string& staff_id,
                                       const std::string& role) {
  ++report.accesses;
  const std::string category = CategoryLabel(entry);
  categories.insert(category);
  const absl::CivilDay day = absl::ToCivilDay(time, options.zone);
  const absl::CivilDay monday =
      absl::PrevWeekday(day + 1, absl::Weekday::monday);
  ++report.weekly[monday][category];
  ++by_role[role];
  ++by_staff[staff_id];
  if (HasReason(entry, policy::reason::kRandomCheckDrawn)) {
    random_checks[staff_id].emplace_back(time, entry.index());
  }
  auto staff_it = staff.find(staff_id);
  absl::CivilDay contract_end;
  if (staff_it == staff.end() ||
      (!staff_it->second->contract_end().empty() &&
       absl::ParseCivilTime(staff_it->second->contract_end(), &contract_end) &&
       day > contract_end)) {
    contract_ended[staff_id].first.push_back(entry.index());
  }
}

void ReportBuilder::State::CountRefused(const LogEntry& entry,
                                        absl::string_view without_reasons) {
  ++report.refused;
  if (entry.reasons().empty()) ++refused_by_reason[without_reasons];
  for (const auto& reason : entry.reasons()) ++refused_by_reason[reason.code()];
}

// Refusals for a reference or a contract name the staff member whatever the
// action was.
void ReportBuilder::State::NoteReasonsOfStaff(const LogEntry& entry,
                                              const std::string& staff_id,
                                              custos::v1::ActorKind kind) {
  if (HasReason(entry, policy::reason::kReferenceClosed) ||
      HasReason(entry, policy::reason::kReferenceOtherCustomer) ||
      HasReason(entry, policy::reason::kReferenceNotFound) ||
      HasReason(entry, policy::reason::kReferenceWrongKind)) {
    bad_references[staff_id].push_back(entry.index());
  }
  if (kind == custos::v1::ACTOR_STAFF &&
      (HasReason(entry, policy::reason::kContractNotCurrent) ||
       HasReason(entry, policy::reason::kStaffInactive))) {
    auto& [entries, attempts] = contract_ended[staff_id];
    ++attempts;
    entries.push_back(entry.index());
  }
}

// The read logged as entry `index` served nothing: its records leave the
// counts by kind and by grant (the access itself stays counted: it was
// allowed).
void ReportBuilder::State::UncountRead(uint64_t index) {
  const auto it = recent_reads.find(index);
  if (it == recent_reads.end()) return;
  const CountedRead& read = it->second;
  KindRow& kind = kinds[read.kind];
  --kind.reads;
  kind.records -= read.records;
  if (!read.grant_id.empty()) {
    GrantReads& g = grants[read.grant_id];
    g.records -= read.records;
    g.entries.erase(std::remove(g.entries.begin(), g.entries.end(), index),
                    g.entries.end());
  }
  recent_reads.erase(it);
}

void ReportBuilder::State::NoteApprovalsAndGrants(const LogEntry& entry,
                                                  absl::Time time) {
  if (entry.action() == "StaffAccess.RequestAccess" &&
      entry.outcome() == custos::v1::OUTCOME_PENDING &&
      !entry.pending_request_id().empty()) {
    requesters[entry.pending_request_id()] = {entry.actor().id(),
                                              RoleLabel(entry.actor())};
  }
  if (IsDecision(entry) && !entry.pending_request_id().empty()) {
    const bool customer = entry.actor().kind() == custos::v1::ACTOR_CUSTOMER;
    // Refused with reasons, the approver approved, and the decision taken
    // again on every approval refused.
    const bool refused_by_approver =
        entry.outcome() == custos::v1::OUTCOME_REFUSED &&
        entry.reasons().empty();
    std::string decision =
        absl::StrCat(customer ? "customer " : "DPO ", entry.actor().id(),
                     refused_by_approver ? " refused" : " approved", " at ",
                     absl::FormatTime("%Y-%m-%d %H:%M", time, options.zone),
                     " (entry ", entry.index(), ")");
    if (entry.outcome() == custos::v1::OUTCOME_REFUSED &&
        !refused_by_approver) {
      std::vector<std::string> codes;
      for (const auto& reason : entry.reasons()) codes.push_back(reason.code());
      absl::StrAppend(
          &decision, "; the policy then refused: ", absl::StrJoin(codes, ", "));
    }
    approvals[entry.pending_request_id()].push_back(std::move(decision));
  }
  if (!entry.grant_id().empty() &&
      entry.outcome() == custos::v1::OUTCOME_ALLOWED &&
      (entry.action() == "StaffAccess.RequestAccess" ||
       entry.action() == "Approvals.DecidePendingRequest")) {
    if (!entry.pending_request_id().empty()) {
      grant_pending[entry.grant_id()] = entry.pending_request_id();
    }
    auto& reasons = grant_reasons[entry.grant_id()];
    for (const auto& reason : entry.reasons()) {
      if (reason.code() == policy::reason::kAbroadApproved) {
        reasons.push_back(absl::StrCat(reason.code(), ": ", reason.message()));
      }
    }
  }
}

void ReportBuilder::State::AddSessionEvent(const LogEntry& entry,
                                           absl::Time time) {
  const bool allowed = entry.outcome() == custos::v1::OUTCOME_ALLOWED;
  if (entry.session_id().empty()) {
    // A grant ended or revoked ends the sessions on it.
    if (!allowed) return;
    auto it = sessions_by_grant.find(entry.grant_id());
    if (it == sessions_by_grant.end()) return;
    for (const std::string& id : it->second) {
      SessionTrack& s = sessions[id];
      // Kept as an end even of a session that seems ended: that end may
      // turn out not applied.
      if (EndOf(s) == nullptr) s.row.entries.push_back(entry.index());
      s.last_seen = std::max(s.last_seen, time);
      s.ends.push_back({entry.index(), time,
                        absl::StrCat(entry.action() == "StaffAccess.RevokeGrant"
                                         ? "grant revoked by "
                                         : "grant ended by ",
                                     entry.actor().id())});
    }
    return;
  }
  auto [it, inserted] = sessions.try_emplace(entry.session_id());
  SessionTrack& track = it->second;
  SessionRow& s = track.row;
  if (inserted) {
    s.session_id = entry.session_id();
    s.grant_id = entry.grant_id();
    s.customer_id = entry.customer_id();
    s.category = entry.category();
    s.reference = entry.reference();
    s.start = time;
    if (const auto* rule = policy.FindCategory(s.category)) {
      s.limit = rule->max_duration;
    }
    if (!s.grant_id.empty())
      sessions_by_grant[s.grant_id].push_back(s.session_id);
  }
  if (entry.actor().kind() == custos::v1::ACTOR_STAFF &&
      entry.action() != "TakeIdentity.EndSession" && s.staff_id.empty()) {
    s.staff_id = entry.actor().id();
  }
  s.entries.push_back(entry.index());
  if (!allowed) return;
  track.last_seen = std::max(track.last_seen, time);
  if (entry.action() == "TakeIdentity.ViewPage" ||
      entry.action() == "TakeIdentity.PerformAction") {
    ++(entry.action() == "TakeIdentity.ViewPage" ? s.page_views : s.actions);
    if (s.limit > absl::ZeroDuration() && time > s.start + s.limit) {
      past_limit[s.session_id].push_back(entry.index());
    }
  } else if (entry.action() == "TakeIdentity.EndSession") {
    const bool own = entry.actor().id() == s.staff_id;
    track.ends.push_back(
        {entry.index(), time,
         absl::StrCat(own ? "ended by " : "revoked by ",
                      entry.actor().kind() == custos::v1::ACTOR_CUSTOMER
                          ? "customer "
                          : "",
                      entry.actor().id())});
  }
}

// The first end of `s` that was applied, if any. An end whose Custos.NotApplied
// entry is still to come counts as applied until then.
const ReportBuilder::State::SessionEnd* ReportBuilder::State::EndOf(
    const SessionTrack& s) const {
  for (const SessionEnd& end : s.ends) {
    if (!not_applied_entries.contains(end.index)) return &end;
  }
  return nullptr;
}

void ReportBuilder::State::FinishSessions() {
  for (auto& [id, track] : sessions) {
    SessionRow& s = track.row;
    if (const SessionEnd* end = EndOf(track)) {
      s.end = end->time;
      s.how_ended = end->how;
      // A grant's end reached the session's entries only if no end before
      // it seemed applied then.
      if (std::find(s.entries.begin(), s.entries.end(), end->index) ==
          s.entries.end()) {
        s.entries.insert(
            std::upper_bound(s.entries.begin(), s.entries.end(), end->index),
            end->index);
      }
    } else {
      s.end = track.last_seen;
      s.how_ended = "not ended in the log";
    }
    report.sessions.push_back(s);
  }
  std::sort(report.sessions.begin(), report.sessions.end(),
            [](const SessionRow& a, const SessionRow& b) {
              return a.start != b.start ? a.start < b.start
                                        : a.session_id < b.session_id;
            });
  for (const SessionRow& s : report.sessions) {
    if (s.limit <= absl::ZeroDuration()) continue;
    auto past = past_limit.find(s.session_id);
    if (past != past_limit.end()) {
      report.findings.push_back(
          {kSessionPastLimit,
           absl::StrCat(s.staff_id, " as ", s.customer_id, " (", s.category,
                        " ", s.reference, "): ", past->second.size(),
                        " page views or actions after the ",
                        FormatMinutes(s.limit), " limit"),
           s.entries});
    } else if (s.length() >= s.limit * options.session_near_limit) {
      report.findings.push_back(
          {kSessionNearLimit,
           absl::StrCat(s.staff_id, " as ", s.customer_id, " (", s.category,
                        " ", s.reference, "): ", FormatMinutes(s.length()),
                        " of ", FormatMinutes(s.limit), ", ", s.how_ended),
           s.entries});
    }
  }
}

void ReportBuilder::State::FinishGrants() {
  // The norm of a category: the median of records read per grant.
  absl::flat_hash_map<std::string, std::vector<uint64_t>> per_category;
  for (const auto& [id, g] : grants)
    per_category[g.category].push_back(g.records);
  absl::flat_hash_map<std::string, uint64_t> median;
  for (auto& [category, totals] : per_category) {
    std::sort(totals.begin(), totals.end());
    median[category] = totals[(totals.size() - 1) / 2];
  }
  std::vector<std::pair<std::string, const GrantReads*>> over;
  for (const auto& [id, g] : grants) {
    const double norm = static_cast<double>(median[g.category]);
    if (g.records >= options.min_records_over_norm &&
        static_cast<double>(g.records) > options.read_norm_factor * norm) {
      over.emplace_back(id, &g);
    }
  }
  std::sort(over.begin(), over.end());
  for (const auto& [id, g] : over) {
    report.findings.push_back(
        {kReadsOverNorm,
         absl::StrCat(g->staff_id, " read ", g->records, " records of ",
                      g->customer_id, " on grant ", id, " (", g->category,
                      "; the median grant reads ", median[g->category], ")"),
         g->entries});
  }
}

void ReportBuilder::State::Finish() {
  Report& r = report;
  r.categories.assign(categories.begin(), categories.end());
  std::sort(r.categories.begin(), r.categories.end());
  r.by_role = SortedCounts(by_role);
  r.by_staff = SortedCounts(by_staff);
  if (r.by_staff.size() > static_cast<size_t>(options.top_staff)) {
    uint64_t others = 0;
    for (size_t i = options.top_staff; i < r.by_staff.size(); ++i)
      others += r.by_staff[i].value;
    const size_t rest = r.by_staff.size() - options.top_staff;
    r.by_staff.resize(options.top_staff);
    r.by_staff.push_back({absl::StrCat(rest, " others"), others});
  }
  r.refused_by_reason = SortedCounts(refused_by_reason);
  for (const auto& [kind, row] : kinds) r.kinds.push_back(row);

  for (size_t i = 0; i < r.abroad.size(); ++i) {
    const auto& [grant, pending_id] = abroad_links[i];
    std::string pending = pending_id;
    if (pending.empty()) {
      auto it = grant_pending.find(grant);
      if (it != grant_pending.end()) pending = it->second;
    }
    if (auto it = grant_reasons.find(grant); it != grant_reasons.end()) {
      for (const auto& reason : it->second)
        r.abroad[i].approvals.push_back(reason);
    }
    if (auto it = approvals.find(pending); it != approvals.end()) {
      for (const auto& a : it->second) r.abroad[i].approvals.push_back(a);
    }
  }

  // Findings, in a fixed order, each kind sorted by who.
  auto by_key = [](const auto& map) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : map) keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    return keys;
  };
  for (const std::string& staff_id : by_key(outside_hours)) {
    const auto& entries = outside_hours[staff_id];
    r.findings.push_back(
        {kOutsideWorkingHours,
         absl::StrCat(staff_id, ": ", entries.size(),
                      entries.size() == 1 ? " access" : " accesses",
                      " outside working hours"),
         entries});
  }
  for (const std::string& actor : by_key(refusals)) {
    std::vector<uint64_t> entries = EventsInCrowdedWindows(
        refusals[actor], options.repeat_window, options.repeat_refusals - 1);
    if (entries.empty()) continue;
    r.findings.push_back(
        {kRepeatedRefusals,
         absl::StrCat(actor, ": ", entries.size(), " refusals, at least ",
                      options.repeat_refusals, " within ",
                      absl::FormatDuration(options.repeat_window)),
         std::move(entries)});
  }
  FinishSessions();
  FinishGrants();
  const uint32_t max_draws = policy.file().random_checks().max_draws();
  for (const std::string& staff_id : by_key(random_checks)) {
    std::vector<uint64_t> entries = EventsInCrowdedWindows(
        random_checks[staff_id], policy.random_check_window(), max_draws);
    if (entries.empty()) continue;
    r.findings.push_back(
        {kRandomChecksOverRate,
         absl::StrCat(staff_id, ": more than ", max_draws,
                      " random checks within ",
                      absl::FormatDuration(policy.random_check_window())),
         std::move(entries)});
  }
  for (const std::string& staff_id : by_key(contract_ended)) {
    auto& [entries, attempts] = contract_ended[staff_id];
    auto it = staff.find(staff_id);
    const std::string contract =
        it == staff.end()
            ? "not in the staff directory"
            : absl::StrCat("contract ended ", it->second->contract_end().empty()
                                                  ? "(no end date)"
                                                  : it->second->contract_end());
    std::sort(entries.begin(), entries.end());
    r.findings.push_back(
        {kContractEnded,
         absl::StrCat(staff_id, " (", contract,
                      "): ", entries.size() - attempts, " accesses allowed, ",
                      attempts, " attempts refused"),
         entries});
  }
  for (const LogEntry& entry : not_applied) {
    // The entry not applied, named by the resource "entry/<index>".
    std::vector<uint64_t> entries;
    uint64_t logged;
    if (absl::SimpleAtoi(absl::StripPrefix(entry.resource(), "entry/"),
                         &logged)) {
      entries.push_back(logged);
    }
    entries.push_back(entry.index());
    r.findings.push_back(
        {kLoggedNotApplied,
         absl::StrCat(entry.actor().id(), ": ",
                      entry.reasons().empty() ? entry.resource()
                                              : entry.reasons(0).message()),
         std::move(entries)});
  }
  for (const std::string& actor : by_key(bad_references)) {
    const auto& entries = bad_references[actor];
    r.findings.push_back(
        {kReferenceNotValid,
         absl::StrCat(actor, ": ", entries.size(),
                      " requests with a reference that was closed, unknown, "
                      "of another kind or another customer's"),
         entries});
  }
}

}  // namespace custos::report
