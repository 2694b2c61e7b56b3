#include "governance/file_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace warden {

namespace {

absl::StatusOr<int> OpenToLock(const std::string& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileLock>> FileLock::Acquire(
    const std::string& path, absl::string_view what) {
  absl::StatusOr<int> fd = OpenToLock(path, 0600);
  if (!fd.ok()) return fd.status();
  return Lock(path, *fd, "", what);
}

absl::StatusOr<std::unique_ptr<FileLock>> FileLock::AcquireFile(
    const std::string& path, mode_t mode, absl::string_view what) {
  absl::StatusOr<int> fd = OpenToLock(path, mode);
  if (!fd.ok()) return fd.status();
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) {
    const int err = errno;
    ::close(*fd);
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", path, ": ", std::strerror(err)));
  }
  return Lock(path, *fd, absl::StrCat(real, ".lock"), what);
}

absl::StatusOr<std::unique_ptr<FileLock>> FileLock::Lock(
    const std::string& path, int fd, const std::string& pid_path,
    absl::string_view what) {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (::fcntl(fd, F_OFD_SETLK, &lock) != 0) {
    const int err = errno;
    ::close(fd);
    if (err != EAGAIN && err != EACCES) {
      return absl::UnavailableError(
          absl::StrCat("cannot lock ", path, ": ", std::strerror(err)));
    }
    // The holder's id, if it wrote one where this name leads (a hard link
    // leads elsewhere: "?").
    char holder[32] = {};
    const int pid_fd =
        ::open(pid_path.empty() ? path.c_str() : pid_path.c_str(),
               O_RDONLY | O_CLOEXEC);
    ssize_t n = 0;
    if (pid_fd >= 0) {
      n = ::pread(pid_fd, holder, sizeof(holder) - 1, 0);
      ::close(pid_fd);
    }
    const std::string pid(absl::StripAsciiWhitespace(
        absl::string_view(holder, n > 0 ? static_cast<size_t>(n) : 0)));
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is in use by process ", pid.empty() ? "?" : pid,
                     " (another wardend?), which holds a lock on ", path,
                     "; stop it first, or give this one its own"));
  }
  int pid_fd = fd;
  if (!pid_path.empty()) {
    pid_fd = ::open(pid_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  }
  // Only the holder's name depends on this write; the lock holds anyway.
  if (pid_fd >= 0) {
    const std::string pid = absl::StrCat(::getpid(), "\n");
    if (::ftruncate(pid_fd, 0) == 0) {
      const ssize_t written = ::pwrite(pid_fd, pid.data(), pid.size(), 0);
      (void)written;
    }
  }
  return std::unique_ptr<FileLock>(new FileLock(fd, pid_fd));
}

FileLock::~FileLock() {
  if (pid_fd_ >= 0 && pid_fd_ != fd_) ::close(pid_fd_);
  ::close(fd_);
}

}  // namespace warden
