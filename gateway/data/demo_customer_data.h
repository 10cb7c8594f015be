// The demo's customer data: an e-mail marketing application's accounts,
// users, subscribers, campaigns, messages and abuse complaints, and the
// company's own billing data, in an SQLite file seeded with made-up but
// realistic records on first use.
//
// Thread-safe (one connection behind a mutex).
#ifndef CUSTOS_GATEWAY_DATA_DEMO_CUSTOMER_DATA_H_
#define CUSTOS_GATEWAY_DATA_DEMO_CUSTOMER_DATA_H_

#include <sqlite3.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "common/sqlite_statements.h"
#include "gateway/data/customer_data.h"
#include "proto/custos/v1/directory.pb.h"

namespace custos::gateway {

class DemoCustomerData final : public CustomerData {
 public:
  // Opens or creates the file; a new file is seeded for `directory`'s
  // customers (their users come from the directory).
  static absl::StatusOr<std::unique_ptr<DemoCustomerData>> Open(
      const std::string& path, const custos::v1::Directory& directory);
  ~DemoCustomerData() override;

  absl::StatusOr<RecordPage> Read(absl::string_view customer_id,
                                  custos::v1::DataKind kind, int page_size,
                                  absl::string_view page_token,
                                  absl::string_view record_id) const override;
  std::optional<std::vector<std::string>> FieldNames(
      custos::v1::DataKind kind) const override;

 private:
  explicit DemoCustomerData(sqlite3* db)
      : db_(db), statements_(std::make_unique<SqliteStatements>(db)) {}
  absl::Status Seed(const custos::v1::Directory& directory);
  absl::Status Insert(const std::string& customer, custos::v1::DataKind kind,
                      const custos::v1::Record& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<RecordPage> Aggregates(absl::string_view customer_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  // Every read runs one of a few queries: each is prepared once.
  std::unique_ptr<SqliteStatements> statements_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_DATA_DEMO_CUSTOMER_DATA_H_
