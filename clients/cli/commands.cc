#include "clients/cli/commands.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "audit/checkpoint.h"
#include "audit/entry.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/sqlite/offline_verifier.h"
#include "clients/cli/table.h"
#include "clients/report/report_command.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "proto/custos/v1/access.grpc.pb.h"
#include "proto/custos/v1/approvals.grpc.pb.h"
#include "proto/custos/v1/audit.grpc.pb.h"
#include "proto/custos/v1/identity.grpc.pb.h"

namespace custos::cli {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(30);

struct Command {
  const char* group;
  const char* verb;
  const char* synopsis;
  int (*run)(const CommandOptions&, const std::shared_ptr<grpc::Channel>&,
             std::ostream&, std::ostream&);
};

// Every call gets a deadline, and a customer's calls their API token.
void Prepare(grpc::ClientContext& context, const CommandOptions& options) {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(kCallTimeout));
  if (!options.token.empty()) {
    context.AddMetadata("authorization",
                        absl::StrCat("Bearer ", options.token));
  }
}

// Primitive fields are printed at their default values too: a script reads
// entry #0's "index" or an erase's "values_erased": 0 like any other.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot write the answer as JSON: ",
                                            status.message().as_string()));
  }
  return json;
}

// Writes `message` to `out` as JSON and returns `exit_code`, or tells `err`
// why it cannot and returns kExitError.
int PrintJson(const google::protobuf::Message& message, std::ostream& out,
              std::ostream& err, int exit_code = kExitOk) {
  const absl::StatusOr<std::string> json = ToJson(message);
  if (!json.ok()) {
    err << "custos: " << json.status().message() << "\n";
    return kExitError;
  }
  out << *json << "\n";
  return exit_code;
}

// The object a failure is told with on stdout in JSON mode:
// {"error": {"code": ..., "message": ..., "log_index": "17"}}. The log
// index is a string, as in every answer (JSON's numbers lose uint64s).
void PrintJsonError(absl::string_view code, absl::string_view message,
                    absl::string_view log_index, std::ostream& out,
                    std::ostream& err) {
  google::protobuf::Struct root;
  auto& error = *(*root.mutable_fields())["error"]
                     .mutable_struct_value()
                     ->mutable_fields();
  error["code"].set_string_value(std::string(code));
  error["message"].set_string_value(std::string(message));
  if (!log_index.empty())
    error["log_index"].set_string_value(std::string(log_index));
  PrintJson(root, out, err);
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// A state's enum name without its prefix, in lower case, as tables show
// it: StateName("TRIP_APPROVED", "TRIP_") is "approved".
std::string StateName(absl::string_view name, absl::string_view prefix) {
  absl::ConsumePrefix(&name, prefix);
  return absl::AsciiStrToLower(name);
}

}  // namespace

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::PERMISSION_DENIED:
      return kExitRefused;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return kExitInvalid;
    case grpc::StatusCode::UNAUTHENTICATED:
      return kExitUnauthenticated;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kExitUnavailable;
    case grpc::StatusCode::NOT_FOUND:
      return kExitNotFound;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return kExitNotInState;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return kExitLimitReached;
    default:
      return kExitError;
  }
}

namespace {

std::string CodeName(grpc::StatusCode code) {
  // gRPC and absl share the codes and their names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// Reports a failed call: to `err` always, and as a JSON object on `out` in
// JSON mode so scripts parsing stdout see it too.
int ReportFailure(const grpc::Status& status,
                  const grpc::ClientContext& context,
                  const CommandOptions& options, std::ostream& out,
                  std::ostream& err) {
  std::string log_index;
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find("custos-log-index"); it != trailers.end()) {
    log_index = std::string(it->second.data(), it->second.size());
  }
  err << "custos: " << CodeName(status.error_code()) << ": "
      << status.error_message();
  if (!log_index.empty()) err << " (log entry #" << log_index << ")";
  err << "\n";
  if (options.output == "json") {
    uint64_t index = 0;
    PrintJsonError(
        CodeName(status.error_code()), status.error_message(),
        absl::SimpleAtoi(log_index, &index) ? absl::StrCat(index) : "", out,
        err);
  }
  return ExitCodeFor(status.error_code());
}

}  // namespace

int ReportUsageError(absl::string_view output, absl::string_view message,
                     std::ostream& out, std::ostream& err) {
  err << "custos: " << message << "\n";
  if (output == "json") PrintJsonError("USAGE", message, "", out, err);
  return kExitUsage;
}

namespace {

int UsageError(const CommandOptions& options, std::ostream& out,
               std::ostream& err, absl::string_view message) {
  return ReportUsageError(options.output, message, out, err);
}

int AccessRequest(const CommandOptions& options,
                  const std::shared_ptr<grpc::Channel>& channel,
                  std::ostream& out, std::ostream& err) {
  if (options.customer.empty())
    return UsageError(options, out, err, "access request needs --customer");
  if (options.category.empty())
    return UsageError(options, out, err, "access request needs --category");
  custos::v1::RequestAccessRequest request;
  request.set_customer_id(options.customer);
  request.mutable_justification()->set_category(options.category);
  request.mutable_justification()->set_reference(options.reference);
  request.mutable_justification()->set_note(options.note);
  request.set_device_id(options.device);
  for (absl::string_view name :
       absl::StrSplit(options.kinds, ',', absl::SkipEmpty())) {
    custos::v1::DataKind kind;
    if (!custos::v1::DataKind_Parse(std::string(name), &kind)) {
      return UsageError(
          options, out, err,
          absl::StrCat("--kinds: unknown data kind \"", name,
                       "\" (e.g. ACCOUNT, SUBSCRIBERS, CAMPAIGNS)"));
    }
    request.add_data_kinds(kind);
  }
  if (!options.duration.empty()) {
    absl::Duration duration;
    if (!absl::ParseDuration(options.duration, &duration) ||
        duration <= absl::ZeroDuration()) {
      return UsageError(
          options, out, err,
          "--duration: expected a positive duration such as 2h or 30m");
    }
    request.mutable_duration()->set_seconds(absl::ToInt64Seconds(duration));
  }

  auto stub = custos::v1::StaffAccess::NewStub(channel);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::RequestAccessResponse response;
  const grpc::Status status = stub->RequestAccess(&context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(response, out, err);
  }
  if (response.has_pending()) {
    const custos::v1::PendingRequest& pending = response.pending();
    std::vector<std::string> waiting;
    for (int a : pending.waiting_for()) {
      waiting.push_back(absl::AsciiStrToLower(
          custos::v1::Approver_Name(static_cast<custos::v1::Approver>(a))
              .substr(9)));
    }
    out << "pending " << pending.request_id() << ": waiting for approval by "
        << absl::StrJoin(waiting, " and ") << "\n";
    for (const auto& reason : pending.reasons()) {
      out << "  " << reason.code() << ": " << reason.message() << "\n";
    }
    out << "  log entry:   #" << response.log_index() << "\n";
    return kExitOk;
  }
  const custos::v1::Grant& grant = response.grant();
  std::vector<std::string> kinds;
  for (int kind : grant.obligations().data_kinds()) {
    kinds.push_back(
        custos::v1::DataKind_Name(static_cast<custos::v1::DataKind>(kind)));
  }
  out << "granted " << grant.grant_id() << ": " << grant.staff_id() << " -> "
      << grant.customer_id() << " for " << grant.justification().category()
      << " " << grant.justification().reference() << "\n"
      << "  data kinds:  " << absl::StrJoin(kinds, ", ") << "\n";
  if (grant.obligations().masked_fields_size() > 0) {
    out << "  masked:      "
        << absl::StrJoin(grant.obligations().masked_fields(), ", ") << "\n";
  }
  out << "  expires:     " << FormatTime(grant.obligations().expires_at())
      << "\n"
      << "  read-only:   " << (grant.obligations().read_only() ? "yes" : "no")
      << "\n"
      << "  log entry:   #" << response.log_index() << "\n";
  return kExitOk;
}

// A time `flag` takes: an RFC 3339 time, or a day (UTC) that starts at
// midnight, or, with `day_end`, ends at the next (a bound that excludes
// it). INVALID_ARGUMENT naming the flag.
absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view flag,
                                         const std::string& value,
                                         bool day_end) {
  absl::Time time;
  std::string ignored;
  if (absl::ParseTime(absl::RFC3339_full, value, &time, &ignored)) return time;
  if (absl::ParseTime("%Y-%m-%d", value, absl::UTCTimeZone(), &time,
                      &ignored)) {
    return day_end ? time + absl::Hours(24) : time;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag,
                   ": expected a day such as 2026-05-01 or an RFC 3339 time "
                   "such as 2026-05-01T09:30:00Z, not \"",
                   value, "\""));
}

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(absl::ToUnixSeconds(time));
  timestamp.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(
      time - absl::FromUnixSeconds(timestamp.seconds()))));
  return timestamp;
}

