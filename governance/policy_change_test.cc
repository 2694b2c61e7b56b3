#include "governance/policy_change.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Acme() {
  std::ifstream in(std::string(WARDEN_SOURCE_DIR) +
                   "/deploy/examples/acme.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Policy Parse(const std::string& yaml) {
  absl::StatusOr<Policy> p = ParseBundle(yaml);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : Policy{};
}

// The example bundle with each (from, to) replacement made; each `from`
// must occur.
Policy Edited(
    const std::vector<std::pair<std::string, std::string>>& replacements) {
  std::string yaml = Acme();
  for (const auto& [from, to] : replacements) {
    EXPECT_NE(yaml.find(from), std::string::npos) << from;
    yaml = absl::StrReplaceAll(yaml, {{from, to}});
  }
  return Parse(yaml);
}

TEST(LooseningsTest, NoChangeIsNoLoosening) {
  EXPECT_THAT(Loosenings(Parse(Acme()), Parse(Acme())), IsEmpty());
}

// Lower caps, shorter lists, more denials, stricter tiers, a new limit, a
// removed agent: all tighten, so nothing needs approving.
TEST(LooseningsTest, TighteningIsNoLoosening) {
  const Policy tight = Edited({
      {R"({name: daily_ceiling, usd: "50000")",
       R"({name: daily_ceiling, usd: "40000")"},
      {"chains: [base, ethereum, arbitrum]", "chains: [base, ethereum]"},
      {R"(per_tx_max_usd: "200")", R"(per_tx_max_usd: "100")"},
      {R"(approval_above_usd: "150")", R"(approval_above_usd: "100")"},
      {"approvers: [user/ops_lead, second_agent]",
       "approvers: [user/ops_lead]"},
      {"  destinations_deny:\n",
       "  destinations_deny:\n    - "
       "\"0x000000000000000000000000000000000000bEEF\"\n"},
      {R"(- {name: daily_max, usd: "500", window: "rolling:24h"})",
       R"(- {name: daily_max, usd: "500", window: "rolling:24h"}
      - {name: hourly, count: 10, window: "rolling:1h"})"},
      {"on_violation: {new_address: approve, drain_all: approve}",
       "on_violation: {new_address: approve}"},
      {R"(price_usd: "3000")", R"(price_usd: "3500")"},
  });
  EXPECT_THAT(Loosenings(Parse(Acme()), tight), IsEmpty());
  // Putting the looser version back (a rollback) is a loosening.
  EXPECT_THAT(Loosenings(tight, Parse(Acme())).size(), 9u);
}

TEST(LooseningsTest, EachLooseningIsNamed) {
  struct Case {
    std::string from, to, line;
  };
  const std::vector<Case> cases = {
      {R"({name: daily_ceiling, usd: "50000")",
       R"({name: daily_ceiling, usd: "60000")",
       "org.limits.daily_ceiling: from usd 50000.00 per calendar:day to usd "
       "60000.00 per calendar:day"},
      {R"({name: daily_ceiling, usd: "50000", window: "calendar:day"})",
       R"({name: daily_ceiling, usd: "50000", window: "calendar:week"})",
       "org.limits.daily_ceiling: from usd 50000.00 per calendar:day to usd "
       "50000.00 per calendar:week"},
      {"  default: deny\n", "", "org.default: from deny to allow"},
      {"    - \"0x000000000000000000000000000000000000dEaD\"\n", "",
       "org.destinations_deny: no longer denies "
       "0x000000000000000000000000000000000000dEaD"},
      {"chains: [base, ethereum, arbitrum]",
       "chains: [base, ethereum, arbitrum, polygon]",
       "agents.procurement_bot.rules.chains: allows polygon"},
      {R"(per_tx_max_usd: "200")", R"(per_tx_max_usd: "250")",
       "agents.procurement_bot.rules.per_tx_max_usd: raised from 200.00 to "
       "250.00"},
      {R"(approval_above_usd: "150")", R"(approval_above_usd: "300")",
       "agents.procurement_bot.approvals.approval_above_usd: raised from "
       "150.00 to 300.00"},
      {"approvers: [user/ops_lead, second_agent]",
       "approvers: [user/ops_lead, second_agent, user/mallory]",
       "agents.procurement_bot.approvals.approvers: adds user/mallory"},
      {"      schedule: {days: [mon-fri], hours: \"08:00-20:00\"}\n"
       "      on_violation: {schedule: notify}\n",
       "", "agents.agent_b.rules.schedule: removed (was mon-fri 08:00-20:00)"},
      {"on_violation: {new_address: approve, drain_all: approve}",
       "on_violation: {new_address: notify, drain_all: approve}",
       "agents.invoice_bot.rules.on_violation.new_address: from approve to "
       "notify"},
      {R"(drain_all: "90%")", R"(drain_all: "95%")",
       "agents.invoice_bot.rules.drain_all: from 90% to 95%"},
      {R"(new_address: "rolling:30d")", R"(new_address: "rolling:7d")",
       "agents.invoice_bot.rules.new_address: from rolling:30d to rolling:7d"},
      {"amount: {max: \"500 USDC\"}", "amount: {max: \"5000 USDC\"}",
       "agents.agent_a.rules.contracts: allows "
       "base:0xa238dd80c259a72e81d7e4664a9801593f98d1c5 "
       "supply(address,uint256,address,uint16) where asset one of "
       "[0x833589fcd6edb6e08f4c7c32d4f71b54bda02913]; amount <= 5000 USDC; "
       "onBehalfOf one of [0x3333333333333333333333333333333333333333]"},
      {"asset: USDC, max: \"500\"}", "asset: USDC, max: \"900\"}",
       "agents.agent_a.rules.approved_spenders: allows approvals to "
       "0xa238dd80c259a72e81d7e4664a9801593f98d1c5 of USDC"},
      {"    department: marketing\n", "    department: engineering\n",
       "agents.agent_b.department: moved from marketing to engineering"},
      {R"(price_usd: "3000")", R"(price_usd: "2000")",
       "assets.ETH.price_usd: from 3000 to 2000"},
      {"hold_ttl: 15m", "hold_ttl: 5m",
       "org.hold_ttl: shortened from 15m to 5m"},
      {"      - {id: wallet_3, vendor: privy, chain: base,\n",
       "      - {id: wallet_9, vendor: local, chain: base,\n"
       "         address: \"0x9999999999999999999999999999999999999999\"}\n"
       "      - {id: wallet_3, vendor: privy, chain: base,\n",
       "wallets.wallet_9: added, for agent agent_b"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Loosenings(Parse(Acme()), Edited({{c.from, c.to}})),
                ElementsAre(c.line))
        << c.from << " -> " << c.to;
  }
}

}  // namespace
}  // namespace warden
