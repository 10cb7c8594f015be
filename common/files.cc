#include "common/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace custos {

absl::Status FileError(absl::string_view path, absl::string_view what,
                       int error) {
  const std::string message =
      absl::StrCat(path, ": ", what, ": ", std::strerror(error));
  switch (error) {
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    default:
      return absl::UnavailableError(message);
  }
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(path, "cannot open", errno);
  std::string contents;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return FileError(path, "cannot read", error);
    }
    contents.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return contents;
}

namespace {

// Whether `name` is one of the temporary files mkostemp makes from
// `prefix` + "XXXXXX" (six letters or digits).
bool IsTemporaryName(absl::string_view name, absl::string_view prefix) {
  if (name.size() != prefix.size() + 6 || !absl::StartsWith(name, prefix)) {
    return false;
  }
  for (const char c : name.substr(prefix.size())) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Whether `fd` is the file `name` now names.
bool StillNamed(int fd, const std::string& name) {
  struct stat by_fd;
  struct stat by_name;
  return fstat(fd, &by_fd) == 0 && lstat(name.c_str(), &by_name) == 0 &&
         by_fd.st_dev == by_name.st_dev && by_fd.st_ino == by_name.st_ino;
}

// Removes the temporary files of `path` that no AtomicFile holds: left by a
// crash. Best effort: one that cannot be removed stays, and the new file is
// written all the same.
void RemoveStaleTemporaryFiles(const std::string& path) {
  const std::string dir = DirectoryOf(path);
  const size_t slash = path.rfind('/');
  const std::string prefix = absl::StrCat(
      slash == std::string::npos ? path : path.substr(slash + 1), ".tmp.");
  std::vector<std::string> stale;
  if (DIR* d = opendir(dir.c_str()); d != nullptr) {
    while (const dirent* entry = readdir(d)) {
      if (IsTemporaryName(entry->d_name, prefix)) {
        stale.push_back(absl::StrCat(dir, "/", entry->d_name));
      }
    }
    closedir(d);
  }
  for (const std::string& name : stale) {
    const int fd =
        open(name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    // Unlocked, no AtomicFile holds it; and it is the file the name still
    // gives, not one committed in between.
    struct stat st;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
        S_ISREG(st.st_mode) && StillNamed(fd, name)) {
      unlink(name.c_str());
    }
    close(fd);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Create(
    const std::string& path, mode_t mode) {
  RemoveStaleTemporaryFiles(path);
  // Another writer's cleanup may take the new file between its creation
  // and its lock (it was not locked yet): then it is made again. Once
  // locked, and still named, no cleanup takes it.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string temp = path + ".tmp.XXXXXX";
    const int fd = mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) return FileError(temp, "cannot create", errno);
    int locked;
    while ((locked = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
    }
    if (locked != 0) {
      const int error = errno;
      close(fd);
      unlink(temp.c_str());
      return FileError(temp, "cannot lock", error);
    }
    if (!StillNamed(fd, temp)) {
      close(fd);
      continue;
    }
    std::unique_ptr<AtomicFile> file(new AtomicFile(path, temp, fd, mode));
    file->stream_.open(temp, std::ios::binary | std::ios::trunc);
    if (!file->stream_) return FileError(temp, "cannot open", errno);
    return file;
  }
  return absl::UnavailableError(absl::StrCat(
      path, ".tmp.*: the temporary file was removed as it was created"));
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    stream_.close();
    unlink(temp_.c_str());
  }
  close(fd_);
}

absl::Status AtomicFile::Commit() {
  stream_.flush();
  const bool written = static_cast<bool>(stream_);
  stream_.close();
  if (!written || stream_.fail()) {
    return absl::UnavailableError(
        absl::StrCat(temp_, ": cannot write (is the disk full?)"));
  }
  if (fchmod(fd_, mode_) != 0 || fsync(fd_) != 0) {
    return FileError(temp_, "cannot sync", errno);
  }
  if (rename(temp_.c_str(), path_.c_str()) != 0) {
    return FileError(path_, "cannot rename the temporary file into place",
                     errno);
  }
  committed_ = true;
  // The rename itself must survive a crash too.
  const std::string dir = DirectoryOf(path_);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return FileError(dir, "cannot open", errno);
  if (fsync(dir_fd) != 0 && errno != EINVAL) {
    const int error = errno;
    close(dir_fd);
    return FileError(dir, "cannot sync", error);
  }
  close(dir_fd);
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, mode_t mode) {
  CUSTOS_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file,
                          AtomicFile::Create(path, mode));
  file->stream().write(contents.data(),
                       static_cast<std::streamsize>(contents.size()));
  return file->Commit();
}

}  // namespace custos
