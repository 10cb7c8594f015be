// Checks a log file offline, trusting nothing stored but what the checks
// need: it walks the chain from entry 0, checks each stored leaf hash,
// rebuilds the Merkle tree and compares every stored subtree, checks every
// stored checkpoint's root and (given a pinned verifier key) its signature
// and that the newest one covers every entry, checks each personal value
// still held against its entry's commitment, and checks that each entry's
// row and the listing table file the entry where its bytes say (customer,
// actor, category, outcome, time, each as the SQLite type listings look
// for), so that filtered listings miss nothing.
//
// Reads through read-only connections of its own; thread-compatible.
#ifndef CUSTOS_AUDIT_SQLITE_OFFLINE_VERIFIER_H_
#define CUSTOS_AUDIT_SQLITE_OFFLINE_VERIFIER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace custos::audit {

struct VerifyOptions {
  // The pinned verifier key ("name+keyid+base64"). Empty skips signatures,
  // and the report says so.
  std::string verifier_key;
  // Called now and then with entries checked and entries in all, on the
  // calling thread.
  std::function<void(uint64_t checked, uint64_t total)> progress;
  // When not zero, VerifyReport.root_at_size is the root over the first
  // `root_at_size` entries: what an older checkpoint of that size must say.
  uint64_t root_at_size = 0;
  // Entries are read and hashed in batches of this many by two threads, each
  // on a connection of its own, and checked in order on the calling thread.
  // Any size gives the same report.
  size_t batch_size = 8192;
  // Only entries up to the newest checkpoint are signed: whoever can write
  // the file can rewrite those after it, chain, leaf hashes and tree
  // included. With a verifier key such a tail fails verification, unless
  // this is set: for a copy of a live log, whose newest entries wait for
  // the next checkpoint (at most the store's checkpoint_interval). The
  // report then counts them in unsigned_entries.
  bool unsigned_tail_ok = false;
};

struct VerifyReport {
  uint64_t entries = 0;
  uint64_t checkpoints = 0;
  bool signatures_checked = false;
  uint64_t values_checked = 0;
  // The entries whose rows in the listing table were checked: those the
  // log's writer had listed (its listed_below). Listings scan the rest.
  uint64_t listed_entries = 0;
  // The root over all entries, and the size of the newest checkpoint.
  std::string root_hash;
  uint64_t latest_checkpoint_size = 0;
  // Entries past the newest checkpoint: covered by no signature (see
  // VerifyOptions.unsigned_tail_ok).
  uint64_t unsigned_entries = 0;
  // The newest stored checkpoint's signed note, as checked.
  std::string latest_checkpoint_note;
  // See VerifyOptions.root_at_size; empty when the log is shorter.
  std::string root_at_size;
};

// OK with a report, or DATA_LOSS naming the first entry, node, checkpoint or
// value that is wrong and how: changed, missing, reordered, inserted, bad
// signature, truncated, or (with a verifier key) not covered by any
// checkpoint. UNAVAILABLE when the file cannot be read.
absl::StatusOr<VerifyReport> VerifySqliteLog(const std::string& path,
                                             const VerifyOptions& options = {});

// VerifySqliteLog without a key or progress, as a status.
absl::Status VerifySqliteLogFile(const std::string& path);

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_SQLITE_OFFLINE_VERIFIER_H_
