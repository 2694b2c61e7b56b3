#include "tests/sim/audit_trail.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "governance/audit_chain.h"
#include "governance/audit_codec.h"

namespace warden::sim {

absl::StatusOr<std::unique_ptr<SimAuditTrail>> SimAuditTrail::Create() {
  // tmpfs makes the log's fdatasync nearly free; the chain is the same.
  std::string dir = ::access("/dev/shm", W_OK) == 0
                        ? "/dev/shm/warden-sim-XXXXXX"
                        : "/tmp/warden-sim-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError("mkdtemp for the audit file");
  }
  const std::string path = absl::StrCat(dir, "/audit.jsonl");
  absl::StatusOr<std::unique_ptr<FileAuditLog>> log = FileAuditLog::Open(path);
  if (!log.ok()) return log.status();
  std::unique_ptr<SimAuditTrail> trail(
      new SimAuditTrail(dir, path, *std::move(log)));
  trail->last_hash_ = kGenesisHash;
  return trail;
}

SimAuditTrail::~SimAuditTrail() {
  log_.reset();
  ::unlink(path_.c_str());
  ::rmdir(dir_.c_str());
}

absl::StatusOr<std::vector<TrailEvent>> SimAuditTrail::ReadNew() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return absl::DataLossError(absl::StrCat("cannot open ", path_));
  in.seekg(offset_);
  std::vector<TrailEvent> out;
  std::string text;
  // Bounded by the file: each pass consumes one line.
  while (std::getline(in, text)) {
    if (in.eof()) break;  // A line without its newline is not whole yet.
    offset_ += static_cast<int64_t>(text.size()) + 1;
    absl::StatusOr<ChainLine> line = ParseChainLine(text);
    if (!line.ok()) {
      return absl::DataLossError(absl::StrCat("audit record after seq ", seq_,
                                              ": ", line.status().message()));
    }
    if (line->seq != seq_ + 1 || line->prev_hash != last_hash_ ||
        Sha256Hex(absl::StrCat(line->prev_hash, line->body)) != line->hash) {
      return absl::DataLossError(absl::StrCat(
          "audit chain broken at seq ", line->seq, " (expected seq ", seq_ + 1,
          ", previous hash ", last_hash_, ")"));
    }
    seq_ = line->seq;
    last_hash_ = line->hash;
    absl::StatusOr<AuditEvent> event = DecodeAuditEvent(line->body);
    if (!event.ok()) {
      return absl::DataLossError(
          absl::StrCat("audit record ", seq_,
                       " does not decode: ", event.status().message()));
    }
    out.push_back({seq_, *std::move(event)});
  }
  return out;
}

absl::StatusOr<int64_t> SimAuditTrail::VerifyAll() const {
  int64_t n = 0;
  absl::Status st = FileAuditLog::Replay(path_, [&](const AuditEvent&) {
    ++n;
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return n;
}

absl::Status SimAuditTrail::Query(
    const AuditQuery&, const std::function<bool(const AuditRecord&)>&) {
  return absl::UnimplementedError(
      "the simulator's trail answers rebuilds only");
}

absl::StatusOr<std::vector<SpendRow>> SimAuditTrail::SpendSummary(
    const SpendQuery&) {
  return absl::UnimplementedError(
      "the simulator's trail answers rebuilds only");
}

absl::Status SimAuditTrail::LatestAuthorizations(
    const std::string& org_id, absl::Time since,
    const std::function<absl::Status(const Authorization&)>& fn) {
  // The last event of each authorization created at or after `since`, in
  // the order the authorizations first appear in the trail. (Postgres
  // orders by id, which is random; trail order keeps a seed's run the same
  // every time.)
  std::map<std::string, size_t> index;
  std::vector<Authorization> latest;
  absl::Status st = FileAuditLog::Replay(path_, [&](const AuditEvent& e) {
    if (e.org_id == org_id && e.authorization &&
        e.authorization->created_at >= since) {
      auto [it, added] = index.try_emplace(e.authorization->id, latest.size());
      if (added) {
        latest.push_back(*e.authorization);
      } else {
        latest[it->second] = *e.authorization;
      }
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  for (const Authorization& a : latest) {
    if (absl::Status r = fn(a); !r.ok()) return r;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditReader::RecordedStatus>>
SimAuditTrail::NewestHolds(const std::string& org_id, absl::Time since,
                           int limit) {
  // Each authorization's latest status and when it was recorded.
  std::map<std::string, std::pair<int64_t, AuthorizationStatus>> latest;
  int64_t n = 0;
  absl::Status st = FileAuditLog::Replay(path_, [&](const AuditEvent& e) {
    ++n;
    if (e.org_id == org_id && e.authorization &&
        e.authorization->created_at >= since) {
      latest[e.authorization->id] = {n, e.authorization->status};
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  std::vector<std::pair<int64_t, RecordedStatus>> held;
  for (const auto& [id, last] : latest) {
    if (last.second == AuthorizationStatus::kDenied) continue;
    held.push_back(
        {last.first, {.authorization_id = id, .status = last.second}});
  }
  std::sort(held.begin(), held.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<RecordedStatus> out;
  for (size_t i = 0; i < held.size() && i < size_t(limit); ++i) {
    out.push_back(held[i].second);
  }
  return out;
}

absl::StatusOr<ChainVerification> SimAuditTrail::Verify(const std::string&) {
  ChainVerification v;
  absl::StatusOr<int64_t> n = VerifyAll();
  if (n.ok()) {
    v.records = *n;
  } else {
    v.ok = false;
    v.problem = std::string(n.status().message());
  }
  return v;
}

}  // namespace warden::sim
