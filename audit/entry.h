// Log entries as bytes: their deterministic serialization, their leaf hash,
// and the walk along the hash chain. See audit/FORMAT.md.
//
// Pure. The functions are thread-safe; a ChainVerifier is not.
#ifndef CUSTOS_AUDIT_ENTRY_H_
#define CUSTOS_AUDIT_ENTRY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/custos/v1/audit.pb.h"

namespace custos::audit {

// The entry layout this code writes.
inline constexpr uint32_t kFormatVersion = 1;

// The entry's bytes: deterministic protobuf serialization.
std::string SerializeEntry(const custos::v1::LogEntry& entry);

// SerializeEntry's bytes for an entry once its index and prev_hash are set,
// from `unlinked`, the SerializeEntry bytes of the same entry without them:
// deterministic serialization writes fields in number order, so the index
// (field 2) follows format_version (field 1) and the prev_hash (field 20,
// the highest) comes last. Lets appenders serialize in parallel and the
// log's single writer only link. A field numbered above 20 would break this;
// entry_test checks it.
std::string LinkEntryBytes(absl::string_view unlinked, uint64_t index,
                           absl::string_view prev_hash);

// The prev_hash of entry 0: 32 zero bytes.
std::string ZeroHash();

// Finds an entry's index (field 2) and prev_hash (field 20) in its bytes
// by walking the wire format, without building the message. False when the
// bytes are not well-formed protobuf. `prev_hash` points into `bytes`.
bool ScanLinks(absl::string_view bytes, uint64_t& index,
               absl::string_view& prev_hash);

// A commitment (field 19) of an entry, as views into the entry's bytes.
struct CommitmentView {
  absl::string_view field;
  absl::string_view digest;
};
// Finds an entry's commitments in its bytes, in order, into `commitments`
// (cleared first), as ScanLinks finds its links: what parsing the message
// would give, without building it. False when the bytes are not well-formed
// protobuf or a commitment's field name is not ASCII; then only parsing the
// message tells what it holds.
bool ScanCommitments(absl::string_view bytes,
                     std::vector<CommitmentView>& commitments);

// What an entry's row in the log's database repeats of its bytes, so that
// listings filter on columns instead of parsing every entry: the time in
// microseconds, the customer, the actor's id, the category, the outcome.
// Views point into the bytes.
struct LookupFields {
  int64_t time_us = 0;
  absl::string_view customer_id;
  absl::string_view actor_id;
  absl::string_view category;
  int32_t outcome = 0;
};
// An entry's time as its row's time_us column holds it: microseconds since
// the epoch, nanoseconds truncated (as protobuf's TimestampToMicroseconds),
// in unsigned arithmetic, since crafted bytes may hold any seconds.
inline int64_t TimeColumnMicros(int64_t seconds, int32_t nanos) {
  return static_cast<int64_t>(static_cast<uint64_t>(seconds) * 1000000u +
                              static_cast<uint64_t>(nanos / 1000));
}

// Finds an entry's LookupFields in its bytes, as ScanLinks finds its links,
// with what the message parser would make of them (a repeated field: the
// last wins; a repeated message: merged). False when the bytes, its time or
// its actor are not well-formed protobuf.
bool ScanLookupFields(absl::string_view bytes, LookupFields& fields);

// Walks a log's entries in order and checks each one's bytes, index and
// link to its predecessor.
class ChainVerifier {
 public:
  // Checks the entry stored at `position` (0, 1, 2, ...). DATA_LOSS naming
  // the entry and what is wrong: bytes that do not parse, an index that is
  // not the position (entries missing, inserted or reordered), a prev_hash
  // that is not the previous entry's leaf hash (an entry changed).
  absl::Status Next(uint64_t position, absl::string_view entry_bytes);
  // As Next, with the entry's links found already by ScanLinks (`scanned`
  // is what it returned) and its leaf hash (HashLeaf of its bytes): so the
  // bytes can be scanned and hashed elsewhere, and need not be kept.
  absl::Status NextScanned(uint64_t position, bool scanned, uint64_t index,
                           absl::string_view prev_hash,
                           absl::string_view leaf_hash);

  // The leaf hash of the last entry checked, or ZeroHash().
  const std::string& last_leaf_hash() const { return last_leaf_hash_; }
  uint64_t count() const { return count_; }

 private:
  uint64_t count_ = 0;
  std::string last_leaf_hash_ = ZeroHash();
};

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_ENTRY_H_
