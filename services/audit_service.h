#ifndef WARDEN_SERVICES_AUDIT_SERVICE_H_
#define WARDEN_SERVICES_AUDIT_SERVICE_H_

#include "adapters/wallet_adapter.h"
#include "governance/audit_reader.h"
#include "governance/credentials.h"
#include "governance/engine.h"
#include "services/access.h"
#include "services/executor.h"
#include "services/raw_methods.h"
#include "services/reconciler.h"
#include "services/stream_slots.h"
#include "warden/v1/audit.grpc.pb.h"

namespace warden {

// warden.v1.AuditService over an AuditReader. Translation only. Without a
// reader (no Postgres) every call is FAILED_PRECONDITION.
class AuditService final
    : public RawService<AuditService, v1::AuditService::CallbackService> {
 public:
  // None is owned; `reader` may be null.
  AuditService(Engine* engine, AuditReader* reader, Reconciler* reconciler,
               CredentialStore* credentials, const AdapterRegistry* adapters,
               Executor* executor, Gatekeeper* gate);

  // QueryEvents.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* StreamEvents(
      grpc::CallbackServerContext* context, v1::QueryEventsRequest request);
  grpc::ServerUnaryReactor* SpendSummary(
      grpc::CallbackServerContext* context,
      const v1::SpendSummaryRequest* request,
      v1::SpendSummaryResponse* response) override;
  grpc::ServerUnaryReactor* VerifyChain(
      grpc::CallbackServerContext* context,
      const v1::VerifyChainRequest* request,
      v1::VerifyChainResponse* response) override;
  grpc::ServerUnaryReactor* Reconcile(grpc::CallbackServerContext* context,
                                      const v1::ReconcileRequest* request,
                                      v1::ReconcileResponse* response) override;
  grpc::ServerUnaryReactor* SecurityReport(
      grpc::CallbackServerContext* context,
      const v1::SecurityReportRequest* request,
      v1::SecurityReportResponse* response) override;

 private:
  // VerifyChain, Reconcile and SecurityReport read a whole trail (or every
  // wallet's vendor) on a worker that Authorize shares: one at a time per
  // caller, two per replica, so that a flood of them cannot starve spends.
  static constexpr size_t kMaxWalksPerCaller = 1;
  static constexpr size_t kMaxWalks = 2;

  Engine* const engine_;
  AuditReader* const reader_;
  Reconciler* const reconciler_;
  CredentialStore* const credentials_;
  const AdapterRegistry* const adapters_;
  Executor* const executor_;
  Gatekeeper* const gate_;
  StreamSlots walks_{kMaxWalksPerCaller, kMaxWalks,
                     "audit trail walks running"};
};

}  // namespace warden

#endif  // WARDEN_SERVICES_AUDIT_SERVICE_H_
