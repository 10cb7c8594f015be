#include "gateway/audited_call.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "gateway/event_log.h"
#include "gateway/grpc_status.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

void SetStaffActor(const custos::v1::StaffMember& staff,
                   custos::v1::Actor& actor) {
  actor.set_kind(custos::v1::ACTOR_STAFF);
  actor.set_id(staff.staff_id());
  *actor.mutable_roles() = staff.roles();
  actor.set_contract(staff.contract());
  actor.set_partner_organisation(staff.partner_organisation());
}

using Steps = std::vector<std::function<void(AuditedCall::StepDone)>>;

// Runs steps[next] and those after it one after the other, each once the one
// before has told its outcome, and then tells `finished` the first failure
// or OK.
void RunSteps(std::shared_ptr<const Steps> steps, size_t next,
              AuditedCall::StepDone finished) {
  if (next == steps->size()) {
    finished(absl::OkStatus());
    return;
  }
  // Held until the step returns: an async step may finish, and drop every
  // other reference to the steps, before it does.
  const std::shared_ptr<const Steps> running = steps;
  const auto& step = (*running)[next];
  step([steps = std::move(steps), next,
        finished = std::move(finished)](absl::Status outcome) mutable {
    if (!outcome.ok()) {
      finished(std::move(outcome));
      return;
    }
    RunSteps(std::move(steps), next + 1, std::move(finished));
  });
}

// The entry recording that `logged`, the entry of an allowed call, was not
// applied: what it allowed could not be stored after it (`why`: a race
// lost, a store that could not be written). Names the same actor, customer
// and grant or session, so listings by either find both.
custos::v1::LogEntry NotAppliedEntry(const custos::v1::LogEntry& logged,
                                     absl::Time now, const absl::Status& why) {
  custos::v1::LogEntry entry;
  *entry.mutable_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(now));
  *entry.mutable_actor() = logged.actor();
  entry.set_customer_id(logged.customer_id());
  entry.set_category(logged.category());
  entry.set_reference(logged.reference());
  entry.set_action(std::string(kNotAppliedAction));
  entry.set_resource(absl::StrCat("entry/", logged.index()));
  entry.set_outcome(custos::v1::OUTCOME_NOT_APPLIED);
  entry.set_status_code(static_cast<int32_t>(absl::StatusCode::kUnavailable));
  custos::v1::Reason* reason = entry.add_reasons();
  reason->set_code("NOT_APPLIED");
  reason->set_message(absl::StrCat(logged.action(), " entry #", logged.index(),
                                   " is logged as allowed, but was not "
                                   "applied: ",
                                   why.message()));
  entry.set_grant_id(logged.grant_id());
  entry.set_session_id(logged.session_id());
  entry.set_pending_request_id(logged.pending_request_id());
  entry.set_policy_version(logged.policy_version());
  return entry;
}

}  // namespace

namespace {

// Calls that only take access away: never held back by the request rate,
// so that the DPO, or an engineer, over it can still end access at once.
// (Each is logged all the same, as a refusal over the rate would be.)
bool TakesAccessAway(absl::string_view action) {
  return action == "StaffAccess.EndGrant" ||
         action == "StaffAccess.RevokeGrant" ||
         action == "TakeIdentity.EndSession";
}

}  // namespace

