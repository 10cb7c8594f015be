// The custos CLI's subcommands, as a library so tests can run them against a
// real gateway without a subprocess.
//
// Thread-compatible: one RunCommand at a time per output stream.
#ifndef CUSTOS_CLIENTS_CLI_COMMANDS_H_
#define CUSTOS_CLIENTS_CLI_COMMANDS_H_

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "audit/checkpoint.h"
#include "proto/custos/v1/audit.pb.h"

namespace custos::cli {

// Values of the command-line flags a subcommand may use.
struct CommandOptions {
  // The names of the flags given on the command line (without dashes): a
  // command refuses one it does not take, which would otherwise be ignored.
  std::vector<std::string> flags_given;
  // "table" or "json".
  std::string output = "table";
  std::string customer;
  std::string category;
  std::string reference;
  std::string note;
  // Comma-separated DataKind names, e.g. "ACCOUNT,CAMPAIGNS".
  std::string kinds;
  // e.g. "2h", "30m"; empty means the category's default.
  std::string duration;
  std::string staff;
  int page_size = 0;
  std::string page_token;
  // A customer's API token (customer calls), sent as a bearer token.
  std::string token;
  // trip, approval, consent.
  std::string country;
  std::string first_day;
  std::string last_day;
  std::string device;
  std::string trip;
  std::string request;
  std::string partner;
  // identity start / end.
  std::string user;
  std::string session;
  std::string action;
  std::string action_ref;
  bool approve = false;
  bool refuse = false;
  // access read / end / revoke.
  std::string grant;
  std::string kind;
  std::string record;
  std::string reason;
  bool active_only = false;
  // log prove / consistency; log prove needs an index (entry 0 is no
  // default).
  std::optional<uint64_t> index;
  uint64_t size = 0;
  uint64_t old_size = 0;
  // log erase.
  std::string subject;
  uint32_t older_than_days = 0;
  // verify: the log file to check offline, the pinned verifier key, and the
  // file keeping the last checkpoint seen. log prove takes the last two.
  std::string db;
  std::string verifier_key;
  std::string state_file;
  // verify --db: accept entries past the newest checkpoint (a copy of a
  // live log), counting them as unsigned, instead of failing.
  bool allow_unsigned_tail = false;
  // report: the period (days, both included), format, output file, the
  // policy and directory custosd runs with, and how to judge the hours.
  // log list: the period, days (UTC, both included) or RFC 3339 times
  // (`to` excluded).
  std::string from;
  std::string to;
  std::string format = "html";
  std::string out;
  std::string policy_file;
  std::string directory_file;
  std::string time_zone = "Europe/Amsterdam";
  std::string working_hours = "08:00-18:00";
  int top = 10;
  bool progress = false;
};

// Process exit codes, for scripts; README.md's table says the same.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,  // anything not below
  // A bad command line, flags or config file, or no identity to call with.
  kExitUsage = 2,
  kExitRefused = 3,  // PERMISSION_DENIED: the policy said no
  kExitInvalid = 4,  // INVALID_ARGUMENT: custosd rejected the request
  kExitUnauthenticated = 5,
  kExitUnavailable = 6,  // custosd unreachable, or its log not writable
  kExitNotFound = 7,
  kExitNotVerified = 8,  // the log or a proof failed verification
  // FAILED_PRECONDITION: what the call acts on is not in a state for it (a
  // grant ended, expired or revoked, a session no longer live); asking
  // again will not help, a new grant or session may.
  kExitNotInState = 9,
  // RESOURCE_EXHAUSTED: a limit was reached: the rate limit (try again
  // shortly) or a grant's records (ask for a new grant).
  kExitLimitReached = 10,
};

// The exit code for a call that ended with `code`.
int ExitCodeFor(grpc::StatusCode code);

// Tells a usage error: `message` on `err` and, when `output` is "json", as
// {"error": {"code": "USAGE", "message": ...}} on `out`. Returns kExitUsage.
int ReportUsageError(absl::string_view output, absl::string_view message,
                     std::ostream& out, std::ostream& err);

// What `log prove` checks of custosd's answer `proof` to `request`, from
// the entry's bytes up: that it proves the entry asked for, in the tree
// size asked for (any size when the request's is 0); that the entry's bytes
// hash to the leaf and carry that index; that the checkpoint is signed by
// `verifier_key`, names the key as its origin and is of the proof's size;
// and that the audit path leads to its root. Returns the checkpoint's body;
// DATA_LOSS naming what does not hold, or an error for a malformed key.
absl::StatusOr<audit::CheckpointBody> VerifyInclusionAnswer(
    const custos::v1::GetInclusionProofRequest& request,
    const custos::v1::InclusionProof& proof, const std::string& verifier_key);

// The usage text listing every subcommand.
std::string Usage();

// Runs `args` (e.g. {"access", "request"}) over `channel`; results go to
// `out`, errors to `err`. Returns an ExitCode: kExitUsage, before any call,
// for a flag given that the command does not take (those its synopsis in
// Usage() names, and the connection's), or one it needs and lacks.
int RunCommand(const std::vector<std::string>& args,
               const CommandOptions& options,
               const std::shared_ptr<grpc::Channel>& channel, std::ostream& out,
               std::ostream& err);

// The usage of one subcommand ("access request"), or "" if unknown.
std::string CommandHelp(const std::vector<std::string>& args);

// Whether `args` names a known subcommand (checked before connecting).
bool IsKnownCommand(const std::vector<std::string>& args);

}  // namespace custos::cli

#endif  // CUSTOS_CLIENTS_CLI_COMMANDS_H_
