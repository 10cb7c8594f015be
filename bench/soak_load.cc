// Load for the fault-injection soak (bench/soak.sh): several threads call a
// running custosd over TLS, as three staff members, until SIGTERM or SIGINT,
// and record the outcome of every call, one line each, for soak_check.
//
// The mix: RequestAccess that the policy allows (anna.support, support;
// daan.developer, bug), each with a reference of its own that this process
// adds to custosd's reference directory first, so that every grant and every
// entry can be traced to exactly one call; RequestAccess that the policy
// refuses (carl.contractor, a contractor; also with a unique reference);
// ReadCustomerData under a grant the thread holds; EndGrant of one.
//
// Outcome lines (tab-separated): op, staff, reference, grant id, gRPC status
// code, log index (-1 when none came back) and, for UNAVAILABLE without an
// index, "log" when custosd said the log could not be written and
// "transport" otherwise (custosd was gone, say), else "-".
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "proto/custos/v1/access.grpc.pb.h"
#include "proto/custos/v1/policy.pb.h"

ABSL_FLAG(std::string, server, "localhost:7443", "custosd's address.");
ABSL_FLAG(std::string, pki_dir, ".custos/pki",
          "custosd's development PKI (ca.crt, clients/<id>.crt and .key).");
ABSL_FLAG(std::string, references_db, ".custos/references.db",
          "custosd's reference directory, where the unique references go.");
ABSL_FLAG(std::string, reference_prefix, "SOAK-",
          "Prefix of this run's references; must be new to the directory.");
ABSL_FLAG(int, references, 10000,
          "References of each kind added; when they run out, threads only "
          "read and end grants.");
ABSL_FLAG(int, threads, 8, "Concurrent callers.");
ABSL_FLAG(double, qps, 400,
          "Calls a second, all threads together; 0: as "
          "fast as answers come.");
ABSL_FLAG(std::string, out, "outcomes.tsv", "Where the outcome lines go.");
ABSL_FLAG(double, deadline_seconds, 10, "Deadline of each call.");

namespace custos::bench {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Adds `count` open references of `kind` for acme, named prefix + tag + n.
bool AddReferences(sqlite3* db, const std::string& prefix, char tag, int kind,
                   int count) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO refs(id, kind, customer_id, open, title) "
                         "VALUES(?1, ?2, 'acme', 1, 'soak')",
                         -1, &stmt, nullptr) != SQLITE_OK) {
    return false;
  }
  bool ok = true;
  for (int n = 0; n < count && ok; ++n) {
    const std::string id = absl::StrCat(prefix, std::string(1, tag), n);
    sqlite3_bind_text(stmt, 1, id.data(), id.size(), SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 2, kind);
    ok = sqlite3_step(stmt) == SQLITE_DONE;
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  return ok;
}

bool AddAllReferences(const std::string& path, const std::string& prefix,
                      int count) {
  sqlite3* db = nullptr;
  bool ok = sqlite3_open(path.c_str(), &db) == SQLITE_OK;
  if (ok) sqlite3_busy_timeout(db, 10000);
  ok = ok && sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) ==
                 SQLITE_OK;
  ok = ok && AddReferences(db, prefix, 'S', custos::v1::SUPPORT_TICKET, count);
  ok = ok && AddReferences(db, prefix, 'B', custos::v1::BUG_REPORT, count);
  ok = ok && sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  if (!ok) std::fprintf(stderr, "references: %s\n", sqlite3_errmsg(db));
  sqlite3_close(db);
  return ok;
}

struct Staff {
  std::string id;
  std::string category;  // empty: only refused requests
  char reference_tag;
  std::unique_ptr<custos::v1::StaffAccess::Stub> stub;
};

struct HeldGrant {
  int staff;
  std::string grant_id;
  std::string reference;
  int data_kind;
};

