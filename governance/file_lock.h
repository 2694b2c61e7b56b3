#ifndef WARDEN_GOVERNANCE_FILE_LOCK_H_
#define WARDEN_GOVERNANCE_FILE_LOCK_H_

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
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  // Releases the lock. The file stays: removing it could race with the next
  // holder's lock on a new file of the same name.
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_FILE_LOCK_H_
