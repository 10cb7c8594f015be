#include "gateway/data/demo_customer_data.h"

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/sqlite_file.h"
#include "common/status_macros.h"

namespace custos::gateway {
namespace {

using custos::v1::DataKind;

constexpr int kSubscribersPerCustomer = 60;

constexpr const char* kFirstNames[] = {"Daan",  "Emma", "Sem",  "Julia",
                                       "Lucas", "Mila", "Finn", "Tess",
                                       "Levi",  "Sara", "Noah", "Zoë"};
constexpr const char* kLastNames[] = {
    "de Jong", "Jansen", "de Vries", "van den Berg", "Bakker",
    "Visser",  "Smit",   "Meijer",   "de Boer",      "Mulder"};
constexpr const char* kDomains[] = {"example.nl", "mail.example",
                                    "post.example.org"};

custos::v1::Record MakeRecord(
    std::string id,
    std::initializer_list<std::pair<const char*, std::string>> fields) {
  custos::v1::Record record;
  record.set_id(std::move(id));
  for (const auto& [name, value] : fields)
    (*record.mutable_fields())[name] = value;
  return record;
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c == ' ') c = '.';
    if (c >= 'A' && c <= 'Z') c = c - 'A' + 'a';
  }
  return s;
}

absl::Status SqlError(sqlite3* db, absl::string_view context) {
  return SqliteUnavailable(db, "customer data", context);
}

}  // namespace

absl::StatusOr<std::unique_ptr<DemoCustomerData>> DemoCustomerData::Open(
    const std::string& path, const custos::v1::Directory& directory) {
  // WAL: every read of customer data reads this file. A read then takes a
  // lock on the shared index instead of a lock on the file (a system call),
  // a look for a hot journal and a read of its header.
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite3 * db,
      OpenSqliteFile(
          path,
          "PRAGMA journal_mode=WAL;"
          "CREATE TABLE IF NOT EXISTS records(customer_id TEXT NOT NULL, kind "
          "INTEGER "
          "NOT NULL, record_id TEXT NOT NULL, record BLOB NOT NULL, PRIMARY "
          "KEY(customer_id, kind, record_id)) WITHOUT ROWID",
          "customer data"));
  std::unique_ptr<DemoCustomerData> data(new DemoCustomerData(db));
  sqlite3_stmt* count = nullptr;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM records", -1, &count, nullptr);
  const bool empty =
      sqlite3_step(count) == SQLITE_ROW && sqlite3_column_int(count, 0) == 0;
  sqlite3_finalize(count);
  if (empty) {
    if (auto s = data->Seed(directory); !s.ok()) return s;
  }
  return data;
}

DemoCustomerData::~DemoCustomerData() {
  MutexLock lock(&mu_);
  statements_.reset();
  sqlite3_close_v2(db_);
}

absl::Status DemoCustomerData::Insert(const std::string& customer,
                                      DataKind kind,
                                      const custos::v1::Record& record) {
  sqlite3_stmt* stmt = statements_->Get(
      "INSERT OR REPLACE INTO records(customer_id, kind, record_id, record) "
      "VALUES(?1, ?2, ?3, ?4)");
  const std::string bytes = record.SerializeAsString();
  sqlite3_bind_text(stmt, 1, customer.data(), customer.size(), SQLITE_STATIC);
  sqlite3_bind_int(stmt, 2, kind);
  sqlite3_bind_text(stmt, 3, record.id().data(), record.id().size(),
                    SQLITE_STATIC);
  sqlite3_bind_blob(stmt, 4, bytes.data(), bytes.size(), SQLITE_STATIC);
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE ? absl::OkStatus() : SqlError(db_, "seeding");
}

