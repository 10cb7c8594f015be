// Reading and writing whole files with errors that name the path, and
// writing so that a reader, or the next start after a crash, sees all of a
// file or none of it.
#ifndef CUSTOS_COMMON_FILES_H_
#define CUSTOS_COMMON_FILES_H_

#include <sys/types.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos {

// An errno as a status naming `path`: PERMISSION_DENIED, NOT_FOUND or
// UNAVAILABLE.
absl::Status FileError(absl::string_view path, absl::string_view what,
                       int error);

// The directory part of `path`: "." for a bare name.
std::string DirectoryOf(const std::string& path);

absl::StatusOr<std::string> ReadFile(const std::string& path);

// A file written beside `path` (as "<path>.tmp.XXXXXX") and renamed over it
// by Commit, synced first and its directory after. Dropped without Commit,
// it leaves nothing behind. The temporary file is created 0600, so a key is
// never readable by others, not even while it is being written.
//
// A crash (or a kill) before Commit or the drop leaves the temporary file,
// which may hold part of a key: creating the next AtomicFile for the same
// `path` removes such files. Each AtomicFile holds an exclusive flock on
// its temporary file while it lives, which goes with its process, so a
// file still being written, by this process or another, is left alone.
// Thread-compatible.
class AtomicFile {
 public:
  // UNAVAILABLE, PERMISSION_DENIED or NOT_FOUND (FileError) naming the
  // temporary file when it cannot be created.
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Create(
      const std::string& path, mode_t mode);
  ~AtomicFile();

  std::ostream& stream() { return stream_; }
  absl::Status Commit();

 private:
  AtomicFile(std::string path, std::string temp, int fd, mode_t mode)
      : path_(std::move(path)), temp_(std::move(temp)), fd_(fd), mode_(mode) {}

  const std::string path_;
  const std::string temp_;
  // The temporary file, locked while this lives.
  const int fd_;
  const mode_t mode_;
  std::ofstream stream_;
  bool committed_ = false;
};

// Writes `contents` to `path` with `mode` through an AtomicFile.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, mode_t mode);

}  // namespace custos

#endif  // CUSTOS_COMMON_FILES_H_
