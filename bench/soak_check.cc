// Checks the outcomes soak_load recorded against custosd's files, for the
// fault-injection soak (bench/soak.sh):
//
// - lost: a call came back with a log index (OK in the response, a refusal
//   in the custos-log-index trailer), but the log has no entry there, or the
//   entry there is another call's (action, staff, customer, reference, grant
//   or status code differ; an allowed RequestAccess answered UNAVAILABLE
//   because its grant could not be stored after the entry is "logged, not
//   served", and its grant must then not exist; so is an allowed read
//   answered UNAVAILABLE because its record count could not be stored);
// - refused but granted: a RequestAccess answered UNAVAILABLE because the log
//   could not be written, yet a grant with its (unique) reference exists;
// - unlogged grants: a grant in the grant store that no allowed RequestAccess
//   entry names, so it could be listed and read under with no record of how
//   it was issued.
//
// Prints one line of counts ("key=value ...") and up to 20 findings, and
// exits 1 when anything is lost, refused but granted or unlogged. Reads the
// files only; custosd may run meanwhile.
#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "proto/custos/v1/access.pb.h"
#include "proto/custos/v1/audit.pb.h"

ABSL_FLAG(std::string, db, ".custos/audit.db", "custosd's audit log.");
ABSL_FLAG(std::string, grants, ".custos/grants.db", "custosd's grant store.");

namespace custos::bench {
namespace {

// What the check needs of one entry.
struct Entry {
  std::string action;
  std::string actor;
  std::string customer;
  std::string reference;
  std::string grant_id;
  int status_code = 0;
  bool allowed = false;
};

struct Findings {
  std::vector<std::string> lines;
  void Add(std::string line) {
    if (lines.size() < 20) lines.push_back(std::move(line));
  }
};

bool ForEachRow(const std::string& path, const char* sql,
                const std::function<void(sqlite3_stmt*)>& row) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), sqlite3_errmsg(db));
    sqlite3_close(db);
    return false;
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    row(stmt);
    rc = SQLITE_OK;
  }
  const bool ok = rc == SQLITE_DONE;
  if (!ok) std::fprintf(stderr, "%s: %s\n", path.c_str(), sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return ok;
}

const char* ActionOf(const std::string& op) {
  if (op == "request") return "StaffAccess.RequestAccess";
  if (op == "read") return "StaffAccess.ReadCustomerData";
  if (op == "end") return "StaffAccess.EndGrant";
  return "?";
}

