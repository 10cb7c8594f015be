// One RPC's trip through the gateway: authenticate the caller, build the log
// entry that records the request, append it durably, and only then answer.
//
// Every handler of every service goes through an AuditedCall, so no answer
// leaves the gateway without its entry in the log; if the entry cannot be
// written the caller gets UNAVAILABLE and nothing else (fail closed).
//
// Not thread-safe; one per RPC, used by the handler's thread until Finish,
// after which the log's writer thread completes the RPC.
#ifndef CUSTOS_GATEWAY_AUDITED_CALL_H_
#define CUSTOS_GATEWAY_AUDITED_CALL_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/auth.h"
#include "gateway/gateway.h"
#include "gateway/validate.h"
#include "proto/custos/v1/audit.pb.h"

namespace custos::gateway {

// The action of the entry that records that an allowed call's entry was
// not applied; its resource is "entry/<index>". See audit/FORMAT.md.
inline constexpr absl::string_view kNotAppliedAction = "Custos.NotApplied";

class AuditedCall {
 public:
  // Authenticates the caller of `context` and starts the entry for
  // `action` ("Service.Method"). Borrows `gateway` and `context`.
  AuditedCall(const Gateway* gateway, grpc::CallbackServerContext* context,
              absl::string_view action);

  const Caller& caller() const { return caller_; }
  // The policy this call decides with, from start to end.
  const policy::Policy& policy() const { return *policy_; }
  absl::Time now() const { return now_; }
  // The entry under construction; handlers add what they know.
  custos::v1::LogEntry& entry() { return entry_; }

  // Records a personal value of the caller's (a free-text note, say): the
  // entry commits to it, and it stays erasable. See audit/FORMAT.md.
  void AddPersonalValue(absl::string_view field, absl::string_view value);

  // Makes `staff` the entry's actor for a call custos-web made on their
  // behalf (a take-identity link or session token names them); the entry
  // keeps `via`, country and network. `staff` must outlive the call. The
  // call counts against the staff member's request rate as a direct call
  // does: RESOURCE_EXHAUSTED when they are over it (the handler refuses).
  absl::Status ActFor(const custos::v1::StaffMember& staff);

  // Runs `step` once the entry is durable, before the caller is answered
  // and only if `answer` is OK: for state that must never exist without its
  // entry, such as a grant (a refused or unanswered call must not leave one
  // that ListGrants would show). If the entry cannot be written the step
  // never runs; if the step fails the caller gets UNAVAILABLE with the
  // entry's index (logged, not served), later steps do not run, and a
  // second entry (kNotAppliedAction) records that the first was not
  // applied. Steps run one after the other in the order added, on the log's
  // threads.
  void AfterLogged(std::function<absl::Status()> step);
  // As AfterLogged, for a step that tells `done` its outcome later, from any
  // thread (a store that groups its writes); the next step, and the answer,
  // follow on that thread.
  using StepDone = std::function<void(absl::Status)>;
  void AfterLoggedAsync(std::function<void(StepDone done)> step);

  // Keeps `held` until the entry's append, and the AfterLogged steps, are
  // done, written or not: for a count of what was decided and is not yet
  // on record (RandomCheckDraws).
  void KeepUntilLogged(std::shared_ptr<const void> held);

  // Appends the entry with `answer`'s code, then finishes the RPC with
  // `answer`; on success `on_logged` first receives the entry's index (to put
  // it in the response). A refusal's message becomes the entry's reason when
  // the handler recorded none. Returns the reactor for the handler to return.
  grpc::ServerUnaryReactor* Finish(
      absl::Status answer, std::function<void(uint64_t)> on_logged = nullptr);

  // What Finish does short of answering, for callers that answer the RPC
  // themselves: appends the entry, runs the AfterLogged steps, then tells
  // `logged`, on the log's thread or the last step's, the answer to give
  // (`answer`, or UNAVAILABLE when the log or a step could not be written) and
  // the entry's index when it was written.
  using Logged = std::function<void(const absl::Status& final_answer,
                                    std::optional<uint64_t> index)>;
  void Append(absl::Status answer, Logged logged);

 private:
  // OK unless `staff` is over their request rate (which this call uses up
  // one of): then RESOURCE_EXHAUSTED saying so.
  absl::Status AdmitStaff(const custos::v1::StaffMember& staff) const;

  // Appends the entry saying that `logged_entry` was not applied (`why`),
  // then tells `logged` the caller's answer.
  static void RecordNotApplied(const Gateway& gateway,
                               const custos::v1::LogEntry& logged_entry,
                               const absl::Status& why, const Logged& logged);

  const Gateway* gateway_;
  grpc::CallbackServerContext* context_;
  absl::Time now_;
  std::shared_ptr<const policy::Policy> policy_;
  Caller caller_;
  custos::v1::LogEntry entry_;
  std::vector<audit::PersonalValue> personal_;
  std::vector<std::function<void(StepDone)>> after_logged_;
};

namespace internal {
template <typename T, typename = void>
struct HasLogIndex : std::false_type {};
template <typename T>
struct HasLogIndex<
    T, std::void_t<decltype(std::declval<T&>().set_log_index(uint64_t{0}))>>
    : std::true_type {};
}  // namespace internal

// Serves one RPC: `body(call)` decides the answer and fills `response`,
// then the call is logged and finished; a response with a log_index field
// gets the entry's index. A request carrying fields this build does not
// know is refused before `body` sees it (ValidateKnownFields). Every
// handler of every service is one Serve.
template <typename Request, typename Response, typename Body>
grpc::ServerUnaryReactor* Serve(const Gateway* gateway,
                                grpc::CallbackServerContext* context,
                                absl::string_view action,
                                const Request& request, Response* response,
                                Body body) {
  AuditedCall call(gateway, context, action);
  absl::Status answer = ValidateKnownFields(request);
  if (answer.ok()) answer = body(call);
  if constexpr (internal::HasLogIndex<Response>::value) {
    return call.Finish(std::move(answer), [response](uint64_t index) {
      response->set_log_index(index);
    });
  } else {
    return call.Finish(std::move(answer));
  }
}

// The trailing metadata key that carries the log index of a refused call.
inline constexpr char kLogIndexMetadata[] = "custos-log-index";

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_AUDITED_CALL_H_
