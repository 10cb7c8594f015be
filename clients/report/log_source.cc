#include "clients/report/log_source.h"

#include <atomic>
#include <optional>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "audit/checkpoint.h"
#include "audit/note.h"
#include "audit/sqlite/offline_verifier.h"
#include "audit/sqlite/sqlite.h"
#include "common/openssl.h"
#include "common/status_macros.h"

namespace custos::report {
namespace {

constexpr uint64_t kProgressEvery = 1 << 16;

// The size and root the previous report's checkpoint claims, its signature
// checked when a key is pinned.
absl::StatusOr<audit::CheckpointBody> OpenPrevious(
    const std::string& note, const std::string& verifier_key) {
  std::string text;
  if (!verifier_key.empty()) {
    CUSTOS_ASSIGN_OR_RETURN(audit::NoteVerifier verifier,
                            audit::NoteVerifier::FromVerifierKey(verifier_key));
    CUSTOS_ASSIGN_OR_RETURN(text, verifier.Open(note));
  } else {
    const size_t split = note.find("\n\n");
    if (split == std::string::npos)
      return absl::InvalidArgumentError("not a signed note");
    text = note.substr(0, split + 1);
  }
  return audit::ParseCheckpointBody(text);
}

void CheckPrevious(const SourceOptions& options,
                   const audit::VerifyReport& verified,
                   const audit::CheckpointBody& previous, LogState& log) {
  if (previous.size > verified.entries) {
    log.consistency_detail = absl::StrCat(
        "the previous report saw ", previous.size, " entries; the log now has ",
        verified.entries, ": entries were removed");
  } else if (previous.size > 0 && verified.root_at_size != previous.root_hash) {
    log.consistency_detail = absl::StrCat(
        "the first ", previous.size,
        " entries no longer give the root the previous report saw: the log "
        "was rewritten");
  } else {
    log.consistent_with_previous = true;
    log.consistency_detail = absl::StrCat(
        "the log extends the previous report's checkpoint (", previous.size,
        " entries) by ", verified.entries - previous.size, " entries");
  }
}

}  // namespace

absl::StatusOr<Report> BuildReport(const SourceOptions& options,
                                   ReportBuilder& builder) {
  CUSTOS_ASSIGN_OR_RETURN(
      audit::sqlite::Database db,
      audit::sqlite::Open(options.db, SQLITE_OPEN_READONLY));
  sqlite3_busy_timeout(db.get(), 1000);
  // The report covers the entries that the newest checkpoint signs when it
  // starts. A log being written ends up to a second's worth of entries past
  // it, which no signature covers yet (verification would refuse them as a
  // tail anyone with the file could have written); those, and entries
  // appended after this point, are left to the next report.
  uint64_t total = 0;
  {
    CUSTOS_ASSIGN_OR_RETURN(
        audit::sqlite::Statement count,
        audit::sqlite::Prepare(
            db.get(),
            "SELECT min(coalesce((SELECT max(idx) + 1 FROM entries), 0), "
            "coalesce((SELECT max(size) FROM checkpoints), 0))"));
    if (sqlite3_step(count.get()) == SQLITE_ROW)
      total = sqlite3_column_int64(count.get(), 0);
  }

  std::optional<audit::CheckpointBody> previous;
  absl::Status previous_status;
  if (!options.previous_note.empty()) {
    auto opened = OpenPrevious(options.previous_note, options.verifier_key);
    if (opened.ok()) {
      previous = *std::move(opened);
    } else {
      previous_status = opened.status();
    }
  }

  // Verification runs beside the scan: each is one sequential pass, and the
  // machine has a core for each.
  std::atomic<uint64_t> verified_count{0};
  absl::StatusOr<audit::VerifyReport> verified;
  std::thread verifier([&] {
    audit::VerifyOptions verify;
    verify.verifier_key = options.verifier_key;
    verify.progress = [&](uint64_t done, uint64_t) {
      verified_count.store(done, std::memory_order_relaxed);
    };
    if (previous.has_value()) verify.root_at_size = previous->size;
    // Checked all the same; counted below as left to the next report.
    verify.unsigned_tail_ok = true;
    verified = audit::VerifySqliteLog(options.db, verify);
  });

  absl::Status scan_status;
  {
    auto entries = audit::sqlite::Prepare(
        db.get(), "SELECT entry FROM entries WHERE idx < ? ORDER BY idx");
    if (!entries.ok()) {
      scan_status = entries.status();
    } else {
      sqlite3_bind_int64(entries->get(), 1, static_cast<int64_t>(total));
      custos::v1::LogEntry entry;
      uint64_t scanned = 0;
      int rc;
      while ((rc = sqlite3_step(entries->get())) == SQLITE_ROW) {
        const void* blob = sqlite3_column_blob(entries->get(), 0);
        const int size = sqlite3_column_bytes(entries->get(), 0);
        if (!entry.ParseFromArray(blob, size)) {
          scan_status = absl::DataLossError(
              absl::StrCat("entry ", scanned, ": does not parse"));
          break;
        }
        builder.Add(entry);
        if (++scanned % kProgressEvery == 0 && options.progress) {
          options.progress(scanned, verified_count.load(), total);
        }
      }
      if (scan_status.ok() && rc != SQLITE_DONE)
        scan_status = audit::sqlite::Error(db.get(), rc, "reading entries");
      if (options.progress)
        options.progress(scanned, verified_count.load(), total);
    }
  }
  verifier.join();
  CUSTOS_RETURN_IF_ERROR(scan_status);
  if (options.progress) options.progress(total, total, total);

  Report report = builder.Finish();
  LogState& log = report.log;
  log.signatures_checked = !options.verifier_key.empty();
  log.previous_note = options.previous_note;
  log.has_previous = !options.previous_note.empty();
  if (!verified.ok()) {
    log.problem = std::string(verified.status().message());
    log.entries = total;
    if (log.has_previous)
      log.consistency_detail = "not checked: " + log.problem;
    return report;
  }
  log.verified = true;
  log.entries = verified->entries;
  log.covered_entries = total;
  log.checkpoint_size = verified->latest_checkpoint_size;
  log.checkpoint_note = verified->latest_checkpoint_note;
  if (auto body = audit::ParseCheckpointBody(
          log.checkpoint_note.substr(0, log.checkpoint_note.find("\n\n") + 1));
      body.ok()) {
    log.checkpoint_root_hex = HexEncode(body->root_hash);
  }
  if (log.has_previous) {
    if (!previous_status.ok()) {
      log.consistency_detail =
          absl::StrCat("the previous report's checkpoint does not open: ",
                       previous_status.message());
    } else {
      CheckPrevious(options, *verified, *previous, log);
    }
  }
  return report;
}

absl::Status ForEachEntry(
    const std::string& db_path, uint64_t first, uint64_t last,
    absl::FunctionRef<void(const custos::v1::LogEntry&)> visit) {
  CUSTOS_ASSIGN_OR_RETURN(audit::sqlite::Database db,
                          audit::sqlite::Open(db_path, SQLITE_OPEN_READONLY));
  sqlite3_busy_timeout(db.get(), 1000);
  CUSTOS_ASSIGN_OR_RETURN(
      audit::sqlite::Statement entries,
      audit::sqlite::Prepare(
          db.get(),
          "SELECT idx, entry FROM entries WHERE idx BETWEEN ? AND "
          "? ORDER BY idx"));
  sqlite3_bind_int64(entries.get(), 1, static_cast<int64_t>(first));
  sqlite3_bind_int64(entries.get(), 2, static_cast<int64_t>(last));
  custos::v1::LogEntry entry;
  int rc;
  while ((rc = sqlite3_step(entries.get())) == SQLITE_ROW) {
    if (!entry.ParseFromArray(sqlite3_column_blob(entries.get(), 1),
                              sqlite3_column_bytes(entries.get(), 1))) {
      return absl::DataLossError(
          absl::StrCat("entry ", sqlite3_column_int64(entries.get(), 0),
                       ": does not parse"));
    }
    visit(entry);
  }
  if (rc != SQLITE_DONE)
    return audit::sqlite::Error(db.get(), rc, "reading entries");
  return absl::OkStatus();
}

}  // namespace custos::report