int LogList(const CommandOptions& options,
            const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
            std::ostream& err) {
  custos::v1::ListEntriesRequest request;
  request.set_customer_id(options.customer);
  request.set_staff_id(options.staff);
  request.set_category(options.category);
  // A day given as --to is the last one listed: the request's `to` is the
  // first moment not listed.
  absl::Time from = absl::InfinitePast();
  absl::Time to = absl::InfiniteFuture();
  if (!options.from.empty()) {
    auto parsed = ParseTimeFlag("from", options.from, /*day_end=*/false);
    if (!parsed.ok())
      return UsageError(options, out, err, parsed.status().message());
    from = *parsed;
    *request.mutable_from() = ToTimestamp(from);
  }
  if (!options.to.empty()) {
    auto parsed = ParseTimeFlag("to", options.to, /*day_end=*/true);
    if (!parsed.ok())
      return UsageError(options, out, err, parsed.status().message());
    to = *parsed;
    *request.mutable_to() = ToTimestamp(to);
  }
  if (from >= to) {
    return UsageError(options, out, err,
                      "log list: --from is not before --to: no time between");
  }
  request.set_page_size(options.page_size);
  request.set_page_token(options.page_token);
  auto stub = custos::v1::AuditLog::NewStub(channel);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::ListEntriesResponse response;
  const grpc::Status status = stub->ListEntries(&context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(response, out, err);
  }
  Table table({"#", "TIME", "ACTOR", "FROM", "ACTION", "CUSTOMER", "CATEGORY",
               "REFERENCE", "OUTCOME", "WHY"});
  for (const auto& e : response.entries()) {
    std::string outcome =
        e.outcome() == custos::v1::OUTCOME_ALLOWED       ? "allowed"
        : e.outcome() == custos::v1::OUTCOME_PENDING     ? "pending"
        : e.outcome() == custos::v1::OUTCOME_NOT_APPLIED ? "not applied"
                                                         : "refused";
    if (e.outcome() == custos::v1::OUTCOME_REFUSED) {
      absl::StrAppend(&outcome, " (",
                      CodeName(static_cast<grpc::StatusCode>(e.status_code())),
                      ")");
    }
    std::vector<std::string> why;
    for (const auto& r : e.reasons()) why.push_back(r.code());
    table.AddRow({absl::StrCat(e.index()), FormatTime(e.time()),
                  e.actor().id().empty() ? "(unknown)" : e.actor().id(),
                  e.actor().country().empty() ? "?" : e.actor().country(),
                  e.action(), e.customer_id(), e.category(), e.reference(),
                  outcome, absl::StrJoin(why, ",")});
  }
  table.Print(out);
  out << table.size() << " entries shown of " << response.log_size()
      << " in the log";
  if (!response.next_page_token().empty()) {
    out << "; more with --page_token " << response.next_page_token();
  }
  out << "\n";
  return kExitOk;
}

int WhoAmI(const CommandOptions& options,
           const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
           std::ostream& err) {
  auto stub = custos::v1::StaffAccess::NewStub(channel);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::WhoAmIResponse response;
  const grpc::Status status = stub->WhoAmI(&context, {}, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(response, out, err);
  }
  out << response.staff().staff_id() << " (" << response.staff().display_name()
      << "), " << absl::StrJoin(response.staff().roles(), ", ") << ", "
      << custos::v1::ContractType_Name(response.staff().contract()) << "\n"
      << "connecting from " << response.source_address() << " ("
      << (response.country().empty() ? "unplaced: counts as abroad"
                                     : response.country())
      << (response.network().empty() ? "" : ", " + response.network()) << ")\n"
      << "policy " << response.policy_version() << "\n";
  return kExitOk;
}

std::string Hex(const std::string& bytes) {
  return absl::BytesToHexString(bytes);
}

// Checks a signed checkpoint against the pinned key; returns its body.
// The origin must be the key's name: a key signs checkpoints of one log.
absl::StatusOr<audit::CheckpointBody> OpenCheckpoint(
    const std::string& note, const std::string& verifier_key) {
  auto verifier = audit::NoteVerifier::FromVerifierKey(verifier_key);
  if (!verifier.ok()) return verifier.status();
  auto text = verifier->Open(note);
  if (!text.ok()) return text.status();
  auto body = audit::ParseCheckpointBody(*text);
  if (!body.ok()) return body.status();
  if (body->origin != verifier->name()) {
    return absl::DataLossError(absl::StrCat(
        "the checkpoint's origin \"", body->origin,
        "\" is not the verifier key's name \"", verifier->name(), "\""));
  }
  return body;
}

// What --state says on a first use, and when the log extends the checkpoint
// seen before.
std::string FirstUseLine(const std::string& file) {
  return absl::StrCat("first use of ", file,
                      ": no checkpoint seen before to check consistency with");
}
std::string ConsistentLine(uint64_t seen_size) {
  return absl::StrCat("consistent with the checkpoint seen before (size ",
                      seen_size, ")");
}

// The checkpoint an earlier verify or log prove kept in `file`, checked
// against `verifier_key`; nullopt when the file does not exist, a first use.
// Any other file that holds no such checkpoint (empty, torn, unreadable) is
// an error: taken for a first use, it would skip the check against what was
// seen before. DATA_LOSS for a file that does not hold a checkpoint of the
// key, another code when it cannot be read.
absl::StatusOr<std::optional<audit::CheckpointBody>> ReadSeenCheckpoint(
    const std::string& file, const std::string& verifier_key) {
  auto read = ReadFile(file);
  if (absl::IsNotFound(read.status())) return std::nullopt;
  if (!read.ok()) return read.status();
  if (read->empty()) {
    return absl::DataLossError(absl::StrCat(
        file,
        " is empty, but should hold the checkpoint seen last time (remove it "
        "to start over)"));
  }
  auto previous = OpenCheckpoint(*read, verifier_key);
  if (!previous.ok()) {
    return absl::DataLossError(
        absl::StrCat("the checkpoint in ", file,
                     " does not verify: ", previous.status().message()));
  }
  return *std::move(previous);
}

// Replaces `file` with `note`, whole or not at all: a torn file would fail
// the next run.
absl::Status KeepSeenCheckpoint(const std::string& file,
                                const std::string& note) {
  absl::Status kept = WriteFileAtomically(file, note, 0644);
  if (kept.ok()) return kept;
  return absl::Status(kept.code(),
                      absl::StrCat("keeping the checkpoint: ", kept.message()));
}

int ExitCodeForVerification(const absl::Status& status) {
  return status.code() == absl::StatusCode::kDataLoss ? kExitNotVerified
                                                      : kExitError;
}

// What comparing a checkpoint custosd showed with the one kept in --state
// found.
struct StateCheck {
  // kExitOk, or the exit code of the failure: told in `error` or, when
  // `error` is empty, a failed call already reported.
  int exit_code = kExitOk;
  std::string error;
  // No checkpoint was seen before (the file does not exist).
  bool first_use = false;
  // The size of the checkpoint seen before, which the one shown is
  // consistent with.
  std::optional<uint64_t> seen_size;
};