absl::Status DemoCustomerData::Seed(const custos::v1::Directory& directory) {
  MutexLock lock(&mu_);
  sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
  uint32_t n = 7;
  auto next = [&n] { return n = n * 1103515245u + 12345u, (n >> 8); };
  for (const auto& customer : directory.customers()) {
    const std::string& c = customer.customer_id();
    auto put = [&](DataKind kind, const custos::v1::Record& r) {
      return Insert(c, kind, r);
    };
    absl::Status s =
        put(custos::v1::ACCOUNT,
            MakeRecord("account",
                       {{"name", customer.name()},
                        {"plan", next() % 2 ? "Business" : "Starter"},
                        {"status", "active"},
                        {"sender_domain", absl::StrCat(c, ".example")}}));
    for (const auto& user : customer.users()) {
      if (s.ok()) {
        s = put(custos::v1::CUSTOMER_USERS,
                MakeRecord(
                    user.user_id(),
                    {{"name", user.display_name()},
                     {"email", user.email()},
                     {"role", user.user_id().find("owner") != std::string::npos
                                  ? "owner"
                                  : "editor"}}));
      }
    }
    for (int i = 0; i < kSubscribersPerCustomer && s.ok(); ++i) {
      const std::string first = kFirstNames[next() % 12];
      const std::string last = kLastNames[next() % 10];
      s = put(
          custos::v1::SUBSCRIBERS,
          MakeRecord(absl::StrCat("s", 1000 + i),
                     {{"name", absl::StrCat(first, " ", last)},
                      {"email", absl::StrCat(Lower(first), ".", Lower(last),
                                             "@", kDomains[next() % 3])},
                      {"status", next() % 10 ? "subscribed" : "unsubscribed"},
                      {"city", next() % 2 ? "Utrecht" : "Amsterdam"}}));
    }
    for (int i = 0; i < 5 && s.ok(); ++i) {
      s = put(
          custos::v1::CAMPAIGNS,
          MakeRecord(absl::StrCat("c", i + 1),
                     {{"subject", absl::StrCat("Nieuwsbrief week ", 40 + i)},
                      {"sent", absl::StrCat(1000 + next() % 9000)},
                      {"opened", absl::StrCat(200 + next() % 800)},
                      {"status", i == 4 ? "sending" : "sent"}}));
      if (s.ok()) {
        s = put(custos::v1::MESSAGES,
                MakeRecord(
                    absl::StrCat("m", i + 1),
                    {{"campaign", absl::StrCat("c", i + 1)},
                     {"body", absl::StrCat(
                                  "Beste {{name}}, dit is onze nieuwsbrief van "
                                  "week ",
                                  40 + i, ".")}}));
      }
    }
    for (int i = 0; i < 3 && s.ok(); ++i) {
      s = put(
          custos::v1::ABUSE_COMPLAINTS,
          MakeRecord(absl::StrCat("a", i + 1),
                     {{"reporter",
                       absl::StrCat("complainer", i, "@", kDomains[i % 3])},
                      {"campaign", absl::StrCat("c", 1 + i)},
                      {"reason", i ? "unsolicited" : "no unsubscribe link"}}));
    }
    for (int i = 0; i < 4 && s.ok(); ++i) {
      s = put(
          custos::v1::INVOICES,
          MakeRecord(absl::StrCat("INV-2026-", 100 + i),
                     {{"amount_eur", absl::StrCat(49 + next() % 200, ".00")},
                      {"status", i == 3 ? "open" : "paid"}}));
    }
    if (s.ok()) {
      s = put(custos::v1::BILLING_ADDRESSES,
              MakeRecord("billing", {{"name", customer.name()},
                                     {"street", "Oudegracht 12"},
                                     {"city", "Utrecht"},
                                     {"country", "NL"}}));
    }
    if (s.ok()) {
      s = put(custos::v1::PAYMENT_METHODS,
              MakeRecord("sepa", {{"type", "SEPA direct debit"},
                                  {"iban", "NL** **** **** 4321"}}));
    }
    if (!s.ok()) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return s;
    }
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqlError(db_, "seeding");
  }
  return absl::OkStatus();
}

absl::StatusOr<RecordPage> DemoCustomerData::Aggregates(
    absl::string_view customer_id) const {
  sqlite3_stmt* stmt = statements_->Get(
      "SELECT kind, count(*) FROM records WHERE customer_id = ?1 GROUP BY "
      "kind");
  sqlite3_bind_text(stmt, 1, customer_id.data(), customer_id.size(),
                    SQLITE_STATIC);
  custos::v1::Record totals;
  totals.set_id("aggregates");
  bool any = false;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    any = true;
    const auto kind = static_cast<DataKind>(sqlite3_column_int(stmt, 0));
    (*totals.mutable_fields())[absl::StrCat(custos::v1::DataKind_Name(kind),
                                            "_count")] =
        absl::StrCat(sqlite3_column_int(stmt, 1));
  }
  sqlite3_reset(stmt);
  // An error ends the rows as their end does: it is no customer without
  // data, nor are the counts before it all of them.
  if (rc != SQLITE_DONE) return SqlError(db_, "reading aggregates");
  if (!any)
    return absl::NotFoundError(
        absl::StrCat("customer_id: no data for ", customer_id));
  RecordPage page;
  page.records.push_back(std::move(totals));
  return page;
}

