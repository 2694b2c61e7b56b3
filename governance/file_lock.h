#ifndef WARDEN_GOVERNANCE_FILE_LOCK_H_
#define WARDEN_GOVERNANCE_FILE_LOCK_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden {

// An exclusive advisory lock on a file, held for this object's life, so that
// two processes never write one thing at once (two wardends appending to one
// audit file would interleave two chains). An open-file-description lock:
// it belongs to this object, not to the process, so closing another
// descriptor of the file elsewhere in the process does not drop it.
class FileLock {
 public:
  // Locks `path` (created 0600 if needed) and writes this process's id into
  // it. FAILED_PRECONDITION when another holder has it, naming `what` and
  // the holder's process id; UNAVAILABLE when the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<FileLock>> Acquire(
      const std::string& path, absl::string_view what);
  // Locks the file at `path` itself (created with `mode` if needed), which
  // another process reaching it by another name (a symlink, a hard link)
  // cannot also lock; the holder's process id goes into the side file
  // `<real path>.lock`, for the message a second holder gets.
  static absl::StatusOr<std::unique_ptr<FileLock>> AcquireFile(
      const std::string& path, mode_t mode, absl::string_view what);
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  // Releases the lock. The file stays: removing it could race with the next
  // holder's lock on a new file of the same name.
  ~FileLock();

 private:
  FileLock(int fd, int pid_fd) : fd_(fd), pid_fd_(pid_fd) {}
  static absl::StatusOr<std::unique_ptr<FileLock>> Lock(
      const std::string& path, int fd, const std::string& pid_path,
      absl::string_view what);
  const int fd_;      // The locked file.
  const int pid_fd_;  // Where the holder's id is written (fd_ or a side file).
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_FILE_LOCK_H_