// For verify online and log prove: reads the checkpoint seen last time from
// `options.state_file`, checks that it and `shown` (custosd's checkpoint
// `shown_note`, already opened against `options.verifier_key`) are of one
// log, by a consistency proof asked of custosd on `stub` from the smaller to
// the larger, and keeps the larger in the file: the state never moves back.
// With `latest`, `shown` is what custosd says is its latest checkpoint, and
// one smaller than the one seen is a log that shrank. A failed call is
// reported on `out` and `err` as every failed call is.
StateCheck CheckAgainstState(custos::v1::AuditLog::Stub& stub,
                             const CommandOptions& options,
                             const std::string& shown_note,
                             const audit::CheckpointBody& shown, bool latest,
                             std::ostream& out, std::ostream& err) {
  StateCheck check;
  auto read = ReadSeenCheckpoint(options.state_file, options.verifier_key);
  if (!read.ok()) {
    check.exit_code = ExitCodeForVerification(read.status());
    check.error = std::string(read.status().message());
    return check;
  }
  const std::optional<audit::CheckpointBody>& seen = *read;
  check.first_use = !seen.has_value();
  if (seen.has_value()) {
    if (latest && seen->size > shown.size) {
      check.exit_code = kExitNotVerified;
      check.error = absl::StrCat("the log shrank from ", seen->size, " to ",
                                 shown.size, " entries");
      return check;
    }
    const bool grew = shown.size >= seen->size;
    const audit::CheckpointBody& older = grew ? *seen : shown;
    const audit::CheckpointBody& newer = grew ? shown : *seen;
    custos::v1::GetConsistencyProofRequest request;
    request.set_old_size(older.size);
    request.set_new_size(newer.size);
    custos::v1::ConsistencyProof proof;
    grpc::ClientContext context;
    Prepare(context, options);
    const grpc::Status status =
        stub.GetConsistencyProof(&context, request, &proof);
    if (!status.ok()) {
      check.exit_code = ReportFailure(status, context, options, out, err);
      return check;
    }
    // Checked against the two roots held, not the proof's own checkpoint.
    std::vector<std::string> hashes(proof.hashes().begin(),
                                    proof.hashes().end());
    const absl::Status consistent = audit::VerifyConsistency(
        older.size, newer.size, older.root_hash, newer.root_hash, hashes);
    if (!consistent.ok()) {
      check.exit_code = kExitNotVerified;
      check.error = absl::StrCat(
          "the checkpoint of size ", shown.size,
          " is not consistent with the checkpoint seen before (size ",
          seen->size, "): ", consistent.message());
      return check;
    }
    check.seen_size = seen->size;
    if (!grew) return check;
  }
  if (absl::Status kept = KeepSeenCheckpoint(options.state_file, shown_note);
      !kept.ok()) {
    check.exit_code = kExitError;
    check.error = std::string(kept.message());
  }
  return check;
}

int LogCheckpoint(const CommandOptions& options,
                  const std::shared_ptr<grpc::Channel>& channel,
                  std::ostream& out, std::ostream& err) {
  auto stub = custos::v1::AuditLog::NewStub(channel);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::Checkpoint checkpoint;
  const grpc::Status status = stub->GetCheckpoint(&context, {}, &checkpoint);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(checkpoint, out, err);
  }
  out << checkpoint.note() << "\nverifier key: " << checkpoint.verifier_key()
      << "\n";
  return kExitOk;
}

int LogProve(const CommandOptions& options,
             const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
             std::ostream& err) {
  if (!options.index.has_value())
    return UsageError(options, out, err, "log prove needs --index N");
  if (!options.state_file.empty() && options.verifier_key.empty())
    return UsageError(options, out, err,
                      "log prove --state needs --verifier_key");
  auto stub = custos::v1::AuditLog::NewStub(channel);
  custos::v1::GetInclusionProofRequest request;
  request.set_index(*options.index);
  request.set_tree_size(options.size);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::InclusionProof proof;
  const grpc::Status status =
      stub->GetInclusionProof(&context, request, &proof);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);

  // Verified here, from the entry's bytes up, against the pinned key. Without
  // one, against the key the server names, so that a broken proof is still
  // told as such; but whoever runs the server could have made that key and
  // all it signed, so that is no verification, as `verify` without a key is
  // none.
  const bool pinned = !options.verifier_key.empty();
  const std::string key =
      pinned ? options.verifier_key : proof.checkpoint().verifier_key();
  std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
  const auto body = VerifyInclusionAnswer(request, proof, key);
  int exit_code = kExitOk;
  std::string not_verified;  // why, when exit_code is not kExitOk
  StateCheck state;
  if (!body.ok()) {
    exit_code = kExitNotVerified;
    not_verified = std::string(body.status().message());
  } else if (!pinned) {
    exit_code = kExitNotVerified;
    not_verified = absl::StrCat(
        "no --verifier_key: the proof holds against the key the server names (",
        key.substr(0, key.find('+')),
        "), which proves nothing of who signed it; pin the log's key with "
        "--verifier_key");
  } else if (!options.state_file.empty()) {
    // The tree the entry is proven in must be the log seen before, or the
    // proof holds only in a log shown to this caller alone.
    state = CheckAgainstState(*stub, options, proof.checkpoint().note(), *body,
                              /*latest=*/request.tree_size() == 0, out, err);
    if (state.exit_code != kExitOk && state.error.empty())
      return state.exit_code;  // a failed call, already reported
    exit_code = state.exit_code;
    not_verified = state.error;
  }
  // What is shown comes from what was verified: the entry from its bytes
  // (the response's parsed copy is the server's word only), the root from
  // the signed note.
  const std::string signed_root =
      body.ok() ? body->root_hash : proof.checkpoint().root_hash();
  custos::v1::LogEntry e;
  const bool parsed = e.ParseFromString(proof.entry_bytes());
  if (options.output == "json") {
    google::protobuf::Struct root;
    auto& f = *root.mutable_fields();
    f["index"].set_number_value(proof.index());
    f["tree_size"].set_number_value(proof.tree_size());
    f["entry_bytes_hex"].set_string_value(Hex(proof.entry_bytes()));
    f["leaf_hash_hex"].set_string_value(Hex(proof.leaf_hash()));
    auto* list = f["hashes_hex"].mutable_list_value();
    for (const auto& h : hashes) list->add_values()->set_string_value(Hex(h));
    f["checkpoint"].set_string_value(proof.checkpoint().note());
    f["root_hash_hex"].set_string_value(Hex(signed_root));
    f["verifier_key"].set_string_value(key);
    f["verified"].set_bool_value(exit_code == kExitOk);
    if (exit_code != kExitOk) f["error"].set_string_value(not_verified);
    if (state.first_use) f["first_use"].set_bool_value(true);
    if (state.seen_size.has_value())
      f["consistent_with_size"].set_number_value(*state.seen_size);
    if (const int printed = PrintJson(root, out, err); printed != kExitOk)
      return printed;
  } else {
    out << "entry #" << proof.index() << ": ";
    if (parsed) {
      out << e.actor().id() << " " << e.action() << " " << e.customer_id()
          << " " << e.category() << " " << e.reference() << "\n";
    } else {
      out << "(its bytes do not parse as an entry)\n";
    }
    out << "leaf hash:  " << Hex(proof.leaf_hash()) << "\n"
        << "tree size:  " << proof.tree_size() << "\n"
        << "root hash:  " << Hex(signed_root) << "\n"
        << "audit path (leaf to root):\n";
    for (const auto& h : hashes) out << "  " << Hex(h) << "\n";
    out << "checkpoint:\n" << proof.checkpoint().note();
  }
  if (state.first_use) err << FirstUseLine(options.state_file) << "\n";
  if (state.seen_size.has_value())
    err << ConsistentLine(*state.seen_size) << "\n";
  if (exit_code != kExitOk) {
    err << "custos: NOT VERIFIED: " << not_verified << "\n";
    return exit_code;
  }
  err << "verified: entry #" << proof.index() << " is in the tree of size "
      << proof.tree_size() << " signed by " << key.substr(0, key.find('+'))
      << "\n";
  return kExitOk;
}