int Run(const std::vector<char*>& outcome_files) {
  // Every entry, by index; allowed RequestAccess entries by grant; and
  // RequestAccess entries by reference.
  absl::flat_hash_map<int64_t, Entry> entries;
  std::set<std::string> granted_in_log;
  absl::flat_hash_map<std::string, int> requests_by_reference;
  // Custos.NotApplied entries, by the index of the entry each names.
  absl::flat_hash_map<int64_t, int64_t> not_applied;
  if (!ForEachRow(absl::GetFlag(FLAGS_db), "SELECT idx, entry FROM entries",
                  [&](sqlite3_stmt* stmt) {
                    custos::v1::LogEntry proto;
                    proto.ParseFromArray(sqlite3_column_blob(stmt, 1),
                                         sqlite3_column_bytes(stmt, 1));
                    Entry& e = entries[sqlite3_column_int64(stmt, 0)];
                    e.action = proto.action();
                    e.actor = proto.actor().id();
                    e.customer = proto.customer_id();
                    e.reference = proto.reference();
                    e.grant_id = proto.grant_id();
                    e.status_code = proto.status_code();
                    e.allowed = proto.outcome() == custos::v1::OUTCOME_ALLOWED;
                    if (e.action == "StaffAccess.RequestAccess") {
                      ++requests_by_reference[e.reference];
                      if (e.allowed) granted_in_log.insert(e.grant_id);
                    }
                    int64_t named;
                    if (e.action == "Custos.NotApplied" &&
                        absl::SimpleAtoi(
                            absl::StripPrefix(proto.resource(), "entry/"),
                            &named)) {
                      not_applied[named] = sqlite3_column_int64(stmt, 0);
                    }
                  })) {
    return 2;
  }
  // Every grant, and the grants by reference.
  absl::flat_hash_map<std::string, std::string> grant_states;
  absl::flat_hash_map<std::string, std::vector<std::string>>
      grants_by_reference;
  if (!ForEachRow(
          absl::GetFlag(FLAGS_grants), "SELECT grant_id, grant FROM grants",
          [&](sqlite3_stmt* stmt) {
            custos::v1::Grant grant;
            grant.ParseFromArray(sqlite3_column_blob(stmt, 1),
                                 sqlite3_column_bytes(stmt, 1));
            grant_states[grant.grant_id()] =
                custos::v1::GrantState_Name(grant.state());
            grants_by_reference[grant.justification().reference()].push_back(
                grant.grant_id());
          })) {
    return 2;
  }

  Findings findings;
  uint64_t outcomes = 0, ok = 0, refused_logged = 0, unavailable_log = 0,
           unavailable_logged = 0, transport = 0, other = 0, checked = 0,
           lost = 0, refused_but_granted = 0, refused_but_logged = 0,
           logged_not_served = 0, ends_not_served = 0, reads_not_served = 0,
           not_served_recorded = 0;
  for (const char* file : outcome_files) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      const std::vector<std::string> f = absl::StrSplit(line, '\t');
      int code = 0;
      int64_t index = -1;
      if (f.size() != 7 || !absl::SimpleAtoi(f[4], &code) ||
          !absl::SimpleAtoi(f[5], &index)) {
        findings.Add(absl::StrCat(file, ": unreadable line: ", line));
        ++lost;
        continue;
      }
      const std::string &op = f[0], &staff = f[1], &reference = f[2],
                        &grant_id = f[3], &unavailable = f[6];
      ++outcomes;
      constexpr int kUnavailable = 14;
      if (code == 0) {
        ++ok;
      } else if (index >= 0) {
        (code == kUnavailable ? unavailable_logged : refused_logged)++;
      } else if (unavailable == "log") {
        ++unavailable_log;
      } else if (unavailable == "transport") {
        ++transport;
      } else {
        ++other;
      }

      if (index >= 0) {
        ++checked;
        auto it = entries.find(index);
        std::string wrong;
        if (it == entries.end()) {
          wrong = "no such entry";
        } else {
          const Entry& e = it->second;
          if (e.action != ActionOf(op)) wrong += " action " + e.action;
          if (e.actor != staff) wrong += " actor " + e.actor;
          if (e.customer != "acme") wrong += " customer " + e.customer;
          if (e.reference != reference) wrong += " reference " + e.reference;
          if (grant_id != "-" && e.grant_id != grant_id) {
            wrong += " grant " + e.grant_id;
          }
          const bool not_served = e.status_code == 0 && code == kUnavailable;
          // A second entry records that it was not applied, unless that
          // could not be written either (the disk still full).
          if (not_served && not_applied.contains(index)) ++not_served_recorded;
          if (not_served && e.action == "StaffAccess.RequestAccess") {
            // Allowed and logged, but the grant could not be stored after
            // the entry (AuditedCall::AfterLogged): logged, not served.
            ++logged_not_served;
            if (grant_states.contains(e.grant_id)) {
              wrong += " grant " + e.grant_id + " stored after all";
            }
          } else if (not_served && e.action == "StaffAccess.EndGrant") {
            // Logged, but the grant's end could not be stored after the
            // entry: the grant must still be as it was.
            ++ends_not_served;
            if (grant_states[e.grant_id] == "GRANT_ENDED") {
              wrong += " grant " + e.grant_id + " ended after all";
            }
          } else if (not_served && e.action == "StaffAccess.ReadCustomerData") {
            // Logged, but the read's record count could not be stored
            // after the entry: answered UNAVAILABLE, no record served.
            ++reads_not_served;
          } else if (e.status_code != code) {
            wrong += absl::StrCat(" status ", e.status_code);
          }
        }
        if (!wrong.empty()) {
          ++lost;
          findings.Add(
              absl::StrCat("LOST: ", line, ": entry #", index, ":", wrong));
        }
      }
      if (op == "request" && code == kUnavailable && unavailable == "log") {
        // Refused because the log could not be written: nothing may have
        // been granted for it.
        if (auto g = grants_by_reference.find(reference);
            g != grants_by_reference.end()) {
          ++refused_but_granted;
          findings.Add(absl::StrCat("REFUSED BUT GRANTED: ", line, ": grant ",
                                    g->second.front(), " (",
                                    grant_states[g->second.front()], ")"));
        }
        if (requests_by_reference.contains(reference)) ++refused_but_logged;
      }
      if (op == "request" && requests_by_reference[reference] > 1) {
        ++lost;
        findings.Add(absl::StrCat("DUPLICATE: ", line, ": ",
                                  requests_by_reference[reference],
                                  " entries with this reference"));
      }
    }
  }

  uint64_t unlogged = 0;
  for (const auto& [grant_id, state] : grant_states) {
    if (granted_in_log.count(grant_id) == 0) {
      ++unlogged;
      findings.Add(absl::StrCat("UNLOGGED GRANT: ", grant_id, " (", state,
                                ") has no allowed RequestAccess entry"));
    }
  }

  std::printf(
      "outcomes=%lu ok=%lu refused_logged=%lu unavailable_log=%lu "
      "unavailable_logged=%lu transport=%lu other=%lu entries_checked=%lu "
      "lost=%lu refused_but_granted=%lu unlogged_grants=%lu "
      "refused_but_logged=%lu logged_not_served=%lu ends_not_served=%lu "
      "reads_not_served=%lu not_served_recorded=%lu entries=%zu "
      "grants=%zu\n",
      outcomes, ok, refused_logged, unavailable_log, unavailable_logged,
      transport, other, checked, lost, refused_but_granted, unlogged,
      refused_but_logged, logged_not_served, ends_not_served, reads_not_served,
      not_served_recorded, entries.size(), grant_states.size());
  for (const std::string& finding : findings.lines) {
    std::printf("  %s\n", finding.c_str());
  }
  return lost + refused_but_granted + unlogged == 0 ? 0 : 1;
}

}  // namespace
}  // namespace custos::bench

int main(int argc, char** argv) {
  std::vector<char*> files = absl::ParseCommandLine(argc, argv);
  files.erase(files.begin());
  return custos::bench::Run(files);
}
