#include "governance/postgres/postgres_operation_store.h"

#include "absl/strings/str_cat.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

constexpr char kOperationColumns[] =
    "org_id, operation_id, authorization_id, agent_id, wallet_id, data, "
    "state, tx_hash, vendor_ref, error, "
    "(extract(epoch FROM created_at) * 1000000)::bigint, "
    "(extract(epoch FROM updated_at) * 1000000)::bigint, x402";

constexpr OperationState kStates[] = {
    OperationState::kPending,          OperationState::kSending,
    OperationState::kAwaitingApproval, OperationState::kSubmitted,
    OperationState::kConfirmed,        OperationState::kFailed,
    OperationState::kUnknown};

OperationState StateNamed(const std::string& name) {
  for (OperationState s : kStates) {
    if (name == OperationStateName(s)) return s;
  }
  throw pg::Refused(absl::StrCat("operations.state: unknown \"", name, "\""));
}

Operation OperationFromRow(const pqxx::row& r) {
  Operation op;
  op.org_id = r[0].as<std::string>();
  op.id = r[1].as<std::string>();
  op.authorization_id = r[2].as<std::string>();
  op.agent_id = r[3].as<std::string>();
  op.wallet_id = r[4].as<std::string>();
  const pqxx::binarystring data(r[5]);
  op.data = data.str();
  op.state = StateNamed(r[6].as<std::string>());
  op.tx_hash = r[7].as<std::string>();
  op.vendor_ref = r[8].as<std::string>();
  op.error = r[9].as<std::string>();
  op.created_at = absl::FromUnixMicros(r[10].as<int64_t>());
  op.updated_at = absl::FromUnixMicros(r[11].as<int64_t>());
  if (const std::string x402 = r[12].as<std::string>(); !x402.empty()) {
    absl::StatusOr<X402Terms> terms = DecodeX402Terms(x402);
    if (!terms.ok()) throw pg::Refused(std::string(terms.status().message()));
    op.x402 = *std::move(terms);
  }
  return op;
}

}  // namespace

absl::Status PostgresOperationStore::Create(const Operation& op) {
  bool inserted = false;
  WARDEN_RETURN_IF_ERROR(session_.Run("create operation", [&](pqxx::work& w) {
    const pqxx::binarystring data(op.data);
    pqxx::result r = w.exec_params(
        "INSERT INTO operations (org_id, operation_id, authorization_id, "
        "agent_id, wallet_id, data, state, tx_hash, vendor_ref, error, "
        "created_at, updated_at, x402) VALUES ($1, $2, $3, $4, $5, $6, $7, "
        "$8, $9, $10, to_timestamp($11::double precision / 1000000), "
        "to_timestamp($12::double precision / 1000000), $13) "
        "ON CONFLICT DO NOTHING",
        op.org_id, op.id, op.authorization_id, op.agent_id, op.wallet_id, data,
        OperationStateName(op.state), op.tx_hash, op.vendor_ref, op.error,
        absl::ToUnixMicros(op.created_at), absl::ToUnixMicros(op.updated_at),
        op.x402 ? EncodeX402Terms(*op.x402) : std::string());
    inserted = r.affected_rows() == 1;
  }));
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("operation ", op.id, " already exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Operation> PostgresOperationStore::Get(const std::string& org_id,
                                                      const std::string& id) {
  std::optional<Operation> op;
  WARDEN_RETURN_IF_ERROR(session_.Run("get operation", [&](pqxx::work& w) {
    pqxx::result r = w.exec_params(
        absl::StrCat("SELECT ", kOperationColumns,
                     " FROM operations WHERE org_id = $1 AND operation_id = "
                     "$2"),
        org_id, id);
    if (!r.empty()) op = OperationFromRow(r[0]);
  }));
  if (!op) {
    return absl::NotFoundError(absl::StrCat("operation_id: no operation \"", id,
                                            "\" in org ", org_id));
  }
  return *op;
}

absl::StatusOr<bool> PostgresOperationStore::Update(const Operation& op,
                                                    OperationState from) {
  bool updated = false;
  WARDEN_RETURN_IF_ERROR(session_.Run("update operation", [&](pqxx::work& w) {
    pqxx::result r = w.exec_params(
        "UPDATE operations SET state = $3, tx_hash = $4, vendor_ref = $5, "
        "error = $6, updated_at = to_timestamp($7::double precision / "
        "1000000) WHERE org_id = $1 AND operation_id = $2 AND state = $8",
        op.org_id, op.id, OperationStateName(op.state), op.tx_hash,
        op.vendor_ref, op.error, absl::ToUnixMicros(op.updated_at),
        OperationStateName(from));
    updated = r.affected_rows() == 1;
  }));
  return updated;
}

absl::StatusOr<std::vector<Operation>> PostgresOperationStore::ListOpen(
    size_t limit) {
  std::vector<Operation> out;
  WARDEN_RETURN_IF_ERROR(
      session_.Run("list open operations", [&](pqxx::work& w) {
        for (const pqxx::row& r : w.exec_params(
                 absl::StrCat(
                     "SELECT ", kOperationColumns,
                     " FROM operations WHERE state NOT IN ('CONFIRMED', "
                     "'FAILED') ORDER BY updated_at LIMIT $1"),
                 static_cast<int64_t>(limit))) {
          out.push_back(OperationFromRow(r));
        }
      }));
  return out;
}

absl::StatusOr<OperationStore::OpenCounts> PostgresOperationStore::CountOpen() {
  OpenCounts out;
  WARDEN_RETURN_IF_ERROR(
      session_.Run("count open operations", [&](pqxx::work& w) {
        for (const pqxx::row& r : w.exec(
                 "SELECT org_id, state, count(*) FROM operations WHERE state "
                 "NOT IN ('CONFIRMED', 'FAILED') GROUP BY org_id, state")) {
          out[{r[0].as<std::string>(), StateNamed(r[1].as<std::string>())}] =
              r[2].as<int64_t>();
        }
      }));
  return out;
}

}  // namespace warden