// Spreads the calls evenly over time, all threads together.
class Pacer {
 public:
  explicit Pacer(double qps)
      : interval_(qps > 0 ? absl::Seconds(1) / qps : absl::ZeroDuration()),
        next_(absl::Now()) {}
  void Wait() {
    if (interval_ == absl::ZeroDuration()) return;
    absl::Time at;
    {
      absl::MutexLock lock(&mu_);
      next_ = std::max(next_ + interval_, absl::Now() - absl::Seconds(1));
      at = next_;
    }
    absl::SleepFor(at - absl::Now());
  }

 private:
  const absl::Duration interval_;
  absl::Mutex mu_;
  absl::Time next_ ABSL_GUARDED_BY(mu_);
};

std::atomic<bool> stop{false};

class Caller {
 public:
  // `next_reference` holds one counter per staff member who is allowed.
  Caller(int number, std::vector<Staff>* staff,
         std::atomic<int>* next_reference, const std::string& prefix,
         int references, uint32_t seed)
      : number_(number),
        staff_(*staff),
        next_reference_(next_reference),
        prefix_(prefix),
        references_(references),
        random_(seed) {}

  void Run(Pacer& pacer) {
    while (!stop.load()) {
      pacer.Wait();
      if (stop.load()) break;
      const int draw = std::uniform_int_distribution<int>(0, 99)(random_);
      if (draw < 20 && !held_.empty()) {
        Read();
      } else if (draw < 25 && !held_.empty()) {
        End();
      } else if (draw < 40) {
        Request(2);  // refused: a contractor
      } else {
        Request(draw % 2);
      }
    }
  }

  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::unique_ptr<grpc::ClientContext> NewContext() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(
        absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_deadline_seconds))));
    return context;
  }

  // One outcome line; the index is the response's for OK, else the trailer's.
  void Record(absl::string_view op, const Staff& staff,
              absl::string_view reference, absl::string_view grant_id,
              const grpc::ClientContext& context, const grpc::Status& status,
              uint64_t ok_index) {
    int64_t index = -1;
    if (status.ok()) {
      index = static_cast<int64_t>(ok_index);
    } else {
      const auto& trailers = context.GetServerTrailingMetadata();
      auto it = trailers.find("custos-log-index");
      uint64_t parsed = 0;
      if (it != trailers.end() &&
          absl::SimpleAtoi(
              absl::string_view(it->second.data(), it->second.size()),
              &parsed)) {
        index = static_cast<int64_t>(parsed);
      }
    }
    std::string unavailable = "-";
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE && index < 0) {
      unavailable = absl::StrContains(status.error_message(),
                                      "audit log cannot be written")
                        ? "log"
                        : "transport";
    }
    lines_.push_back(absl::StrCat(op, "\t", staff.id, "\t", reference, "\t",
                                  grant_id.empty() ? "-" : grant_id, "\t",
                                  static_cast<int>(status.error_code()), "\t",
                                  index, "\t", unavailable));
  }

  void Request(int which) {
    Staff& staff = staff_[which];
    std::string reference;
    custos::v1::RequestAccessRequest request;
    request.set_customer_id("acme");
    if (staff.category.empty()) {
      // Refused whatever the reference; unique all the same.
      reference = absl::StrCat(prefix_, "X", number_, "-", refused_++);
      request.mutable_justification()->set_category("bug");
    } else {
      // Each number is drawn once per staff member, so each reference is
      // used by one call only.
      const int n = next_reference_[which].fetch_add(1);
      if (n >= references_) {
        if (!held_.empty()) Read();
        return;
      }
      reference = absl::StrCat(prefix_, std::string(1, staff.reference_tag), n);
      request.mutable_justification()->set_category(staff.category);
    }
    request.mutable_justification()->set_reference(reference);
    auto context = NewContext();
    custos::v1::RequestAccessResponse response;
    const grpc::Status status =
        staff.stub->RequestAccess(context.get(), request, &response);
    Record("request", staff, reference,
           status.ok() ? response.grant().grant_id() : "", *context, status,
           response.log_index());
    if (status.ok() && response.has_grant() &&
        response.grant().obligations().data_kinds_size() > 0) {
      held_.push_back({which, response.grant().grant_id(), reference,
                       response.grant().obligations().data_kinds(0)});
      if (held_.size() > 8) held_.erase(held_.begin());
    }
  }

  HeldGrant& Pick() {
    return held_[std::uniform_int_distribution<size_t>(
        0, held_.size() - 1)(random_)];
  }

  void Read() {
    const HeldGrant& grant = Pick();
    Staff& staff = staff_[grant.staff];
    custos::v1::ReadCustomerDataRequest request;
    request.set_grant_id(grant.grant_id);
    request.set_kind(static_cast<custos::v1::DataKind>(grant.data_kind));
    request.set_page_size(5);
    auto context = NewContext();
    custos::v1::ReadCustomerDataResponse response;
    const grpc::Status status =
        staff.stub->ReadCustomerData(context.get(), request, &response);
    Record("read", staff, grant.reference, grant.grant_id, *context, status,
           response.log_index());
  }

  void End() {
    const size_t at =
        std::uniform_int_distribution<size_t>(0, held_.size() - 1)(random_);
    const HeldGrant grant = held_[at];
    held_.erase(held_.begin() + at);
    Staff& staff = staff_[grant.staff];
    custos::v1::EndGrantRequest request;
    request.set_grant_id(grant.grant_id);
    auto context = NewContext();
    custos::v1::EndGrantResponse response;
    const grpc::Status status =
        staff.stub->EndGrant(context.get(), request, &response);
    Record("end", staff, grant.reference, grant.grant_id, *context, status,
           response.log_index());
  }

  const int number_;
  std::vector<Staff>& staff_;
  std::atomic<int>* next_reference_;
  const std::string prefix_;
  const int references_;
  std::mt19937 random_;
  uint64_t refused_ = 0;
  std::vector<HeldGrant> held_;
  std::vector<std::string> lines_;
};