int LogConsistency(const CommandOptions& options,
                   const std::shared_ptr<grpc::Channel>& channel,
                   std::ostream& out, std::ostream& err) {
  if (options.old_size == 0)
    return UsageError(options, out, err,
                      "log consistency needs --old N (N > 0)");
  auto stub = custos::v1::AuditLog::NewStub(channel);
  custos::v1::GetConsistencyProofRequest request;
  request.set_old_size(options.old_size);
  request.set_new_size(options.size);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::ConsistencyProof proof;
  const grpc::Status status =
      stub->GetConsistencyProof(&context, request, &proof);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    google::protobuf::Struct root;
    auto& f = *root.mutable_fields();
    f["old_size"].set_number_value(proof.old_size());
    f["new_size"].set_number_value(proof.new_size());
    auto* list = f["hashes_hex"].mutable_list_value();
    for (const auto& h : proof.hashes())
      list->add_values()->set_string_value(Hex(h));
    f["checkpoint"].set_string_value(proof.checkpoint().note());
    f["new_root_hash_hex"].set_string_value(
        Hex(proof.checkpoint().root_hash()));
    f["verifier_key"].set_string_value(proof.checkpoint().verifier_key());
    return PrintJson(root, out, err);
  }
  out << "consistency " << proof.old_size() << " -> " << proof.new_size()
      << "\n";
  for (const auto& h : proof.hashes()) out << "  " << Hex(h) << "\n";
  out << "checkpoint:\n" << proof.checkpoint().note();
  out << "check it against the root of your checkpoint of size "
      << proof.old_size()
      << " with: custos verify --verifier_key KEY --state FILE\n";
  return kExitOk;
}