AuditedCall::AuditedCall(const Gateway* gateway,
                         grpc::CallbackServerContext* context,
                         absl::string_view action)
    : gateway_(gateway), context_(context), now_(gateway->clock()) {
  policy_ = gateway_->policies->current();
  caller_ = gateway_->authenticator->Authenticate(*context_, now_);
  caller_.placement = policy_->networks().Place(caller_.source_address);
  *entry_.mutable_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(now_));
  entry_.set_action(std::string(action));
  entry_.set_policy_version(policy_->version());
  custos::v1::Actor* actor = entry_.mutable_actor();
  actor->set_country(caller_.placement.country);
  actor->set_network(caller_.placement.label);
  if (caller_.authenticated() && !TakesAccessAway(action)) {
    caller_.status = AdmitStaff(*caller_.staff);
  }
  actor->set_via(caller_.via);
  if (caller_.staff != nullptr) {
    SetStaffActor(*caller_.staff, *actor);
  } else if (caller_.is_customer()) {
    actor->set_kind(custos::v1::ACTOR_CUSTOMER);
    actor->set_id(caller_.customer_id);
    entry_.set_customer_id(caller_.customer_id);
  } else {
    actor->set_kind(custos::v1::ACTOR_UNKNOWN_CALLER);
    actor->set_id(caller_.claimed_id);
  }
  // Addresses and names are personal data: the entry only commits to them.
  AddPersonalValue("source_ip", caller_.source_address);
  AddPersonalValue("certificate_subject", caller_.refused_certificate_subject);
  if (caller_.staff != nullptr) {
    AddPersonalValue("actor_name", caller_.staff->display_name());
  }
}

