#include "governance/memory/file_audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "governance/audit_chain.h"
#include "governance/audit_codec.h"
#include "governance/telemetry.h"
#include "nlohmann/json.hpp"

namespace warden {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileAuditLog>> FileAuditLog::Open(
    const std::string& path, size_t max_queued) {
  absl::StatusOr<std::unique_ptr<FileLock>> lock =
      FileLock::AcquireFile(path, 0640, absl::StrCat("audit file ", path));
  if (!lock.ok()) return lock.status();
  const int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Errno("cannot open audit file", path);
  // Cut a torn last line, left by a crash in the middle of a write.
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Errno("cannot stat audit file", path);
  }
  off_t end = st.st_size;
  char c = '\n';
  while (end > 0 && ::pread(fd, &c, 1, end - 1) == 1 && c != '\n') --end;
  if (end != st.st_size &&
      (::ftruncate(fd, end) != 0 || ::fdatasync(fd) != 0)) {
    ::close(fd);
    return Errno("cannot truncate torn tail of audit file", path);
  }
  // Continue the chain from the last whole line.
  off_t start = end;
  while (start > 0 && ::pread(fd, &c, 1, start - 1) == 1 &&
         (start == end || c != '\n')) {
    --start;
  }
  int64_t seq = 0;
  std::string hash = kGenesisHash;
  if (end > 0) {
    std::string last(static_cast<size_t>(end - start), '\0');
    if (::pread(fd, last.data(), last.size(), start) !=
        static_cast<ssize_t>(last.size())) {
      ::close(fd);
      return Errno("cannot read the last line of audit file", path);
    }
    absl::StatusOr<ChainLine> line = ParseChainLine(last);
    if (!line.ok()) {
      ::close(fd);
      return absl::DataLossError(
          absl::StrCat(path, ": last line is not a chained audit record: ",
                       line.status().message()));
    }
    seq = line->seq;
    hash = line->hash;
  }
  return std::unique_ptr<FileAuditLog>(new FileAuditLog(
      path, *std::move(lock), fd, seq, std::move(hash), max_queued));
}

FileAuditLog::FileAuditLog(std::string path, std::unique_ptr<FileLock> lock,
                           int fd, int64_t seq, std::string last_hash,
                           size_t max_queued)
    : path_(std::move(path)),
      lock_(std::move(lock)),
      fd_(fd),
      max_queued_(max_queued),
      seq_(seq),
      last_hash_(std::move(last_hash)),
      syncer_([this] { SyncLoop(); }) {}

FileAuditLog::~FileAuditLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  syncer_.join();  // It syncs what is queued first.
  ::close(fd_);
}

absl::Status FileAuditLog::Append(const AuditEvent& event) {
  absl::Status result;
  absl::Notification durable;
  AppendAsync(event, [&](absl::Status st) {
    result = std::move(st);
    durable.Notify();
  });
  durable.WaitForNotification();
  return result;
}

void FileAuditLog::AppendAsync(const AuditEvent& event,
                               std::function<void(absl::Status)> done) {
  absl::StatusOr<std::string> encoded = EncodeBoundedAuditEvent(event);
  if (!encoded.ok()) return done(encoded.status());
  // The line is {"body":...,"hash":...,"prev_hash":...,"seq":...}; the body,
  // escaped here outside the lock, is the costly part of it.
  const std::string body_json = nlohmann::json(*encoded).dump();
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    refused = stopping_ ? absl::UnavailableError("audit file is closing")
              : waiting_.size() >= max_queued_
                  ? absl::UnavailableError(absl::StrCat(
                        "audit file overloaded: ", waiting_.size(),
                        " records await their sync (is the disk stalled?)"))
                  : broken_;
    if (refused.ok()) {
      std::string hash = ChainHash(last_hash_, *encoded);
      absl::StrAppend(&pending_, "{\"body\":", body_json, ",\"hash\":\"", hash,
                      "\",\"prev_hash\":\"", last_hash_,
                      "\",\"seq\":", seq_ + 1, "}\n");
      ++seq_;
      last_hash_ = std::move(hash);
      waiting_.push_back(std::move(done));
      return;
    }
  }
  done(std::move(refused));
}

