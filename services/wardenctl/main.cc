// wardenctl: command-line client for wardend.
//
// Every command prints a readable line, or one JSON object with --json. The
// exit code is 0 whenever the call succeeded, whatever the decision; 1 when
// the call failed (the gRPC status is printed to stderr); 2 for bad usage;
// 3 when `audit verify` finds the chain broken or `report security` finds
// something that needs attention; 4 when `reconcile` finds
// shadow spend or missing settlements; 5 when `submit --wait` ends without
// a confirmed transfer; 6 when `pay` made no payment (denied, still
// pending, or refused by the server).
#include "CLI/CLI.hpp"
#include "services/wardenctl/cli.h"

int main(int argc, char** argv) {
  using namespace warden::wardenctl;  // NOLINT(build/namespaces)
  CLI::App app{"wardenctl: command-line client for wardend"};
  app.require_subcommand(1);
  // Global flags anywhere, as kubectl-style CLIs take them:
  // `wardenctl authorize ... --json` as well as `wardenctl --json authorize`.
  app.fallthrough();
  Globals g;
  app.add_option("--server", g.server, "wardend address, host:port")
      ->capture_default_str()
      ->envname("WARDEN_SERVER");
  app.add_option("--org", g.org,
                 "Org id (optional while the server serves one org)");
  app.add_flag("--json", g.json, "Print one JSON object");
  app.add_option("--tls-ca", g.tls_ca,
                 "Connect over TLS, trusting this CA (PEM) for the server")
      ->envname("WARDEN_TLS_CA");
  app.add_option("--tls-server-name", g.tls_server_name,
                 "The name to check the server's certificate against, when "
                 "--server does not carry it (a port-forward to localhost)")
      ->envname("WARDEN_TLS_SERVER_NAME");
  app.add_option("--tls-cert", g.tls_cert, "Client certificate (PEM), for mTLS")
      ->envname("WARDEN_TLS_CERT");
  app.add_option("--tls-key", g.tls_key, "Client private key (PEM), for mTLS")
      ->envname("WARDEN_TLS_KEY");
  app.add_option("--token", g.token,
                 "Bearer token (prefer WARDEN_TOKEN: flags show in ps)")
      ->envname("WARDEN_TOKEN");

  Commands commands;
  AddTokenCommands(app, g, commands);
  AddBundleCommands(app, g, commands);
  AddSpendCommands(app, g, commands);
  AddApprovalCommands(app, g, commands);
  AddKillSwitchCommands(app, g, commands);
  AddWalletCommands(app, g, commands);
  AddAuditCommands(app, g, commands);
  AddServerCommands(app, g, commands);
  AddPriceCommands(app, g, commands);
  AddBudgetCommands(app, g, commands);
  AddPayCommands(app, g, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kUsage;
  }
  return commands.RunParsed();
}
