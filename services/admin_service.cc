#include "services/admin_service.h"

#include "services/call.h"

namespace warden {

grpc::ServerUnaryReactor* AdminService::ApplyBundle(
    grpc::CallbackServerContext* context, const v1::ApplyBundleRequest* request,
    v1::ApplyBundleResponse* response) {
  return RunUnary(
      executor_, context,
      [this, request, actor = CallerOf(*context)] {
        return engine_->ApplyBundle(request->yaml(), request->dry_run(), actor);
      },
      [request, response](const ApplyResult& r) {
        response->set_org_id(r.org_id);
        response->set_version(r.version);
        response->set_changed(r.changed);
        response->set_dry_run(request->dry_run());
        for (const std::string& line : r.diff) response->add_diff(line);
      });
}

grpc::ServerUnaryReactor* AdminService::GetBundle(
    grpc::CallbackServerContext* context, const v1::GetBundleRequest* request,
    v1::GetBundleResponse* response) {
  return RunUnary(
      executor_, context,
      [this, request] {
        return engine_->GetBundle(request->org_id(), request->version());
      },
      [response](const std::shared_ptr<const Policy>& p) {
        response->set_org_id(p->org.id);
        response->set_version(p->version);
        response->set_yaml(p->yaml);
        *response->mutable_applied_at() = ToTimestamp(p->applied_at);
        response->set_applied_by(p->applied_by);
      });
}

}  // namespace warden