absl::Status AuditedCall::AdmitStaff(
    const custos::v1::StaffMember& staff) const {
  if (gateway_->rate_limiter == nullptr ||
      gateway_->rate_limiter->Allow(staff.staff_id(), now_)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(
      absl::StrCat(staff.staff_id(), " is over the limit of ",
                   gateway_->rate_limiter->per_second(),
                   " requests a second; try again shortly"));
}

absl::Status AuditedCall::ActFor(const custos::v1::StaffMember& staff) {
  SetStaffActor(staff, *entry_.mutable_actor());
  // The subject of personal values recorded so far (the source address)
  // becomes the engineer, so an erasure of their values finds it.
  for (auto& value : personal_) value.subject = staff.staff_id();
  AddPersonalValue("actor_name", staff.display_name());
  return AdmitStaff(staff);
}

void AuditedCall::AddPersonalValue(absl::string_view field,
                                   absl::string_view value) {
  if (value.empty()) return;
  // A caller with no identity (an unknown certificate's claimed name,
  // custos-web before it names the engineer) is known by its address,
  // which is what an erasure of its values names (README).
  const custos::v1::Actor& actor = entry_.actor();
  const bool identified =
      !actor.id().empty() && (actor.kind() == custos::v1::ACTOR_STAFF ||
                              actor.kind() == custos::v1::ACTOR_CUSTOMER);
  personal_.push_back({std::string(field), std::string(value),
                       identified ? actor.id() : caller_.source_address});
}

void AuditedCall::AfterLogged(std::function<absl::Status()> step) {
  after_logged_.push_back(
      [step = std::move(step)](StepDone done) { done(step()); });
}

void AuditedCall::AfterLoggedAsync(std::function<void(StepDone)> step) {
  after_logged_.push_back(std::move(step));
}

void AuditedCall::KeepUntilLogged(std::shared_ptr<const void> held) {
  // A step that does nothing: the steps live until the append and the
  // steps before it are done, and are dropped unrun when it fails.
  after_logged_.push_back(
      [held = std::move(held)](StepDone done) { done(absl::OkStatus()); });
}

void AuditedCall::Append(absl::Status answer, Logged logged) {
  entry_.set_status_code(static_cast<int32_t>(answer.code()));
  if (entry_.outcome() == custos::v1::OUTCOME_UNSPECIFIED) {
    entry_.set_outcome(answer.ok() ? custos::v1::OUTCOME_ALLOWED
                                   : custos::v1::OUTCOME_REFUSED);
  }
  if (!answer.ok() && entry_.reasons_size() == 0) {
    custos::v1::Reason* reason = entry_.add_reasons();
    reason->set_code(absl::StatusCodeToString(answer.code()));
    // An answer may quote what a peer sent outside its request message (a
    // certificate's names), which gRPC has not checked for UTF-8.
    reason->set_message(ToValidUtf8(answer.message()));
  }
  const Gateway* gateway = gateway_;
  GatewayMetrics* metrics = gateway_->metrics;
  const absl::Time queued = absl::Now();
  const std::string action = entry_.action();
  const std::string category = entry_.category();
  if (metrics != nullptr) {
    // Counted by the answer the caller gets: a step that fails after the
    // entry was written turns an OK into UNAVAILABLE.
    logged = [metrics, action, category, logged = std::move(logged)](
                 const absl::Status& final_answer,
                 std::optional<uint64_t> index) {
      metrics->CountRequest(
          action, absl::StatusCodeToString(final_answer.code()), category);
      logged(final_answer, index);
    };
  }
  gateway_->log->AppendAsync(
      std::move(entry_), std::move(personal_),
      [gateway, metrics, queued, action, category, answer = std::move(answer),
       logged = std::move(logged),
       // Most calls have no steps: they share no vector.
       after_logged = after_logged_.empty() ? nullptr
                                            : std::make_shared<const Steps>(
                                                  std::move(after_logged_))](
          absl::StatusOr<custos::v1::LogEntry> entry) mutable {
        if (metrics != nullptr) metrics->ObserveAppend(absl::Now() - queued);
        if (!entry.ok()) {
          // What the steps hold (an end's mark on a grant) is let go before
          // the caller hears, who may try again at once.
          after_logged.reset();
          LogEvent("error", "log_unwritable",
                   absl::StrCat("refused ", action,
                                ": the audit log cannot be written: ",
                                entry.status().message()));
          logged(absl::UnavailableError(absl::StrCat(
                     "the audit log cannot be written, so nothing was served: ",
                     entry.status().message())),
                 std::nullopt);
          return;
        }
        const uint64_t index = entry->index();
        if (!answer.ok() || after_logged == nullptr) {
          after_logged.reset();
          logged(answer, index);
          return;
        }
        // Kept for a step's failure, which a second entry records.
        auto logged_entry =
            std::make_shared<const custos::v1::LogEntry>(*std::move(entry));
        RunSteps(after_logged, 0,
                 [gateway, logged_entry, answer, logged](absl::Status stored) {
                   if (stored.ok()) {
                     logged(answer, logged_entry->index());
                     return;
                   }
                   RecordNotApplied(*gateway, *logged_entry, stored, logged);
                 });
      });
}

void AuditedCall::RecordNotApplied(const Gateway& gateway,
                                   const custos::v1::LogEntry& logged_entry,
                                   const absl::Status& why,
                                   const Logged& logged) {
  const uint64_t index = logged_entry.index();
  LogEvent("error", "state_unwritable",
           absl::StrCat("entry #", index, " (", logged_entry.action(),
                        ") is logged but not served: ", why.message()));
  // The caller is answered once the second entry is durable, or could not
  // be written (often so when the first store failed for a full disk): the
  // first entry then still says allowed, and the caller's answer says it
  // was not served.
  GatewayMetrics* metrics = gateway.metrics;
  const absl::Time queued = absl::Now();
  gateway.log->AppendAsync(
      NotAppliedEntry(logged_entry, gateway.clock(), why), {},
      [index, why, logged, metrics,
       queued](absl::StatusOr<custos::v1::LogEntry> recorded) {
        if (metrics != nullptr) metrics->ObserveAppend(absl::Now() - queued);
        logged(absl::UnavailableError(absl::StrCat(
                   "logged as entry #", index,
                   ", but nothing was served: ", why.message(),
                   recorded.ok() ? absl::StrCat(" (entry #", recorded->index(),
                                                " records that)")
                                 : std::string())),
               index);
      });
}

grpc::ServerUnaryReactor* AuditedCall::Finish(
    absl::Status answer, std::function<void(uint64_t)> on_logged) {
  grpc::ServerUnaryReactor* reactor = context_->DefaultReactor();
  grpc::CallbackServerContext* context = context_;
  Append(std::move(answer),
         [reactor, context, on_logged = std::move(on_logged)](
             const absl::Status& final_answer, std::optional<uint64_t> index) {
           if (final_answer.ok()) {
             if (on_logged) on_logged(*index);
           } else if (index.has_value()) {
             context->AddTrailingMetadata(kLogIndexMetadata,
                                          absl::StrCat(*index));
           }
           reactor->Finish(ToGrpcStatus(final_answer));
         });
  return reactor;
}

}  // namespace custos::gateway
