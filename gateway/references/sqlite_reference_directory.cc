#include "gateway/references/sqlite_reference_directory.h"

#include "absl/strings/str_cat.h"
#include "common/sqlite_file.h"
#include "common/status_macros.h"

namespace custos::gateway {
namespace {

struct DemoReference {
  const char* id;
  custos::v1::ReferenceKind kind;
  const char* customer;
  bool open;
  const char* title;
};

// What the demo's ticket system, bug tracker and calendar hold.
constexpr DemoReference kDemoReferences[] = {
    {"SUP-1042", custos::v1::SUPPORT_TICKET, "acme", true,
     "Campaign stuck in 'sending'"},
    {"SUP-1043", custos::v1::SUPPORT_TICKET, "acme", true,
     "Import of subscribers fails"},
    {"SUP-0917", custos::v1::SUPPORT_TICKET, "acme", false,
     "Password reset (solved)"},
    {"SUP-2001", custos::v1::SUPPORT_TICKET, "bakkerij-jansen", true,
     "Newsletter template"},
    {"SUP-3001", custos::v1::SUPPORT_TICKET, "nordwind", true,
     "Bounce rate question"},
    {"SUP-4001", custos::v1::SUPPORT_TICKET, "fietsen-devries", true,
     "Segment counts look off"},
    {"BUG-7", custos::v1::BUG_REPORT, "acme", true,
     "Preview renders wrong charset"},
    {"BUG-8", custos::v1::BUG_REPORT, "fietsen-devries", true,
     "Unsubscribe link 404"},
    {"FEAT-12", custos::v1::FEATURE_REQUEST, "acme", true,
     "Custom field for loyalty tier"},
    {"ABUSE-3", custos::v1::ABUSE_REPORT, "acme", true,
     "Spam complaint from a recipient"},
    {"SIG-88", custos::v1::ABUSE_SIGNAL, "fietsen-devries", true,
     "Spike in hard bounces"},
    {"MEET-2026-11-25", custos::v1::MEETING, "acme", true,
     "Quarterly review with Acme"},
    {"MEET-2026-12-02", custos::v1::MEETING, "nordwind", true,
     "Onboarding call"},
};

// WAL: every access decision reads this file while the ticket system's
// side may write it. A read then costs a lock on the shared index instead
// of a lock on the file, a look for a hot journal and a read of its header,
// and a writer never blocks it.
constexpr char kSchema[] = R"sql(
  PRAGMA journal_mode=WAL;
  CREATE TABLE IF NOT EXISTS refs(
    id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    open INTEGER NOT NULL,
    title TEXT NOT NULL);
)sql";

absl::Status Error(sqlite3* db, absl::string_view context) {
  return SqliteUnavailable(db, "reference directory", context);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteReferenceDirectory>>
SqliteReferenceDirectory::Open(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(sqlite3 * db,
                          OpenSqliteFile(path, kSchema, "reference directory"));
  std::unique_ptr<SqliteReferenceDirectory> directory(
      new SqliteReferenceDirectory(db));
  sqlite3_stmt* count = nullptr;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM refs", -1, &count, nullptr);
  const bool empty =
      sqlite3_step(count) == SQLITE_ROW && sqlite3_column_int(count, 0) == 0;
  sqlite3_finalize(count);
  if (empty) {
    for (const DemoReference& r : kDemoReferences) {
      if (auto s = directory->Put({r.id, r.kind, r.customer, r.open}, r.title);
          !s.ok())
        return s;
    }
  }
  return directory;
}

SqliteReferenceDirectory::~SqliteReferenceDirectory() {
  MutexLock lock(&mu_);
  sqlite3_close_v2(db_);
}

absl::Status SqliteReferenceDirectory::Put(const policy::Reference& reference,
                                           absl::string_view title) {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "INSERT OR REPLACE INTO refs(id, kind, customer_id, open, title) "
      "VALUES(?1, ?2, ?3, ?4, ?5)");
  sqlite3_bind_text(stmt, 1, reference.id.data(), reference.id.size(),
                    SQLITE_TRANSIENT);
  sqlite3_bind_int(stmt, 2, reference.kind);
  sqlite3_bind_text(stmt, 3, reference.customer_id.data(),
                    reference.customer_id.size(), SQLITE_TRANSIENT);
  sqlite3_bind_int(stmt, 4, reference.open ? 1 : 0);
  sqlite3_bind_text(stmt, 5, title.data(), title.size(), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return Error(db_, "storing a reference");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<policy::Reference>> SqliteReferenceDirectory::Find(
    absl::string_view id) const {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "SELECT kind, customer_id, open FROM refs WHERE id = ?1");
  sqlite3_bind_text(stmt, 1, id.data(), id.size(), SQLITE_STATIC);
  const int rc = sqlite3_step(stmt);
  std::optional<policy::Reference> found;
  if (rc == SQLITE_ROW) {
    policy::Reference r;
    r.id = std::string(id);
    r.kind =
        static_cast<custos::v1::ReferenceKind>(sqlite3_column_int(stmt, 0));
    r.customer_id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
    r.open = sqlite3_column_int(stmt, 2) != 0;
    found = std::move(r);
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return Error(db_, "looking up a reference");
  return found;
}

}  // namespace custos::gateway