int LogErase(const CommandOptions& options,
             const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
             std::ostream& err) {
  auto stub = custos::v1::AuditLog::NewStub(channel);
  custos::v1::EraseRequest request;
  request.set_subject(options.subject);
  request.set_older_than_days(options.older_than_days);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::EraseResponse response;
  const grpc::Status status = stub->Erase(&context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  // Erased from the database, but a reader of the live file kept old page
  // images in its write-ahead log: not done until erased again.
  const int code = response.old_copies_remain() ? kExitNotVerified : kExitOk;
  if (options.output == "json") return PrintJson(response, out, err, code);
  if (response.old_copies_remain()) {
    err << "custos: old copies of the erased values remain in a write-ahead "
           "file (the log's or approvals.db's), kept by a reader of the live "
           "file (a verify or report, a backup); erase again once it is "
           "done\n";
  }
  out << "erased " << response.values_erased() << " personal values from "
      << response.entries_touched() << " entries, and the notes of "
      << response.approval_notes_erased()
      << " access requests and trips; the log still verifies (log entry #"
      << response.log_index() << ")\n";
  return code;
}

// The DPO's report, from the log's file; needs no connection.
int Report(const CommandOptions& options,
           const std::shared_ptr<grpc::Channel>& /*channel*/,
           std::ostream& /*out*/, std::ostream& err) {
  report::ReportCommand command;
  command.from = options.from;
  command.to = options.to;
  command.customer = options.customer;
  command.format = options.format;
  command.out = options.out;
  if (!options.db.empty()) command.db = options.db;
  command.verifier_key = options.verifier_key;
  // The last report's checkpoint belongs to the log it checked: kept beside
  // the log's file, wherever the report is run from.
  command.state_file =
      options.state_file.empty()
          ? absl::StrCat(command.db.find('/') == std::string::npos
                             ? "."
                             : command.db.substr(0, command.db.rfind('/')),
                         "/report-checkpoint")
          : options.state_file;
  command.policy_file = options.policy_file;
  command.directory_file = options.directory_file;
  command.time_zone = options.time_zone;
  command.working_hours = options.working_hours;
  command.top_staff = options.top;
  command.progress = options.progress;
  return report::RunReport(command, err);
}

// What `verify` found, printed as text or, with --output json, as one
// object on stdout: {"verified": bool, "error": "...", ...the figures}.
// Failures are also told on stderr, as every command tells them.
class VerifyOutcome {
 public:
  VerifyOutcome(const CommandOptions& options, std::ostream& out,
                std::ostream& err)
      : json_(options.output == "json"), out_(out), err_(err) {}

  google::protobuf::Map<std::string, google::protobuf::Value>& fields() {
    return *root_.mutable_fields();
  }
  // A line for the text output.
  void Say(const std::string& line) { lines_.push_back(line); }

  // Not verified: says why and returns `exit_code`.
  int Fail(absl::string_view why, int exit_code = kExitNotVerified) {
    err_ << "custos: NOT VERIFIED: " << why << "\n";
    fields()["error"].set_string_value(std::string(why));
    return Print(false, exit_code);
  }
  int Print(bool verified, int exit_code) {
    fields()["verified"].set_bool_value(verified);
    if (json_) return PrintJson(root_, out_, err_, exit_code);
    for (const std::string& line : lines_) out_ << line << "\n";
    return exit_code;
  }

 private:
  const bool json_;
  std::ostream& out_;
  std::ostream& err_;
  google::protobuf::Struct root_;
  std::vector<std::string> lines_;
};

// Offline: the log's SQLite file. Online: the latest checkpoint, checked
// against the pinned key and, through a consistency proof, against the
// checkpoint seen last time (kept in --state).
int Verify(const CommandOptions& options,
           const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
           std::ostream& err) {
  VerifyOutcome outcome(options, out, err);
  if (!options.db.empty()) {
    audit::VerifyOptions verify;
    verify.verifier_key = options.verifier_key;
    verify.unsigned_tail_ok = options.allow_unsigned_tail;
    verify.progress = [&err](uint64_t done, uint64_t total) {
      err << "\rverifying: " << done << " / " << total << " entries"
          << std::flush;
    };
    // As online: the log must extend the checkpoint seen last time, here
    // checked by the root of as many entries as it covered.
    std::optional<audit::CheckpointBody> seen;
    if (!options.state_file.empty()) {
      if (options.verifier_key.empty())
        return UsageError(options, out, err,
                          "verify --state needs --verifier_key");
      auto read = ReadSeenCheckpoint(options.state_file, options.verifier_key);
      if (!read.ok()) {
        return outcome.Fail(read.status().message(),
                            ExitCodeForVerification(read.status()));
      }
      seen = *std::move(read);
      if (seen.has_value()) {
        verify.root_at_size = seen->size;
      } else {
        outcome.fields()["first_use"].set_bool_value(true);
        outcome.Say(FirstUseLine(options.state_file));
      }
    }
    auto report = audit::VerifySqliteLog(options.db, verify);
    err << "\n";
    outcome.fields()["file"].set_string_value(options.db);
    if (!report.ok()) {
      return outcome.Fail(report.status().message(),
                          ExitCodeForVerification(report.status()));
    }
    if (seen.has_value() && seen->size > 0) {
      if (seen->size > report->entries) {
        return outcome.Fail(absl::StrCat("the log shrank from ", seen->size,
                                         " to ", report->entries, " entries"));
      }
      // Checkpoints are never removed: a newest one older than the one seen
      // leaves the entries between them unsigned, for anyone to rewrite
      // before the next verify (--allow_unsigned_tail would let them pass,
      // and the state would move back with them).
      if (report->latest_checkpoint_size < seen->size) {
        return outcome.Fail(absl::StrCat(
            "the newest checkpoint is of size ", report->latest_checkpoint_size,
            ", older than the one seen before (size ", seen->size,
            "): signed checkpoints were removed"));
      }
      if (report->root_at_size != seen->root_hash) {
        return outcome.Fail(absl::StrCat(
            "the log's first ", seen->size,
            " entries are not those of the checkpoint seen before: the log "
            "was rewritten, not only extended"));
      }
      outcome.fields()["consistent_with_size"].set_number_value(seen->size);
      outcome.Say(ConsistentLine(seen->size));
    }
    if (!options.state_file.empty() &&
        !report->latest_checkpoint_note.empty()) {
      if (absl::Status kept = KeepSeenCheckpoint(
              options.state_file, report->latest_checkpoint_note);
          !kept.ok()) {
        return outcome.Fail(kept.message(), kExitError);
      }
    }
    auto& f = outcome.fields();
    f["entries"].set_number_value(report->entries);
    f["checkpoints"].set_number_value(report->checkpoints);
    f["signatures_checked"].set_bool_value(report->signatures_checked);
    f["personal_values_checked"].set_number_value(report->values_checked);
    f["listed_entries_checked"].set_number_value(report->listed_entries);
    f["root_hash_hex"].set_string_value(Hex(report->root_hash));
    f["latest_checkpoint_size"].set_number_value(
        report->latest_checkpoint_size);
    f["unsigned_entries"].set_number_value(report->unsigned_entries);
    outcome.Say(absl::StrCat(
        "verified ", report->entries, " entries, ", report->checkpoints,
        " checkpoints (",
        report->signatures_checked
            ? "signatures checked against the pinned key"
            : "signatures NOT checked: no --verifier_key",
        "), ", report->values_checked, " personal values, the listing rows of ",
        report->listed_entries, " entries; root ", Hex(report->root_hash)));
    if (report->signatures_checked && report->unsigned_entries > 0) {
      // Only with --allow_unsigned_tail: without it they fail verification.
      outcome.Say(absl::StrCat(
          report->unsigned_entries,
          " entries after the newest checkpoint (of size ",
          report->latest_checkpoint_size,
          ") are NOT signed: accepted with --allow_unsigned_tail"));
    }
    // Without a pinned key the chain and tree verify, but not who signed.
    return outcome.Print(report->signatures_checked, report->signatures_checked
                                                         ? kExitOk
                                                         : kExitNotVerified);
  }
  if (options.verifier_key.empty()) {
    return UsageError(
        options, out, err,
        "verify needs --verifier_key (and --db FILE to check a file offline)");
  }
  if (channel == nullptr)
    return UsageError(options, out, err, "verify online needs a connection");
  auto stub = custos::v1::AuditLog::NewStub(channel);
  custos::v1::Checkpoint latest;
  {
    grpc::ClientContext context;
    Prepare(context, options);
    const grpc::Status status = stub->GetCheckpoint(&context, {}, &latest);
    if (!status.ok()) return ReportFailure(status, context, options, out, err);
  }
  auto body = OpenCheckpoint(latest.note(), options.verifier_key);
  if (!body.ok()) return outcome.Fail(body.status().message());
  if (!options.state_file.empty()) {
    const StateCheck state = CheckAgainstState(
        *stub, options, latest.note(), *body, /*latest=*/true, out, err);
    if (state.exit_code != kExitOk) {
      if (state.error.empty()) return state.exit_code;  // a failed call
      return outcome.Fail(state.error, state.exit_code);
    }
    if (state.first_use) {
      outcome.fields()["first_use"].set_bool_value(true);
      outcome.Say(FirstUseLine(options.state_file));
    }
    if (state.seen_size.has_value()) {
      outcome.fields()["consistent_with_size"].set_number_value(
          *state.seen_size);
      outcome.Say(ConsistentLine(*state.seen_size));
    }
  }
  auto& f = outcome.fields();
  f["size"].set_number_value(body->size);
  f["root_hash_hex"].set_string_value(Hex(body->root_hash));
  f["origin"].set_string_value(body->origin);
  outcome.Say(absl::StrCat("verified checkpoint of size ", body->size,
                           ", root ", Hex(body->root_hash), ", signed by ",
                           body->origin));
  return outcome.Print(true, kExitOk);
}

int AccessRead(const CommandOptions& options,
               const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
               std::ostream& err) {
  if (options.grant.empty())
    return UsageError(options, out, err, "access read needs --grant ID");
  custos::v1::DataKind kind;
  if (!custos::v1::DataKind_Parse(options.kind, &kind)) {
    return UsageError(
        options, out, err,
        "--kind: expected a data kind such as ACCOUNT, SUBSCRIBERS, CAMPAIGNS");
  }
  custos::v1::ReadCustomerDataRequest request;
  request.set_grant_id(options.grant);
  request.set_kind(kind);
  request.set_page_size(options.page_size);
  request.set_page_token(options.page_token);
  request.set_record_id(options.record);
  auto stub = custos::v1::StaffAccess::NewStub(channel);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::ReadCustomerDataResponse response;
  const grpc::Status status =
      stub->ReadCustomerData(&context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(response, out, err);
  }
  std::vector<std::string> columns = {"ID"};
  if (response.records_size() > 0) {
    std::vector<std::string> names;
    for (const auto& [name, value] : response.records(0).fields())
      names.push_back(name);
    std::sort(names.begin(), names.end());
    for (auto& n : names) columns.push_back(absl::AsciiStrToUpper(n));
  }
  Table table(columns);
  for (const auto& record : response.records()) {
    std::vector<std::string> row = {record.id()};
    for (size_t c = 1; c < columns.size(); ++c) {
      auto it = record.fields().find(absl::AsciiStrToLower(columns[c]));
      row.push_back(it == record.fields().end() ? "" : it->second);
    }
    table.AddRow(std::move(row));
  }
  table.Print(out);
  out << table.size() << " records";
  if (response.masked_fields_size() > 0) {
    out << "; masked: " << absl::StrJoin(response.masked_fields(), ", ");
  }
  out << "; log entry #" << response.log_index();
  if (!response.next_page_token().empty()) {
    out << "; more with --page_token " << response.next_page_token();
  }
  out << "\n";
  return kExitOk;
}

// Tells how to ask for the next page of a list, when there is one.
std::string NextPageLine(const std::string& next_page_token) {
  return next_page_token.empty()
             ? std::string()
             : absl::StrCat("more with --page_token ", next_page_token, "\n");
}

int AccessList(const CommandOptions& options,
               const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
               std::ostream& err) {
  custos::v1::ListGrantsRequest request;
  request.set_customer_id(options.customer);
  request.set_staff_id(options.staff);
  request.set_active_only(options.active_only);
  request.set_page_size(options.page_size);
  request.set_page_token(options.page_token);
  auto stub = custos::v1::StaffAccess::NewStub(channel);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::ListGrantsResponse response;
  const grpc::Status status = stub->ListGrants(&context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(response, out, err);
  }
  Table table({"GRANT", "STAFF", "CUSTOMER", "CATEGORY", "REFERENCE", "STATE",
               "EXPIRES", "READ"});
  for (const auto& g : response.grants()) {
    table.AddRow({g.grant_id(), g.staff_id(), g.customer_id(),
                  g.justification().category(), g.justification().reference(),
                  StateName(custos::v1::GrantState_Name(g.state()), "GRANT_"),
                  FormatTime(g.obligations().expires_at()),
                  absl::StrCat(g.records_read())});
  }
  table.Print(out);
  out << NextPageLine(response.next_page_token());
  return kExitOk;
}

int AccessEnd(const CommandOptions& options,
              const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
              std::ostream& err) {
  if (options.grant.empty())
    return UsageError(options, out, err, "access end needs --grant ID");
  custos::v1::EndGrantRequest request;
  request.set_grant_id(options.grant);
  auto stub = custos::v1::StaffAccess::NewStub(channel);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::EndGrantResponse response;
  const grpc::Status status = stub->EndGrant(&context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") return PrintJson(response, out, err);
  out << "ended " << response.grant().grant_id() << " (log entry #"
      << response.log_index() << ")\n";
  return kExitOk;
}

int AccessRevoke(const CommandOptions& options,
                 const std::shared_ptr<grpc::Channel>& channel,
                 std::ostream& out, std::ostream& err) {
  if (options.grant.empty())
    return UsageError(options, out, err, "access revoke needs --grant ID");
  custos::v1::RevokeGrantRequest request;
  request.set_grant_id(options.grant);
  request.set_reason(options.reason);
  auto stub = custos::v1::StaffAccess::NewStub(channel);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::RevokeGrantResponse response;
  const grpc::Status status = stub->RevokeGrant(&context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") return PrintJson(response, out, err);
  out << "revoked " << response.grant().grant_id() << " (log entry #"
      << response.log_index() << ")\n";
  return kExitOk;
}

int PrintOrJson(const google::protobuf::Message& message,
                const CommandOptions& options, std::ostream& out,
                std::ostream& err, const std::string& text) {
  if (options.output == "json") return PrintJson(message, out, err);
  out << text;
  return kExitOk;
}

std::string TripLine(const custos::v1::Trip& t) {
  return absl::StrCat(
      t.trip_id(), "  ", t.staff_id(), "  ", t.country(), "  ", t.first_day(),
      "..", t.last_day(), "  ", t.device_id(), "  ",
      StateName(custos::v1::TripState_Name(t.state()), "TRIP_"), "\n");
}

int TripRequest(const CommandOptions& options,
                const std::shared_ptr<grpc::Channel>& channel,
                std::ostream& out, std::ostream& err) {
  custos::v1::RequestTripRequest request;
  request.set_country(options.country);
  request.set_first_day(options.first_day);
  request.set_last_day(options.last_day);
  request.set_device_id(options.device);
  request.set_purpose(options.note);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::RequestTripResponse response;
  const grpc::Status status =
      custos::v1::Approvals::NewStub(channel)->RequestTrip(&context, request,
                                                           &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  return PrintOrJson(response, options, out, err,
                     absl::StrCat("requested ", TripLine(response.trip())));
}

int TripDecide(const CommandOptions& options,
               const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
               std::ostream& err) {
  if (options.trip.empty() || (options.approve == options.refuse)) {
    return UsageError(
        options, out, err,
        "trip decide needs --trip ID and one of --approve or --refuse");
  }
  custos::v1::DecideTripRequest request;
  request.set_trip_id(options.trip);
  request.set_approve(options.approve);
  request.set_note(options.note);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::DecideTripResponse response;
  const grpc::Status status =
      custos::v1::Approvals::NewStub(channel)->DecideTrip(&context, request,
                                                          &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  return PrintOrJson(response, options, out, err, TripLine(response.trip()));
}

int TripList(const CommandOptions& options,
             const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
             std::ostream& err) {
  custos::v1::ListTripsRequest request;
  request.set_staff_id(options.staff);
  request.set_undecided_only(options.active_only);
  request.set_page_size(options.page_size);
  request.set_page_token(options.page_token);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::ListTripsResponse response;
  const grpc::Status status =
      custos::v1::Approvals::NewStub(channel)->ListTrips(&context, request,
                                                         &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(response, out, err);
  }
  Table table(
      {"TRIP", "STAFF", "COUNTRY", "DAYS", "DEVICE", "STATE", "DECIDED BY"});
  for (const auto& t : response.trips()) {
    table.AddRow({t.trip_id(), t.staff_id(), t.country(),
                  absl::StrCat(t.first_day(), "..", t.last_day()),
                  t.device_id(),
                  StateName(custos::v1::TripState_Name(t.state()), "TRIP_"),
                  t.decided_by()});
  }
  table.Print(out);
  out << NextPageLine(response.next_page_token());
  return kExitOk;
}

int ApprovalList(const CommandOptions& options,
                 const std::shared_ptr<grpc::Channel>& channel,
                 std::ostream& out, std::ostream& err) {
  custos::v1::ListPendingRequestsRequest request;
  request.set_customer_id(options.customer);
  request.set_waiting_only(options.active_only);
  request.set_page_size(options.page_size);
  request.set_page_token(options.page_token);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::ListPendingRequestsResponse response;
  const grpc::Status status =
      custos::v1::Approvals::NewStub(channel)->ListPendingRequests(
          &context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") return PrintJson(response, out, err);
  Table table({"REQUEST", "STAFF", "CUSTOMER", "CATEGORY", "REFERENCE", "FROM",
               "WAITING FOR", "STATE"});
  for (const auto& p : response.requests()) {
    std::vector<std::string> waiting;
    for (int a : p.waiting_for()) {
      bool done = std::find(p.approved_by().begin(), p.approved_by().end(),
                            a) != p.approved_by().end();
      if (!done) {
        waiting.push_back(absl::AsciiStrToLower(
            custos::v1::Approver_Name(static_cast<custos::v1::Approver>(a))
                .substr(9)));
      }
    }
    table.AddRow(
        {p.request_id(), p.staff_id(), p.customer_id(),
         p.justification().category(), p.justification().reference(),
         p.country().empty() ? "?" : p.country(), absl::StrJoin(waiting, ", "),
         StateName(custos::v1::PendingState_Name(p.state()), "PENDING_")});
  }
  table.Print(out);
  out << NextPageLine(response.next_page_token());
  return kExitOk;
}

int ApprovalDecide(const CommandOptions& options,
                   const std::shared_ptr<grpc::Channel>& channel,
                   std::ostream& out, std::ostream& err) {
  if (options.request.empty() || (options.approve == options.refuse)) {
    return UsageError(
        options, out, err,
        "approval decide needs --request ID and one of --approve or --refuse");
  }
  custos::v1::DecidePendingRequestRequest request;
  request.set_request_id(options.request);
  request.set_approve(options.approve);
  request.set_note(options.note);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::DecidePendingRequestResponse response;
  const grpc::Status status =
      custos::v1::Approvals::NewStub(channel)->DecidePendingRequest(
          &context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  std::string text = absl::StrCat(
      response.request().request_id(), ": ",
      StateName(custos::v1::PendingState_Name(response.request().state()),
                "PENDING_"));
  if (response.has_grant())
    absl::StrAppend(&text, "; granted ", response.grant().grant_id());
  absl::StrAppend(&text, " (log entry #", response.log_index(), ")\n");
  return PrintOrJson(response, options, out, err, text);
}

int ConsentSet(const CommandOptions& options,
               const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
               std::ostream& err) {
  if (options.partner.empty() || (options.approve == options.refuse)) {
    return UsageError(
        options, out, err,
        "consent set needs --partner ORG and one of --approve or --refuse");
  }
  custos::v1::SetPartnerConsentRequest request;
  request.set_partner_organisation(options.partner);
  request.set_consent(options.approve);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::SetPartnerConsentResponse response;
  const grpc::Status status =
      custos::v1::Approvals::NewStub(channel)->SetPartnerConsent(
          &context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  return PrintOrJson(
      response, options, out, err,
      absl::StrCat(
          options.approve ? "consent given to " : "consent withdrawn from ",
          options.partner, " (log entry #", response.log_index(), ")\n"));
}

int ConsentList(const CommandOptions& options,
                const std::shared_ptr<grpc::Channel>& channel,
                std::ostream& out, std::ostream& err) {
  custos::v1::ListPartnerConsentsRequest request;
  request.set_customer_id(options.customer);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::ListPartnerConsentsResponse response;
  const grpc::Status status =
      custos::v1::Approvals::NewStub(channel)->ListPartnerConsents(
          &context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(response, out, err);
  }
  // Every partner staff work for, and any other the customer consented to
  // (one since gone from the directory), with the consent.
  std::set<std::string> given;
  for (const auto& consent : response.consents()) {
    if (consent.consented()) given.insert(consent.partner_organisation());
  }
  std::set<std::string> partners(response.partner_organisations().begin(),
                                 response.partner_organisations().end());
  partners.insert(given.begin(), given.end());
  Table table({"PARTNER", "CONSENT"});
  for (const std::string& partner : partners) {
    table.AddRow({partner, given.count(partner) ? "given" : "not given"});
  }
  table.Print(out);
  return kExitOk;
}

std::string SessionLine(const custos::v1::TakeIdentitySession& s) {
  return absl::StrCat(
      s.session_id(), "  ", s.staff_id(), " as ", s.customer_user_id(), "@",
      s.customer_id(), "  ", s.justification().category(), " ",
      s.justification().reference(), "  ",
      StateName(custos::v1::SessionState_Name(s.state()), "SESSION_"),
      "  pages ", s.page_views(), "  until ", FormatTime(s.expires_at()), "\n");
}

int IdentityStart(const CommandOptions& options,
                  const std::shared_ptr<grpc::Channel>& channel,
                  std::ostream& out, std::ostream& err) {
  if (options.customer.empty() || options.user.empty()) {
    return UsageError(
        options, out, err,
        "identity start needs --customer C --user U (and --category, --ref "
        "or --grant)");
  }
  custos::v1::StartSessionRequest request;
  request.set_customer_id(options.customer);
  request.set_customer_user_id(options.user);
  request.mutable_justification()->set_category(options.category);
  request.mutable_justification()->set_reference(options.reference);
  request.mutable_justification()->set_note(options.note);
  request.set_grant_id(options.grant);
  request.set_device_id(options.device);
  if (!options.action.empty()) {
    auto* action = request.add_customer_requested_actions();
    action->set_action(options.action);
    action->set_customer_request_ref(options.action_ref);
  }
  if (!options.duration.empty()) {
    absl::Duration duration;
    if (!absl::ParseDuration(options.duration, &duration) ||
        duration <= absl::ZeroDuration()) {
      return UsageError(options, out, err,
                        "--duration: expected a positive duration such as 30m");
    }
    request.mutable_duration()->set_seconds(absl::ToInt64Seconds(duration));
  }
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::StartSessionResponse response;
  const grpc::Status status =
      custos::v1::TakeIdentity::NewStub(channel)->StartSession(
          &context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  return PrintOrJson(
      response, options, out, err,
      absl::StrCat(SessionLine(response.session()),
                   "open within a minute, once: ", response.link(), "\n"));
}

int IdentityEnd(const CommandOptions& options,
                const std::shared_ptr<grpc::Channel>& channel,
                std::ostream& out, std::ostream& err) {
  if (options.session.empty())
    return UsageError(options, out, err, "identity end needs --session ID");
  custos::v1::EndSessionRequest request;
  request.set_session_id(options.session);
  request.set_reason(options.reason);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::EndSessionResponse response;
  const grpc::Status status =
      custos::v1::TakeIdentity::NewStub(channel)->EndSession(&context, request,
                                                             &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  return PrintOrJson(response, options, out, err,
                     SessionLine(response.session()));
}

int IdentityList(const CommandOptions& options,
                 const std::shared_ptr<grpc::Channel>& channel,
                 std::ostream& out, std::ostream& err) {
  custos::v1::ListSessionsRequest request;
  request.set_customer_id(options.customer);
  request.set_staff_id(options.staff);
  request.set_live_only(options.active_only);
  request.set_page_size(options.page_size);
  request.set_page_token(options.page_token);
  grpc::ClientContext context;
  Prepare(context, options);
  custos::v1::ListSessionsResponse response;
  const grpc::Status status =
      custos::v1::TakeIdentity::NewStub(channel)->ListSessions(
          &context, request, &response);
  if (!status.ok()) return ReportFailure(status, context, options, out, err);
  if (options.output == "json") {
    return PrintJson(response, out, err);
  }
  Table table({"SESSION", "STAFF", "AS", "CATEGORY", "REFERENCE", "STATE",
               "PAGES", "UNTIL"});
  for (const auto& session : response.sessions()) {
    table.AddRow(
        {session.session_id(), session.staff_id(),
         absl::StrCat(session.customer_user_id(), "@", session.customer_id()),
         session.justification().category(),
         session.justification().reference(),
         StateName(custos::v1::SessionState_Name(session.state()), "SESSION_"),
         absl::StrCat(session.page_views()), FormatTime(session.expires_at())});
  }
  table.Print(out);
  out << NextPageLine(response.next_page_token());
  return kExitOk;
}

const Command kCommands[] = {
    {"access", "request",
     "--customer C --category CAT --ref REF [--note TEXT] [--kinds K1,K2] "
     "[--duration 2h]\n"
     "      [--device ID]  ask for access to one customer's data (from abroad: "
     "the device\n"
     "      of your approved trip, or CUSTOS_DEVICE)",
     AccessRequest},
    {"access", "read",
     "--grant ID --kind KIND [--record ID] [--page_size N] [--page_token T]\n"
     "      read one kind of data under a grant (ACCOUNT, SUBSCRIBERS, "
     "CAMPAIGNS, ...)",
     AccessRead},
    {"access", "list",
     "[--customer C] [--staff S] [--active_only] [--page_size N] "
     "[--page_token T]\n"
     "      grants, newest first: your own, or everyone's for the DPO",
     AccessList},
    {"access", "end", "--grant ID\n      end your grant now", AccessEnd},
    {"access", "revoke",
     "--grant ID [--reason TEXT]\n      revoke a grant (DPO only)",
     AccessRevoke},
    {"identity", "start",
     "--customer C --user U --category CAT --ref REF [--note TEXT] | --grant "
     "ID\n"
     "      [--duration 30m] [--action send_test_mail --action_ref REF] "
     "[--device ID]\n"
     "      take identity: prints a single-use link",
     IdentityStart},
    {"identity", "end",
     "--session ID [--reason TEXT]\n"
     "      end your session (the DPO or the customer revokes one)",
     IdentityEnd},
    {"identity", "list",
     "[--customer C] [--staff S] [--active_only] [--page_size N] "
     "[--page_token T]\n"
     "      take-identity sessions, newest first",
     IdentityList},
    {"trip", "request",
     "--country CC --first_day YYYY-MM-DD --last_day YYYY-MM-DD --device ID "
     "[--note PURPOSE]\n"
     "      ask the DPO to approve working from abroad on the device ID (its "
     "host name or asset tag, such as laptop-7)",
     TripRequest},
    {"trip", "decide",
     "--trip ID --approve|--refuse [--note TEXT]\n      decide a trip (DPO)",
     TripDecide},
    {"trip", "list",
     "[--staff S] [--active_only] [--page_size N] [--page_token T]\n"
     "      trips, newest first: your own, or all for the DPO",
     TripList},
    {"approval", "list",
     "[--customer C] [--active_only] [--page_size N] [--page_token T]\n"
     "      pending requests, newest first (staff: own; DPO: all; customer "
     "with --token: theirs)",
     ApprovalList},
    {"approval", "decide",
     "--request ID --approve|--refuse [--note TEXT]\n"
     "      approve or refuse a pending request (the DPO, or the customer with "
     "--token)",
     ApprovalDecide},
    {"consent", "set",
     "--partner ORG --approve|--refuse --token TOKEN\n"
     "      the customer gives or withdraws a partner's consent",
     ConsentSet},
    {"consent", "list",
     "[--customer C]\n"
     "      the partners staff work for and whether the customer consented "
     "(the customer with --token, or the DPO for --customer)",
     ConsentList},
    {"log", "list",
     "[--customer C] [--staff S] [--category CAT] [--from DAY|TIME] "
     "[--to DAY|TIME]\n"
     "      [--page_size N] [--page_token T]  list audit log entries, newest "
     "first (staff see\n"
     "      their own, the DPO all); a DAY (YYYY-MM-DD, UTC) is listed whole, "
     "an RFC 3339\n"
     "      TIME (2026-05-01T09:30:00Z) starts --from, or ends --to (excluded)",
     LogList},
    {"log", "checkpoint",
     "\n      the latest signed checkpoint and the verifier key",
     LogCheckpoint},
    {"log", "prove",
     "--index N [--size S] --verifier_key KEY [--state FILE]\n"
     "      the inclusion proof of entry N, checked here against the "
     "checkpoint signed\n"
     "      by the pinned key and, through a consistency proof, the "
     "checkpoint seen last\n"
     "      time (kept in --state, as verify keeps it); exits 0 only when "
     "all verifies\n"
     "      (without --verifier_key it still shows the proof, and exits 8)",
     LogProve},
    {"log", "consistency",
     "--old N [--size M]\n"
     "      the consistency proof between tree sizes N and M (default: the "
     "latest)",
     LogConsistency},
    {"log", "erase",
     "--subject ID | --older_than_days N\n"
     "      erase personal values behind the log's commitments, and the notes "
     "kept\n"
     "      with approvals (DPO only); a subject is a staff or customer-user "
     "id, or\n"
     "      the address of a caller with no identity (masked after 14 days)",
     LogErase},
    {"verify", nullptr,
     "[--db FILE [--allow_unsigned_tail]] --verifier_key KEY [--state "
     "FILE]\n"
     "      check a log file offline, or the live log, against a pinned key "
     "and the\n"
     "      checkpoint seen last time (kept in --state); exits 0 only when "
     "everything\n"
     "      verifies and, offline, the newest checkpoint signs every entry\n"
     "      (--allow_unsigned_tail accepts, and counts, newer ones: a copy of "
     "a "
     "live log)",
     Verify},
    {"report", nullptr,
     "--from YYYY-MM-DD --to YYYY-MM-DD [--customer C] --format "
     "html|csv|json --out FILE\n"
     "      [--db FILE] [--verifier_key KEY] [--state FILE] [--policy FILE] "
     "[--directory FILE]\n"
     "      [--time_zone ZONE] [--working_hours HH:MM-HH:MM] [--top N]\n"
     "      the DPO's report from the log's file: accesses, findings and the "
     "log's state;\n"
     "      exits 8 when the log does not verify or does not extend the last "
     "report's",
     Report},
    {"whoami", nullptr,
     "\n      who custosd takes you to be, and where it places you", WhoAmI},
};

// Flags every command takes: how to reach custosd, as whom, and how to
// print the answer.
constexpr absl::string_view kConnectionFlags[] = {"as",    "pki_dir", "server",
                                                  "ca",    "cert",    "key",
                                                  "token", "output",  "config"};

// A command takes the flags its synopsis names: what its help shows is what
// it reads, and a flag it would ignore is refused instead.
bool TakesFlag(const Command& command, absl::string_view flag) {
  if (std::find(std::begin(kConnectionFlags), std::end(kConnectionFlags),
                flag) != std::end(kConnectionFlags)) {
    return true;
  }
  absl::string_view synopsis = command.synopsis;
  for (size_t at = synopsis.find("--"); at != absl::string_view::npos;
       at = synopsis.find("--", at)) {
    at += 2;
    size_t end = at;
    while (end < synopsis.size() &&
           (absl::ascii_islower(synopsis[end]) || synopsis[end] == '_')) {
      ++end;
    }
    if (synopsis.substr(at, end - at) == flag) return true;
  }
  return false;
}

std::string CommandName(const Command& command) {
  return command.verb == nullptr
             ? command.group
             : absl::StrCat(command.group, " ", command.verb);
}

const Command* FindCommand(const std::vector<std::string>& args) {
  for (const Command& c : kCommands) {
    if (args.empty() || args[0] != c.group) continue;
    if (c.verb == nullptr && args.size() == 1) return &c;
    if (c.verb != nullptr && args.size() == 2 && args[1] == c.verb) return &c;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<audit::CheckpointBody> VerifyInclusionAnswer(
    const custos::v1::GetInclusionProofRequest& request,
    const custos::v1::InclusionProof& proof, const std::string& verifier_key) {
  // A proof that verifies, but of another entry or size than asked for,
  // would have the caller take one entry's presence for another's.
  if (proof.index() != request.index()) {
    return absl::DataLossError(absl::StrCat("the proof is of entry ",
                                            proof.index(), ", not of entry ",
                                            request.index(), " as asked"));
  }
  if (request.tree_size() != 0 && proof.tree_size() != request.tree_size()) {
    return absl::DataLossError(absl::StrCat("the proof is in the tree of size ",
                                            proof.tree_size(), ", not of size ",
                                            request.tree_size(), " as asked"));
  }
  if (audit::HashLeaf(proof.entry_bytes()) != proof.leaf_hash())
    return absl::DataLossError("leaf hash does not match the entry bytes");
  uint64_t index = 0;
  absl::string_view prev_hash;
  if (!audit::ScanLinks(proof.entry_bytes(), index, prev_hash))
    return absl::DataLossError("the entry bytes do not parse as an entry");
  if (index != request.index()) {
    return absl::DataLossError(absl::StrCat("the entry bytes are of entry ",
                                            index, ", not of entry ",
                                            request.index(), " as asked"));
  }
  CUSTOS_ASSIGN_OR_RETURN(
      audit::CheckpointBody body,
      OpenCheckpoint(proof.checkpoint().note(), verifier_key));
  if (body.size != proof.tree_size())
    return absl::DataLossError(
        "the checkpoint is not of the proof's tree size");
  std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
  CUSTOS_RETURN_IF_ERROR(
      audit::VerifyInclusion(proof.leaf_hash(), proof.index(),
                             proof.tree_size(), hashes, body.root_hash));
  return body;
}

std::string Usage() {
  std::string usage =
      "usage: custos [--as STAFF_ID] [--server HOST:PORT] [--output "
      "table|json] COMMAND\n\n"
      "commands:\n";
  for (const Command& c : kCommands) {
    absl::StrAppend(&usage, "  ", c.group, c.verb ? " " : "",
                    c.verb ? c.verb : "", " ", c.synopsis, "\n");
  }
  absl::StrAppend(
      &usage,
      "\nconnection: --as STAFF_ID picks <pki_dir>/clients/STAFF_ID.crt and "
      ".key, --token TOKEN\n"
      "  calls as a customer (not both); --pki_dir (default .custos/pki), "
      "--server (default\n"
      "  localhost:7443), --ca/--cert/--key override single files. Each "
      "setting comes from\n"
      "  its flag, else CUSTOS_AS, CUSTOS_TOKEN, CUSTOS_PKI_DIR, "
      "CUSTOS_SERVER, CUSTOS_CA,\n"
      "  CUSTOS_CERT, CUSTOS_KEY, else the config file, else the default; "
      "a path derived from\n"
      "  --as or --pki_dir counts as given where they are. CUSTOS_DEVICE "
      "stands for --device.\n"
      "\nconfig file: --config FILE, else CUSTOS_CONFIG, else "
      "$XDG_CONFIG_HOME/custos/cli.conf\n"
      "  (~/.config/custos/cli.conf) if it exists: `key = value` lines, "
      "`#` comments; keys\n"
      "  server, as, pki_dir, ca, cert, key, output; relative paths are "
      "from the file's folder.\n"
      "\nexit codes: 0 ok, 1 error, 2 usage, 3 refused by policy, 4 invalid "
      "request,\n"
      "  5 not authenticated, 6 custosd unavailable, 7 not found, 8 not "
      "verified,\n"
      "  9 not in a state for it (a grant ended, expired or revoked),\n"
      "  10 a limit reached (the rate limit: try again shortly; a grant's "
      "records)\n");
  return usage;
}

std::string CommandHelp(const std::vector<std::string>& args) {
  const Command* c = FindCommand(args);
  if (c == nullptr) return "";
  return absl::StrCat(
      "usage: custos [--as STAFF_ID | --token TOKEN] [--output table|json] ",
      c->group, c->verb ? " " : "", c->verb ? c->verb : "", " ", c->synopsis,
      "\n\nconnection flags and exit codes: custos help\n");
}

bool IsKnownCommand(const std::vector<std::string>& args) {
  return FindCommand(args) != nullptr;
}

int RunCommand(const std::vector<std::string>& args,
               const CommandOptions& options,
               const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
               std::ostream& err) {
  if (options.output != "table" && options.output != "json") {
    return UsageError(options, out, err, "--output: expected table or json");
  }
  const Command* command = FindCommand(args);
  if (command == nullptr) {
    const std::string unknown =
        absl::StrCat("unknown command \"", absl::StrJoin(args, " "), "\"");
    // A script reading JSON gets its error object, as for any usage error.
    if (options.output == "json") return UsageError(options, out, err, unknown);
    err << "custos: " << unknown << "\n\n" << Usage();
    return kExitUsage;
  }
  for (const std::string& flag : options.flags_given) {
    if (!TakesFlag(*command, flag)) {
      return UsageError(options, out, err,
                        absl::StrCat(CommandName(*command), " does not take --",
                                     flag, " (custos ", CommandName(*command),
                                     " --help lists what it does)"));
    }
  }
  return command->run(options, channel, out, err);
}

}  // namespace custos::cli
