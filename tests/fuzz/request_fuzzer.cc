// libFuzzer target: request validation. The input is split on newlines
// into the fields of an Authorize request (agent, wallet, asset, amount,
// destination, idempotency key, memo) and decided by a real engine on the
// memory stores; then the same bytes go through the other validators and
// decoders of untrusted input. Read as the choices of the simulator's
// adversarial generators (tests/sim/adversarial.h), the same bytes also
// pick an asset and an amount at a boundary of agent_a's daily_max, spent
// after a $1 hold: each must be valued exactly, and the two together never
// pass the limit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "governance/address.h"
#include "governance/audit_codec.h"
#include "governance/audit_log.h"
#include "governance/credentials.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "tests/fakes/fake_audit_log.h"
#include "tests/sim/adversarial.h"

namespace {

// The assets of the bundle, as the generators see them: ordinary ones, and
// decimals and prices at their bounds (with no decimals, the largest price a
// bundle accepts: mantissa * 10^6 just fits in 128 bits).
const std::vector<warden::sim::SimAsset>& Assets() {
  static const auto* assets = new std::vector<warden::sim::SimAsset>{
      {"USDC", 6, warden::sim::SimPrice{1, 0}},
      {"ETH", 18, warden::sim::SimPrice{3000, 0}},
      {"WHOLE", 0, warden::sim::SimPrice{absl::Uint128Max() / 1'000'000, 0}},
      {"DUST", 30, warden::sim::SimPrice{1, 12}},
      {"ODD", 9, warden::sim::SimPrice{123456789012345678ull, 12}}};
  return *assets;
}

std::string Bundle() {
  std::string out = R"(
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
)";
  for (const warden::sim::SimAsset& a : Assets()) {
    out += "  - {symbol: " + a.symbol +
           ", decimals: " + std::to_string(a.decimals) + ", price_usd: \"" +
           a.price->Text() + "\"}\n";
  }
  return out;
}

struct World {
  warden::ManualClock clock{absl::FromUnixSeconds(1777651200)};
  warden::MemoryConfigStore config;
  warden::MemoryBudgetStore budgets;
  warden::FakeAuditLog audit;
  warden::MemoryFreezeStore freezes;
  warden::Engine engine{&config, &budgets, &audit, &freezes, &clock};
  World() {
    if (absl::Status s = engine.ApplyBundle(Bundle(), false, "fuzz").status();
        !s.ok()) {
      std::fprintf(stderr, "fuzz bundle refused: %s\n", s.ToString().c_str());
      std::abort();
    }
  }
};

bool Admits(warden::Decision d) {
  return d == warden::Decision::kAllow || d == warden::Decision::kDelayed ||
         d == warden::Decision::kPendingApproval;
}

// A $1 hold, then an adversarial amount (chosen by the bytes) by agent_a,
// whose daily_max is $1,000: the second is valued exactly or refused, and
// both together never pass the cap. Every hold is voided after, so each
// input starts from an unused budget.
void CheckAdversarialSpends(World* world, const uint8_t* data, size_t size) {
  constexpr int64_t kDailyMax = 1000'000'000;
  warden::sim::ByteChooser c(data, size);
  const warden::sim::SimAsset& asset = c.Pick(Assets());
  warden::AuthorizeInput in;
  in.agent_id = "agent_a";
  in.wallet_id = "w_base";
  in.asset = "USDC";
  in.amount = "1000000";
  in.actor = "fuzz";
  absl::StatusOr<warden::AuthorizeOutput> first = world->engine.Authorize(in);
  if (!first.ok() ||
      first->authorization.decision != warden::Decision::kAllow) {
    std::abort();
  }
  in.wallet_id = c.OneIn(2) ? "w_base" : "w_sol";
  in.asset = asset.symbol;
  in.amount = warden::sim::AdversarialAmount(c, asset, kDailyMax - 1'000'000);
  absl::StatusOr<warden::AuthorizeOutput> second = world->engine.Authorize(in);
  const std::optional<absl::uint128> amount =
      warden::sim::ParseAmountText(in.amount);
  const std::optional<int64_t> exact =
      amount ? warden::sim::ExactUsdMicrosInt64(*amount, asset) : std::nullopt;
  if (second.ok()) {
    const warden::Authorization& a = second->authorization;
    if (!exact || a.amount_usd != *exact) std::abort();
    if (Admits(a.decision) &&
        absl::int128(a.amount_usd) + 1'000'000 > kDailyMax) {
      std::abort();
    }
    (void)world->engine.Void("", a.id, "fuzz");
  } else if (exact && *amount != 0) {
    std::abort();  // A valid amount of a priced asset gets a decision.
  }
  (void)world->engine.Void("", first->authorization.id, "fuzz");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World;
  CheckAdversarialSpends(world, data, size);
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
