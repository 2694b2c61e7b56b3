// wardenctl health | migrate: the server and its database.
#include <iostream>
#include <memory>
#include <string>

#include "governance/postgres/migrations.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/wardenctl/cli.h"

namespace warden::wardenctl {
namespace {

// 0 only when the service is SERVING.
int Health(const Globals& g, const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  using Response = grpc::health::v1::HealthCheckResponse;
  return Unary(g, &grpc::health::v1::Health::Stub::Check, request,
               [&g, &service](const Response& response) {
                 const std::string name =
                     Response::ServingStatus_Name(response.status());
                 if (g.json) {
                   std::cout
                       << Json{{"service", service}, {"status", name}}.dump()
                       << "\n";
                 } else {
                   std::cout << name << "\n";
                 }
                 return response.status() == Response::SERVING ? 0 : 1;
               });
}

int Migrate(const std::string& postgres_url) {
  absl::StatusOr<int> version = ApplyMigrations(postgres_url);
  if (!version.ok()) {
    return Problem(std::string(version.status().message()), kCallFailed);
  }
  std::cout << "schema at version " << *version << "\n";
  return 0;
}

}  // namespace

void AddServerCommands(CLI::App& app, const Globals& g, Commands& commands) {
  auto service = std::make_shared<std::string>();
  CLI::App* health = app.add_subcommand(
      "health",
      "Ask the standard gRPC health service; exit 0 only when SERVING");
  health->add_option("--service", *service,
                     "\"\" (readiness: backends reachable) or \"liveness\"");
  commands.Add(health, "wardenctl health --service liveness",
               [&g, service] { return Health(g, *service); });

  // Straight to Postgres, for operators.
  auto postgres_url = std::make_shared<std::string>();
  CLI::App* migrate =
      app.add_subcommand("migrate", "Apply the database schema migrations");
  migrate->add_option("--postgres", *postgres_url, "postgresql://...")
      ->required()
      ->envname("WARDEN_POSTGRES_URL");
  commands.Add(migrate,
               "WARDEN_POSTGRES_URL=postgresql://owner@db/warden wardenctl "
               "migrate",
               [postgres_url] { return Migrate(*postgres_url); });
}

}  // namespace warden::wardenctl
