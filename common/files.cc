#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Create(
    const std::string& path, mode_t mode) {
  std::string temp = path + ".tmp.XXXXXX";
  const int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return FileError(temp, "cannot create", errno);
  close(fd);
  std::unique_ptr<AtomicFile> file(new AtomicFile(path, temp, mode));
  file->stream_.open(temp, std::ios::binary | std::ios::trunc);
  if (!file->stream_) return FileError(temp, "cannot open", errno);
  return file;
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    stream_.close();
    unlink(temp_.c_str());
  }
}

absl::Status AtomicFile::Commit() {
  stream_.flush();
  const bool written = static_cast<bool>(stream_);
  stream_.close();
  if (!written || stream_.fail()) {
    return absl::UnavailableError(
        absl::StrCat(temp_, ": cannot write (is the disk full?)"));
  }
  const int fd = open(temp_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(temp_, "cannot open", errno);
  if (fchmod(fd, mode_) != 0 || fsync(fd) != 0) {
    const int error = errno;
    close(fd);
    return FileError(temp_, "cannot sync", error);
  }
  close(fd);
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
