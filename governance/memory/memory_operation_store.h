#ifndef WARDEN_GOVERNANCE_MEMORY_MEMORY_OPERATION_STORE_H_
#define WARDEN_GOVERNANCE_MEMORY_MEMORY_OPERATION_STORE_H_

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "governance/operation.h"

namespace warden {

// Operations in process memory: for the modes without Postgres, where they
// last as long as the process (the authorization's own idempotency still
// keeps a retried Submit from sending twice across replicas).
class MemoryOperationStore final : public OperationStore {
 public:
  absl::Status Create(const Operation& op) override {
    absl::MutexLock lock(&mu_);
    if (!ops_.try_emplace({op.org_id, op.id}, op).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("operation ", op.id, " already exists"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<Operation> Get(const std::string& org_id,
                                const std::string& id) override {
    absl::MutexLock lock(&mu_);
    auto it = ops_.find({org_id, id});
    if (it == ops_.end()) {
      return absl::NotFoundError(absl::StrCat("operation_id: no operation \"",
                                              id, "\" in org ", org_id));
    }
    return it->second;
  }
  absl::StatusOr<bool> Update(const Operation& op,
                              OperationState from) override {
    absl::MutexLock lock(&mu_);
    auto it = ops_.find({op.org_id, op.id});
    if (it == ops_.end()) {
      return absl::NotFoundError(absl::StrCat("no operation ", op.id));
    }
    if (it->second.state != from) return false;
    it->second = op;
    return true;
  }
  absl::StatusOr<std::vector<Operation>> ListOpen(size_t limit) override {
    absl::MutexLock lock(&mu_);
    std::vector<Operation> out;
    for (const auto& [key, op] : ops_) {
      if (!IsFinal(op.state)) out.push_back(op);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.updated_at < b.updated_at;
    });
    if (out.size() > limit) out.resize(limit);
    return out;
  }
  absl::StatusOr<OpenCounts> CountOpen() override {
    absl::MutexLock lock(&mu_);
    OpenCounts out;
    for (const auto& [key, op] : ops_) {
      if (!IsFinal(op.state)) ++out[{op.org_id, op.state}];
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  // (org, id) -> operation.
  std::map<std::pair<std::string, std::string>, Operation> ops_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_MEMORY_OPERATION_STORE_H_
