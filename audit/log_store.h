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

// A personal value an entry commits to instead of holding it (FORMAT.md §5):
// the store keeps salt and value beside the entry until they are erased.
struct PersonalValue {
  // What it is: the gateway commits to "note", "source_ip", "actor_name",
  // "certificate_subject" and "erased_subject" (FORMAT.md §5 lists them).
  std::string field;
  std::string value;
  // Whose personal data it is (a staff or customer-user id, or the address
  // of a caller with neither), for erasure.
  std::string subject;
};

// A signed checkpoint as stored.
struct StoredCheckpoint {
  uint64_t size = 0;
  std::string root_hash;
  // The signed note, byte for byte.
  std::string note;
  absl::Time time;
};

// Signs the checkpoint of the tree of `size` entries with root `root_hash`
// and returns the signed note. Called on the store's writer thread.
using CheckpointSigner = std::function<absl::StatusOr<std::string>(
    uint64_t size, absl::string_view root_hash)>;

class LogStore {
 public:
  virtual ~LogStore() = default;

  using AppendDone = std::function<void(absl::StatusOr<custos::v1::LogEntry>)>;

  // Appends `entry`. The store sets format_version, index and prev_hash
  // (callers leave them unset) and a commitment for each of `personal`, and
  // calls `done` with the entry as stored once it is durable, or with
  // UNAVAILABLE (nothing appended) when the log cannot be written: disk
  // full, database locked, I/O error. A later append succeeds once the cause
  // is gone. Appends waiting together share one transaction and one fsync.
  // `done` runs on a thread of the store's, in the order of the appends (or
  // at once on the caller's, for an append refused before it is queued),
  // and must not block for long. Never blocks the caller.
  virtual void AppendAsync(custos::v1::LogEntry entry,
                           std::vector<PersonalValue> personal,
                           AppendDone done) = 0;

  // AppendAsync, waiting for the outcome.
  absl::StatusOr<custos::v1::LogEntry> Append(
      custos::v1::LogEntry entry, std::vector<PersonalValue> personal = {});

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
  // `page_size`, continuing after `page_token` (from a previous Page). A
  // page may hold fewer, even none, and still name a next page: a store may
  // bound the entries it looks at for one page, so that a filter few
  // entries match cannot make one call read the whole log. INVALID_ARGUMENT
  // naming page_token when it is not one this store issued.
  virtual absl::StatusOr<Page> List(const Filter& filter, int page_size,
                                    absl::string_view page_token) const = 0;

  // The stored bytes of the entry at `index`. OUT_OF_RANGE past the end.
  virtual absl::StatusOr<std::string> ReadEntryBytes(uint64_t index) const = 0;

  // The root of the tree over the first `size` entries, and proofs, per
  // RFC 9162. OUT_OF_RANGE when a size exceeds Size().
  virtual absl::StatusOr<std::string> RootHash(uint64_t size) const = 0;
  virtual absl::StatusOr<std::vector<std::string>> InclusionProof(
      uint64_t index, uint64_t size) const = 0;
  virtual absl::StatusOr<std::vector<std::string>> ConsistencyProof(
      uint64_t old_size, uint64_t new_size) const = 0;

  // The newest stored checkpoint; NOT_FOUND before the first.
  virtual absl::StatusOr<StoredCheckpoint> LatestCheckpoint() const = 0;
  // The stored checkpoint of exactly `size` entries; NOT_FOUND if none.
  virtual absl::StatusOr<StoredCheckpoint> CheckpointAt(
      uint64_t size) const = 0;
  // A checkpoint covering every entry durable now: the latest if it does,
  // else a new one, signed and stored before this returns. Blocks.
  // FAILED_PRECONDITION when the store has no signer.
  virtual absl::StatusOr<StoredCheckpoint> CheckpointNow() = 0;

  struct ErasureCount {
    uint64_t entries_touched = 0;
    uint64_t values_erased = 0;
    // The values are out of the database, but a reader kept the store from
    // dropping old copies of its pages (a WAL it could not truncate).
    bool old_copies_remain = false;
  };
  // Removes the values and salts of `subject`'s personal values (when
  // `subject` is set) or of every entry older than `before` (when
  // `subject` is empty), so that no copy stays in the database files.
  virtual absl::StatusOr<ErasureCount> Erase(absl::string_view subject,
                                             absl::Time before) = 0;
  // Erase, telling `done` its outcome later, from the store's own thread:
  // for callers on the store's threads (a step after an append), which
  // must not wait for the store.
  using EraseDone = std::function<void(absl::StatusOr<ErasureCount>)>;
  virtual void EraseAsync(std::string subject, absl::Time before,
                          EraseDone done) = 0;

  // Replaces full source addresses older than `before` by their masked form
  // (IPv4: last two octets, IPv6: last five hextets) and drops their salts;
  // erases one that does not parse as an address (it has no masked form).
  // Returns how many values it masked or erased.
  virtual absl::StatusOr<uint64_t> MaskSourceAddresses(absl::Time before) = 0;

  // The personal values of entry `index` still held (erased ones are gone).
  // `salt` is empty for a value that was masked.
  struct HeldValue {
    std::string field;
    std::string value;
    std::string salt;
  };
  virtual absl::StatusOr<std::vector<HeldValue>> PersonalValues(
      uint64_t index) const = 0;
};

// The masked form of a source address: IPv4 a.b.0.0, IPv6 with the last
// five hextets zero. Anything else becomes "".
std::string MaskAddress(absl::string_view address);

// Whether a held value is masked once older than the policy's age: a
// caller's source address, and an erased subject that is an address (the
// DPO erasing the values of a caller with no identity).
bool MaskedWithAge(absl::string_view field, absl::string_view value);

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_LOG_STORE_H_
