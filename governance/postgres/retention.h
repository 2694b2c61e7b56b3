#ifndef WARDEN_GOVERNANCE_POSTGRES_RETENTION_H_
#define WARDEN_GOVERNANCE_POSTGRES_RETENTION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden {

struct RetentionOptions {
  // An owner/admin role: dropping partitions needs it; warden_app cannot.
  std::string url;
  // Partitions whose whole month ended longer ago than this are retired.
  absl::Duration retention = absl::Hours(24 * (365 * 7 + 2));  // 7 years.
  // Where the per-org exports go: <partition>_<org>.jsonl.
  std::string export_dir;
  // Export, but drop nothing.
  bool export_only = false;
  absl::Time now = absl::Now();
};

struct RetentionReport {
  std::vector<std::string> exported;  // "<partition> <org>: N rows -> path"
  std::vector<std::string> dropped;   // partition names
};

// Retires old monthly partitions of the audit trail: each is first
// exported, one JSONL file per org in the same {seq, prev_hash, hash, body}
// lines `wardenctl audit verify-file` checks, with its SHA-256 recorded in
// audit_exports; then the last record of each org becomes the org's chain
// anchor (audit_anchors) and the partition is detached and dropped, all in
// one transaction. A partition that has not been exported (for instance
// because the export failed) is never dropped; nor is one whose records
// are not all older, in chain order, than every record kept (FAILED_
// PRECONDITION naming it). The default partition is never retired.
absl::StatusOr<RetentionReport> ApplyRetention(const RetentionOptions& options);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_RETENTION_H_
