// libFuzzer target: request validation. The input is split on newlines
// into the fields of an Authorize request (agent, wallet, asset, amount,
// destination, idempotency key, memo) and decided by a real engine on the
// memory stores; then the same bytes go through the other validators and
// decoders of untrusted input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "governance/address.h"
#include "governance/audit_log.h"
#include "governance/credentials.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "tests/fakes/fake_audit_log.h"

namespace {

constexpr const char* kBundle = R"(
org: {id: acme}
departments: [{id: eng}]
agents:
  - id: agent_a
    department: eng
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    approvals: {notify_above_usd: "10", approval_above_usd: "500",
                approvers: [user/alice]}
    wallets:
      - {id: w_base, vendor: local, chain: base, address: "0x01"}
      - {id: w_sol, vendor: local, chain: solana, address: "So1"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
  - {symbol: ETH, decimals: 18, price_usd: "3000"}
)";

struct World {
  warden::ManualClock clock{absl::FromUnixSeconds(1777651200)};
  warden::MemoryConfigStore config;
  warden::MemoryBudgetStore budgets;
  warden::FakeAuditLog audit;
  warden::MemoryFreezeStore freezes;
  warden::Engine engine{&config, &budgets, &audit, &freezes, &clock};
  World() {
    if (!engine.ApplyBundle(kBundle, false, "fuzz").ok()) std::abort();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> f = absl::StrSplit(text, '\n');
  f.resize(7);
  warden::AuthorizeInput in;
  in.agent_id = f[0];
  in.wallet_id = f[1];
  in.asset = f[2];
  in.amount = f[3];
  in.destination = f[4];
  in.idempotency_key = f[5];
  in.memo = f[6];
  in.actor = "fuzz";
  absl::StatusOr<warden::AuthorizeOutput> out = world->engine.Authorize(in);
  if (out.ok()) {
    const warden::Authorization& a = out->authorization;
    if (a.id.empty() || a.decision == warden::Decision::kUnspecified) {
      std::abort();
    }
    (void)world->engine.Void("", a.id, "fuzz");
  } else if (out.status().message().empty()) {
    std::abort();
  }
  (void)world->engine.Get("", text);
  (void)warden::ValidateAddress("destination", f[1], f[0]);
  (void)warden::ValidatePrincipalName("approver", text);
  (void)warden::TokenIdOf(text);
  (void)warden::DecodeAuditEvent(text);
  (void)warden::DecodeAuthorization(text);
  return 0;
}
