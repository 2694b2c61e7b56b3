#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_OPERATION_STORE_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_OPERATION_STORE_H_

#include <string>
#include <vector>

#include "governance/operation.h"
#include "governance/postgres/pg.h"

namespace warden {

// Operations in the operations table (migration 0003), shared by every
// replica; each call is one transaction.
class PostgresOperationStore final : public OperationStore {
 public:
  explicit PostgresOperationStore(std::string url) : session_(std::move(url)) {}

  absl::Status Create(const Operation& op) override;
  absl::StatusOr<Operation> Get(const std::string& org_id,
                                const std::string& id) override;
  absl::StatusOr<bool> Update(const Operation& op,
                              OperationState from) override;
  absl::StatusOr<std::vector<Operation>> ListOpen(size_t limit) override;
  absl::StatusOr<OpenCounts> CountOpen() override;

 private:
  pg::Session session_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_OPERATION_STORE_H_
