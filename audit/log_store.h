// What the gateway needs from a log backend: durable appends with group
// commit, reads with filters and paging, and proofs. The SQLite store is
// in audit/sqlite/; others implement the same contract.
//
// Implementations are thread-safe.
#ifndef CUSTOS_AUDIT_LOG_STORE_H_
#define CUSTOS_AUDIT_LOG_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/custos/v1/audit.pb.h"

namespace custos::audit {

class LogStore {
 public:
  virtual ~LogStore() = default;

  using AppendDone = std::function<void(absl::StatusOr<custos::v1::LogEntry>)>;

  // Appends `entry`. The store sets format_version, index and prev_hash
  // (callers leave them unset), and calls `done` with the entry as stored
  // once it is durable, or with UNAVAILABLE (nothing appended) when the log
  // cannot be written: disk full, database locked, I/O error. A later append
  // succeeds once the cause is gone. Appends waiting together share one
  // transaction and one fsync. `done` runs on the store's writer thread and
  // must not block. Never blocks the caller.
  virtual void AppendAsync(custos::v1::LogEntry entry, AppendDone done) = 0;

  // AppendAsync, waiting for the outcome.
  absl::StatusOr<custos::v1::LogEntry> Append(custos::v1::LogEntry entry);

  // The number of durable entries.
  virtual uint64_t Size() const = 0;

  struct Filter {
    std::string customer_id;
    std::string actor_id;
    std::string category;
    custos::v1::Outcome outcome = custos::v1::OUTCOME_UNSPECIFIED;
    absl::Time from = absl::InfinitePast();
    absl::Time to = absl::InfiniteFuture();
  };
  struct Page {
    std::vector<custos::v1::LogEntry> entries;
    // Empty on the last page.
    std::string next_page_token;
    uint64_t log_size = 0;
  };

  // Entries matching every set field of `filter`, newest first, at most
  // `page_size`, continuing after `page_token` (from a previous Page).
  // INVALID_ARGUMENT naming page_token when it is not one this store issued.
  virtual absl::StatusOr<Page> List(const Filter& filter, int page_size,
                                    absl::string_view page_token) const = 0;

  // The entry at `index` and its stored bytes. OUT_OF_RANGE past the end.
  virtual absl::StatusOr<std::string> ReadEntryBytes(uint64_t index) const = 0;

  // The root of the tree over the first `size` entries, and proofs, per
  // RFC 9162. OUT_OF_RANGE when a size exceeds Size().
  virtual absl::StatusOr<std::string> RootHash(uint64_t size) const = 0;
  virtual absl::StatusOr<std::vector<std::string>> InclusionProof(
      uint64_t index, uint64_t size) const = 0;
  virtual absl::StatusOr<std::vector<std::string>> ConsistencyProof(
      uint64_t old_size, uint64_t new_size) const = 0;
};

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_LOG_STORE_H_