int Run() {
  // Blocked before any thread starts, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string prefix = absl::GetFlag(FLAGS_reference_prefix);
  const int references = absl::GetFlag(FLAGS_references);
  if (!AddAllReferences(absl::GetFlag(FLAGS_references_db), prefix,
                        references)) {
    return 1;
  }
  const std::string pki = absl::GetFlag(FLAGS_pki_dir);
  const std::string ca = ReadFile(pki + "/ca.crt");
  std::vector<Staff> staff;
  for (auto [id, category, tag] :
       std::vector<std::tuple<std::string, std::string, char>>{
           {"anna.support", "support", 'S'},
           {"daan.developer", "bug", 'B'},
           {"carl.contractor", "", 'X'}}) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ca;
    tls.pem_cert_chain = ReadFile(absl::StrCat(pki, "/clients/", id, ".crt"));
    tls.pem_private_key = ReadFile(absl::StrCat(pki, "/clients/", id, ".key"));
    auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_server),
                                       grpc::SslCredentials(tls));
    staff.push_back({id, category, tag,
                     custos::v1::StaffAccess::NewStub(std::move(channel))});
  }

  std::atomic<int> next_reference[2] = {0, 0};
  Pacer pacer(absl::GetFlag(FLAGS_qps));
  std::random_device seeds;
  std::vector<std::unique_ptr<Caller>> callers;
  std::vector<std::thread> threads;
  for (int t = 0; t < absl::GetFlag(FLAGS_threads); ++t) {
    callers.push_back(std::make_unique<Caller>(t, &staff, next_reference,
                                               prefix, references, seeds()));
    threads.emplace_back(
        [&pacer, caller = callers.back().get()] { caller->Run(pacer); });
  }
  std::printf("load running\n");
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  stop = true;
  for (auto& thread : threads) thread.join();

  std::ofstream out(absl::GetFlag(FLAGS_out));
  size_t calls = 0;
  for (const auto& caller : callers) {
    for (const std::string& line : caller->lines()) out << line << "\n";
    calls += caller->lines().size();
  }
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", absl::GetFlag(FLAGS_out).c_str());
    return 1;
  }
  std::printf("load stopped after %zu calls\n", calls);
  return 0;
}

}  // namespace
}  // namespace custos::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return custos::bench::Run();
}