absl::StatusOr<RecordPage> DemoCustomerData::Read(
    absl::string_view customer_id, DataKind kind, int page_size,
    absl::string_view page_token, absl::string_view record_id) const {
  MutexLock lock(&mu_);
  // A token names the kind it pages ("r<kind>:<last record id>"): one of
  // another kind's pages would otherwise start this kind's list at a
  // record id of that other kind, skipping records without a word.
  const std::string prefix = absl::StrCat("r", static_cast<int>(kind), ":");
  if (kind == custos::v1::AGGREGATES) {
    if (!page_token.empty()) {
      return absl::InvalidArgumentError(
          "page_token: none expected; AGGREGATES is one page");
    }
    return Aggregates(customer_id);
  }
  std::string after;
  if (!page_token.empty()) {
    absl::string_view rest = page_token;
    if (!absl::ConsumePrefix(&rest, prefix) || rest.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token: expected a token from a previous page of ",
                       custos::v1::DataKind_Name(kind)));
    }
    after = std::string(rest);
  }
  sqlite3_stmt* stmt = nullptr;
  if (record_id.empty()) {
    stmt = statements_->Get(
        "SELECT record_id, record FROM records WHERE customer_id = ?1 AND "
        "kind = ?2 AND record_id > ?3 ORDER BY record_id LIMIT ?4");
    sqlite3_bind_text(stmt, 3, after.data(), after.size(), SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, page_size + 1);
  } else {
    stmt = statements_->Get(
        "SELECT record_id, record FROM records WHERE customer_id = ?1 AND "
        "kind = ?2 AND record_id = ?3");
    sqlite3_bind_text(stmt, 3, record_id.data(), record_id.size(),
                      SQLITE_STATIC);
  }
  sqlite3_bind_text(stmt, 1, customer_id.data(), customer_id.size(),
                    SQLITE_STATIC);
  sqlite3_bind_int(stmt, 2, kind);
  RecordPage page;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (static_cast<int>(page.records.size()) == page_size) {
      page.next_page_token = absl::StrCat(prefix, page.records.back().id());
      break;
    }
    custos::v1::Record record;
    record.ParseFromArray(sqlite3_column_blob(stmt, 1),
                          sqlite3_column_bytes(stmt, 1));
    page.records.push_back(std::move(record));
  }
  // Reset at once: a statement left running would hold its read open.
  sqlite3_reset(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return SqlError(db_, "reading records");
  return page;
}

std::optional<std::vector<std::string>> DemoCustomerData::FieldNames(
    custos::v1::DataKind kind) const {
  // As Seed writes them; aggregates are named by what they count.
  switch (kind) {
    case custos::v1::ACCOUNT:
      return std::vector<std::string>{"name", "plan", "status",
                                      "sender_domain"};
    case custos::v1::CUSTOMER_USERS:
      return std::vector<std::string>{"name", "email", "role"};
    case custos::v1::SUBSCRIBERS:
      return std::vector<std::string>{"name", "email", "status", "city"};
    case custos::v1::CAMPAIGNS:
      return std::vector<std::string>{"subject", "sent", "opened", "status"};
    case custos::v1::MESSAGES:
      return std::vector<std::string>{"campaign", "body"};
    case custos::v1::ABUSE_COMPLAINTS:
      return std::vector<std::string>{"reporter", "campaign", "reason"};
    case custos::v1::INVOICES:
      return std::vector<std::string>{"amount_eur", "status"};
    case custos::v1::BILLING_ADDRESSES:
      return std::vector<std::string>{"name", "street", "city", "country"};
    case custos::v1::PAYMENT_METHODS:
      return std::vector<std::string>{"type", "iban"};
    default:
      return std::nullopt;
  }
}

}  // namespace custos::gateway