void FileAuditLog::SyncLoop() {
  while (true) {
    std::string lines;
    std::vector<std::function<void(absl::Status)>> group;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](FileAuditLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->waiting_.empty() || self->stopping_;
          },
          this));
      if (waiting_.empty()) return;  // Stopping, and nothing is left.
      lines.swap(pending_);
      group.swap(waiting_);
      busy_ = true;
    }
    const absl::Time start = absl::Now();
    // Where the group starts: a group that fails is cut off again, so that
    // no line answered as failed stays in the file.
    const off_t before = ::lseek(fd_, 0, SEEK_END);
    // O_APPEND, and one writer, keep lines whole and in order.
    absl::string_view rest = lines;
    int rc = 0;
    while (!rest.empty() && rc == 0) {
      const ssize_t n = ::write(fd_, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        rc = -1;
      } else {
        rest.remove_prefix(static_cast<size_t>(n));
      }
    }
    if (rc == 0) rc = ::fdatasync(fd_);
    const int err = errno;
    ReportAuditCommit(group.size(), absl::Now() - start, rc == 0);
    absl::Status outcome;
    if (rc != 0) {
      errno = err;
      outcome = Errno("cannot write or sync audit file", path_);
      // Its lines were answered as not recorded: take them out (a line
      // left there would restore a hold nobody was given). Should that
      // fail too, the torn tail is cut at the next start, and whole lines
      // of the group may remain.
      if (before < 0 || ::ftruncate(fd_, before) != 0 ||
          ::fdatasync(fd_) != 0) {
        outcome = absl::UnavailableError(absl::StrCat(
            outcome.message(),
            "; cutting off its lines failed: ", std::strerror(errno)));
      }
      // The chain in memory ran ahead of the file: every later append fails
      // too, until a restart reads the file again; the lines chained behind
      // this group are lost with it.
      absl::MutexLock lock(&mu_);
      broken_ = outcome;
      for (auto& d : waiting_) group.push_back(std::move(d));
      waiting_.clear();
      pending_.clear();
    }
    // Outside the lock: a callback may append again.
    for (auto& d : group) d(outcome);
    absl::MutexLock lock(&mu_);
    busy_ = false;
  }
}

void FileAuditLog::Drain() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](FileAuditLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
        return self->waiting_.empty() && !self->busy_;
      },
      this));
}

absl::Status FileAuditLog::Replay(
    const std::string& path,
    const std::function<absl::Status(const AuditEvent&)>& fn) {
  return WalkChain(path, [&](int64_t n, const ChainLine& line) {
    absl::StatusOr<AuditEvent> event = DecodeAuditEvent(line.body);
    if (!event.ok()) {
      return absl::DataLossError(
          absl::StrCat(path, ":", n, ": ", event.status().message()));
    }
    return fn(*event);
  });
}

absl::Status FileAuditLog::WalkChain(
    const std::string& path,
    const std::function<absl::Status(int64_t, const ChainLine&)>& fn,
    int64_t* bad_line) {
  std::ifstream in(path);
  if (!in) return absl::OkStatus();  // No trail yet.
  std::string text;
  std::string prev = kGenesisHash;
  for (int64_t n = 1; std::getline(in, text); ++n) {
    if (text.empty()) continue;
    absl::StatusOr<ChainLine> line = ParseChainLine(text);
    const bool linked = line.ok() && line->seq == n &&
                        line->prev_hash == prev &&
                        ChainHash(line->prev_hash, line->body) == line->hash;
    if (!linked) {
      if (bad_line != nullptr) *bad_line = n;
      return absl::DataLossError(absl::StrCat(
          path, ":", n, ": ",
          line.ok() ? "the hash chain is broken here (a record was altered, "
                      "deleted or reordered); see docs/audit.md"
                    : line.status().message()));
    }
    prev = line->hash;
    if (absl::Status st = fn(n, *line); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<ChainLine> ParseChainLine(absl::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j["seq"].is_number_integer() ||
      !j["prev_hash"].is_string() || !j["hash"].is_string() ||
      !j["body"].is_string()) {
    return absl::InvalidArgumentError(
        "not a chained record {seq, prev_hash, hash, body}");
  }
  return ChainLine{j["seq"].get<int64_t>(), j["prev_hash"].get<std::string>(),
                   j["hash"].get<std::string>(), j["body"].get<std::string>()};
}

}  // namespace warden
