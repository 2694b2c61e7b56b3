#include "governance/bundle.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kMinimal = R"(
org: {id: acme}
departments:
  - {id: eng}
agents:
  - id: a
    department: eng
    wallets:
      - {id: w1, vendor: local, chain: base, address: "0xAbC"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

// Returns the error message for a bundle that must be rejected.
std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<Policy> p = ParseBundle(yaml);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
  return std::string(p.status().message());
}

// The shipped example bundle parses with the figures the issue asks for.
TEST(BundleTest, AcmeExampleParses) {
  std::ifstream in(std::string(WARDEN_SOURCE_DIR) +
                   "/deploy/examples/acme.yaml");
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Policy> p = ParseBundle(text.str());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->org.id, "acme_corp");
  EXPECT_TRUE(p->org.default_deny);
  const AgentRules& b = p->agents.at("agent_b").rules;
  EXPECT_EQ(b.schedule->Describe(), "mon-fri 08:00-20:00");
  EXPECT_EQ(b.on_violation.at("schedule"), OnViolation::kNotify);
  const Agent& invoices = p->agents.at("invoice_bot");
  EXPECT_EQ(invoices.rules.new_address->spec, "rolling:30d");
  EXPECT_EQ(invoices.destination_limits[0].usd, 300 * kMicrosPerUsd);
  EXPECT_EQ(p->org.limits[0].usd, 50'000 * kMicrosPerUsd);
  EXPECT_EQ(p->departments.at("engineering").limits[0].usd,
            20'000 * kMicrosPerUsd);
  EXPECT_EQ(p->departments.at("marketing").limits[0].usd,
            10'000 * kMicrosPerUsd);
  EXPECT_EQ(p->departments.at("operations").limits[0].usd,
            15'000 * kMicrosPerUsd);
  const Agent& bot = p->agents.at("procurement_bot");
  EXPECT_EQ(bot.department, "operations");
  EXPECT_EQ(bot.limits[0].usd, 800 * kMicrosPerUsd);
  EXPECT_EQ(bot.limits[0].window.spec, "rolling:24h");
  EXPECT_EQ(*bot.rules.per_tx_max_usd, 200 * kMicrosPerUsd);
  EXPECT_THAT(*bot.rules.chains, ElementsAre("base", "ethereum", "arbitrum"));
  EXPECT_EQ(p->agents.at("agent_a").limits[0].usd, 1000 * kMicrosPerUsd);
  const AgentRules& a = p->agents.at("agent_a").rules;
  ASSERT_EQ(a.contracts.size(), 1);
  EXPECT_EQ(a.contracts[0].methods[0].signature,
            "supply(address,uint256,address,uint16)");
  EXPECT_EQ(a.contracts[0].methods[0].where[1].max, absl::uint128(500'000'000));
  ASSERT_EQ(a.approved_spenders.size(), 1);
  EXPECT_EQ(a.approved_spenders[0].max_units, absl::uint128(500'000'000));
  EXPECT_EQ(p->wallets.at("wallet_1").vendor, "metamask");
  EXPECT_EQ(p->wallets.at("wallet_1").chain, "base");
  EXPECT_EQ(p->wallets.at("wallet_2").vendor, "cdp");
  EXPECT_EQ(p->wallets.at("wallet_2").chain, "ethereum");
  EXPECT_EQ(p->wallets.at("wallet_3").vendor, "privy");
  EXPECT_EQ(p->wallets.at("wallet_3").agent_id, "agent_b");
  EXPECT_EQ(p->assets.at("ETH").chains.at("base"), kNativeAsset);
  EXPECT_EQ(p->assets.at("USDC").chains.at("base"),
            "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
}

// Defaults apply where the bundle is silent.
TEST(BundleTest, Defaults) {
  absl::StatusOr<Policy> p = ParseBundle(kMinimal);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->org.timezone_name, "UTC");
  EXPECT_EQ(p->org.expired_holds, ExpiredHolds::kCount);
  EXPECT_EQ(p->org.hold_ttl, absl::Minutes(15));
  EXPECT_FALSE(p->agents.at("a").rules.chains.has_value());
}

// Unnamed limits get a name from their unit and window.
TEST(BundleTest, DefaultLimitNames) {
  absl::StatusOr<Policy> p = ParseBundle(R"(
org:
  id: acme
  limits:
    - {usd: "10", window: "rolling:1h"}
    - {count: 5, window: "calendar:day"}
)");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->org.limits[0].name, "usd_rolling_1h");
  EXPECT_EQ(p->org.limits[1].name, "count_calendar_day");
  EXPECT_EQ(p->org.limits[1].count, 5);
}

// Every validation error path names the field and the problem.
TEST(BundleTest, ErrorsNameThePath) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"org: {id: acme}\nextra: 1",
       "extra: unknown key (allowed: org, departments, agents, assets)"},
      {"org: {id: acme, colour: red}", "org.colour: unknown key"},
      {"org: {id: acme}\nassets: [{symbol: T, decimals: 6, chains: [base]}]",
       "assets[0].chains: must be a mapping of chain to \"native\" or a "
       "contract address"},
      {"org: {id: acme}\nassets: [{symbol: T, decimals: 6, chains: {base: "
       "0x12}}]",
       "assets[0].chains.base: \"0x12\" is not an address on base (0x and 40 "
       "hex digits); write \"native\" for the chain's own coin"},
      {"org: {id: acme}\nassets: [{symbol: T, decimals: 6, chains: {base: "
       "[a]}}]",
       "assets[0].chains.base: must be \"native\" or a contract address"},
      {"departments: []", "org: is required"},
      {"org: {id: \"bad id\"}", "org.id: \"bad id\" is not a valid id"},
      {"org: {id: acme, timezone: Mars/Olympus}",
       "org.timezone: unknown time zone \"Mars/Olympus\""},
      {"org: {id: acme, expired_holds: keep}",
       "org.expired_holds: \"keep\" must be count or release"},
      {"org: {id: acme, hold_ttl: 10d}", "org.hold_ttl: must be at most 7d"},
      {"org: {id: acme, hold_ttl: 10x}", "org.hold_ttl: unknown unit \"x\""},
      {"org: {id: acme, limits: [{usd: '1', window: 'rolling:1hr'}]}",
       "org.limits[0].window: unknown unit \"hr\""},
      {"org: {id: acme, limits: [{usd: '1,000', window: 'rolling:1h'}]}",
       "org.limits[0].usd: \"1,000\" is not a non-negative decimal"},
      {"org: {id: acme, limits: [{usd: '1', count: 2, window: 'rolling:1h'}]}",
       "org.limits[0]: needs exactly one of usd or count"},
      {"org: {id: acme, limits: [{count: 0, window: 'rolling:1h'}]}",
       "org.limits[0].count: \"0\" is not a positive whole number"},
      {"org: {id: acme, limits: [{usd: '1'}]}",
       "org.limits[0].window: is required"},
      {"org: {id: acme, limits: [{name: x, usd: '1', window: 'rolling:1h'}, "
       "{name: x, usd: '2', window: 'rolling:2h'}]}",
       "org.limits[1]: duplicate limit name \"x\""},
      {"org: {id: acme}\ndepartments: [{id: d}, {id: d}]",
       "departments[1].id: duplicate department \"d\""},
      {"org: {id: acme}\nagents: [{id: a, department: nope}]",
       "agents[0].department: unknown department \"nope\""},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents: [{id: a, "
       "department: d}, {id: a, department: d}]",
       "agents[1].id: duplicate agent \"a\""},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents: [{id: a, "
       "department: d, wallets: [{id: w, vendor: ledger, chain: base, "
       "address: x}]}]",
       "agents[0].wallets[0].vendor: unknown vendor \"ledger\""},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents: [{id: a, "
       "department: d, wallets: [{id: w, vendor: cdp, chain: base}]}]",
       "agents[0].wallets[0].address: is required"},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents:\n"
       "  - {id: a, department: d, wallets: [{id: w, vendor: cdp, chain: b, "
       "address: x}]}\n"
       "  - {id: b, department: d, wallets: [{id: w, vendor: cdp, chain: b, "
       "address: y}]}",
       "agents[1].wallets[0].id: duplicate wallet \"w\""},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents:\n"
       "  - {id: a, department: d, wallets: [{id: w, vendor: cdp, chain: b, "
       "address: \"0xAb\"}]}\n"
       "  - {id: b, department: d, wallets: [{id: v, vendor: cdp, chain: b, "
       "address: \"0xaB\"}]}",
       "agents[1].wallets[0].address: is already wallet \"w\"'s address on "
       "b (one address, one wallet)"},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents: [{id: a, "
       "department: d, rules: {assets: [DOGE]}}]",
       "agents[0].rules.assets[0]: unknown asset \"DOGE\""},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents: [{id: a, "
       "department: d, rules: {per_tx_max_usd: 'ten'}}]",
       "agents[0].rules.per_tx_max_usd: \"ten\" is not a non-negative"},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents: [{id: a, "
       "department: d, rules: {chains: base}}]",
       "agents[0].rules.chains: must be a list"},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents: [{id: a, "
       "department: d, rules: {chains: [base, base]}}]",
       "agents[0].rules.chains[1]: duplicate \"base\""},
      {"org: {id: acme}\nassets: [{symbol: USDC, decimals: 31}]",
       "assets[0].decimals: \"31\" must be a whole number from 0 to 30"},
      {"org: {id: acme}\nassets: [{symbol: USDC, decimals: 6, price_usd: "
       "'-1'}]",
       "assets[0].price_usd: \"-1\" is not a non-negative decimal"},
      {"org: {id: acme}\nassets: [{symbol: U, decimals: 6}, {symbol: U, "
       "decimals: 2}]",
       "assets[1].symbol: duplicate asset \"U\""},
      {"org: {id: acme}\nagents: {id: a}", "agents: must be a list"},
      {"org: {id: acme}\nagents: [5]", "agents[0]: must be a mapping"},
      {"org: [1, 2]", "org: must be a mapping"},
      {"- just\n- a list", "bundle: must be a mapping"},
      {"org: {id: acme", "bundle: not valid YAML at line"},
      // Approval tiers.
      {"org: {id: acme}\ndepartments: [{id: d, approvals: {colour: red}}]",
       "departments[0].approvals.colour: unknown key"},
      {"org: {id: acme}\ndepartments: [{id: d, approvals: "
       "{approval_above_usd: '100'}}]",
       "departments[0].approvals.approvers: is required with "
       "approval_above_usd"},
      {"org: {id: acme}\ndepartments: [{id: d, approvals: "
       "{delay_above_usd: '100'}}]",
       "departments[0].approvals.delay: is required (and above 0) with "
       "delay_above_usd"},
      {"org: {id: acme}\ndepartments: [{id: d, approvals: {delay: 8d}}]",
       "departments[0].approvals.delay: must be at most 7d"},
      {"org: {id: acme}\ndepartments: [{id: d, approvals: "
       "{approvers: [alice]}}]",
       "departments[0].approvals.approvers[0]: \"alice\" must be "
       "second_agent, user/<id> or agent/<id>"},
      {"org: {id: acme}\ndepartments: [{id: d, approvals: "
       "{approvers: [agent/ghost]}}]",
       "departments[0].approvals.approvers[0]: unknown agent \"ghost\""},
      {"org: {id: acme}\ndepartments: [{id: d, approvals: "
       "{approvers: [user/a], approvals_required: 2}}]",
       "departments[0].approvals.approvals_required: 2 exceeds the number of "
       "approvers, 1"},
      {"org: {id: acme}\ndepartments: [{id: d, approvals: "
       "{approvers: [user/a], approvals_required: 0}}]",
       "departments[0].approvals.approvals_required: \"0\" must be a whole "
       "number from 1 to 10"},
      {"org: {id: acme}\ndepartments: [{id: d, approvals: "
       "{cumulative: {approval_above_usd: '5'}}}]",
       "departments[0].approvals.cumulative.window: is required"},
      {"org: {id: acme}\ndepartments: [{id: d}]\nagents: [{id: a, "
       "department: d, approvals: {notify_above_usd: lots}}]",
       "agents[0].approvals.notify_above_usd: \"lots\" is not a "
       "non-negative"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ErrorOf(c.yaml), HasSubstr(c.error)) << c.yaml;
  }
}

// All problems are reported at once, not just the first.
TEST(BundleTest, ApprovalTiers) {
  absl::StatusOr<Policy> p = ParseBundle(R"(
org: {id: acme}
departments:
  - id: eng
    approvals:
      notify_above_usd: "50"
      delay_above_usd: "100"
      delay: 10m
      approval_above_usd: "500"
      approvers: [user/alice, second_agent, agent/b]
      approvals_required: 2
      approval_timeout: 2h
      cumulative: {window: "calendar:day", approval_above_usd: "2000"}
agents:
  - {id: a, department: eng}
  - {id: b, department: eng}
)");
  ASSERT_TRUE(p.ok()) << p.status();
  const ApprovalTiers& t = *p->departments.at("eng").approvals;
  EXPECT_EQ(t.per_tx.notify_above_usd, 50'000'000);
  EXPECT_EQ(t.per_tx.delay_above_usd, 100'000'000);
  EXPECT_EQ(t.per_tx.approval_above_usd, 500'000'000);
  EXPECT_EQ(t.delay, absl::Minutes(10));
  EXPECT_THAT(t.approvers,
              ElementsAre("user/alice", "second_agent", "agent/b"));
  EXPECT_EQ(t.approvals_required, 2);
  EXPECT_EQ(t.approval_timeout, absl::Hours(2));
  ASSERT_TRUE(t.window.has_value());
  EXPECT_EQ(t.window->spec, "calendar:day");
  EXPECT_EQ(t.cumulative.approval_above_usd, 2'000'000'000);
  EXPECT_FALSE(t.cumulative.notify_above_usd.has_value());
  EXPECT_FALSE(p->agents.at("a").approvals.has_value());

  // A changed threshold shows in the diff.
  Policy before = *p;
  absl::StatusOr<Policy> after = ParseBundle(R"(
org: {id: acme}
departments:
  - id: eng
    approvals: {approval_above_usd: "900", approvers: [user/alice]}
agents:
  - {id: a, department: eng}
  - {id: b, department: eng}
)");
  ASSERT_TRUE(after.ok()) << after.status();
  const std::vector<std::string> diff = DiffPolicies(before, *after);
  EXPECT_THAT(diff, ::testing::Contains(
                        "~ departments.eng.approvals.approval_above_usd: "
                        "500.00 -> 900.00"));
}

TEST(BundleTest, ReportsEveryError) {
  const std::string error = ErrorOf(R"(
org: {id: acme, timezone: Nowhere/Land}
departments: [{id: d, limits: [{usd: x, window: "rolling:1h"}]}]
agents: [{id: a, department: zz}]
)");
  EXPECT_THAT(error, HasSubstr("org.timezone"));
  EXPECT_THAT(error, HasSubstr("departments[0].limits[0].usd"));
  EXPECT_THAT(error, HasSubstr("agents[0].department"));
}

// Oversized bundles are refused before parsing.
TEST(BundleTest, SizeLimit) {
  EXPECT_THAT(ErrorOf(std::string(kMaxBundleBytes + 1, '#')),
              HasSubstr("exceeds the limit"));
}

// Nesting is bounded, however it is written.
TEST(BundleTest, DepthLimit) {
  EXPECT_THAT(ErrorOf("org: " + std::string(100000, '[')),
              HasSubstr("nested deeper than 16 levels"));
  std::string deep = "org: {id: acme}\nagents: ";
  for (int i = 0; i < 20; ++i) deep += "[";
  for (int i = 0; i < 20; ++i) deep += "]";
  EXPECT_THAT(ErrorOf(deep), HasSubstr("nested deeper than 16 levels"));
}

// A "billion laughs" of nested aliases is refused at once, before any
// expansion; anchors alone are refused too (a policy has no use for them).
TEST(BundleTest, AnchorsAndAliasesAreRefused) {
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 30; ++i) {
    laughs += absl::StrCat("a", i, ": &a", i, " [");
    for (int j = 0; j < 10; ++j) {
      laughs += absl::StrCat(j ? ", " : "", "*a", i - 1);
    }
    laughs += "]\n";
  }
  EXPECT_THAT(ErrorOf(laughs), HasSubstr("anchors (&name) are not allowed"));
  // An alias of an anchor defined elsewhere in the text: the anchor is
  // reported first, so the alias is checked alone in flow syntax.
  EXPECT_THAT(ErrorOf("org: &o {id: acme}\nx: *o\n"), HasSubstr("anchors"));
  EXPECT_THAT(ErrorOf("org: &o {id: acme}\n"),
              HasSubstr("line 1, column 6: anchors"));
}

// A key given twice is an error, not "the first wins": YAML tools disagree
// on which one does, so a reviewer could read another policy.
TEST(BundleTest, DuplicateKeysAreRefused) {
  EXPECT_THAT(ErrorOf("org: {id: acme, id: evil}\n"),
              HasSubstr("duplicate key \"id\""));
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "org: {id: other}\n"),
              HasSubstr("duplicate key \"org\""));
  // The same key in two sibling mappings is fine.
  EXPECT_TRUE(ParseBundle(kMinimal).ok());
}

// A second YAML document would be ignored; it is refused instead, as are
// keys that are not plain values.
TEST(BundleTest, OneDocumentWithPlainKeys) {
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "---\norg: {id: evil}\n"),
              HasSubstr("a second YAML document is not allowed"));
  EXPECT_THAT(ErrorOf("? [org]\n: {id: acme}\n"),
              HasSubstr("a key must be a plain value"));
}

// The number of nodes is bounded: a flat 1 MiB list is refused quickly.
TEST(BundleTest, NodeLimit) {
  std::string flat = "org: [";
  while (flat.size() < kMaxBundleBytes - 10) flat += "1,";
  flat += "1]";
  EXPECT_THAT(ErrorOf(flat), HasSubstr("more than 200000 nodes"));
}

// Prices must value every amount without overflow, and never at $0.
TEST(BundleTest, PricesMustBePositiveAndRepresentable) {
  auto with_price = [](const std::string& decimals, const std::string& price) {
    std::string yaml = kMinimal;
    const std::string from = "{symbol: USDC, decimals: 6, price_usd: \"1\"}";
    yaml.replace(yaml.find(from), from.size(),
                 absl::StrCat("{symbol: USDC, decimals: ", decimals,
                              ", price_usd: \"", price, "\"}"));
    return yaml;
  };
  EXPECT_THAT(ErrorOf(with_price("6", "0")), HasSubstr("must be positive"));
  EXPECT_THAT(ErrorOf(with_price("6", "0.000000000000")),
              HasSubstr("must be positive"));
  // 2^122 with 0 decimals: micro-dollars per base unit overflow 128 bits.
  EXPECT_THAT(ErrorOf(with_price("0", "5316911983139663491615228241121378304")),
              HasSubstr("too large to value amounts exactly"));
  EXPECT_TRUE(
      ParseBundle(with_price("18", "5316911983139663491615228241121378304"))
          .ok());
  EXPECT_TRUE(ParseBundle(with_price("30", "0.000000000001")).ok());
}

// Destination lists hold addresses, validated as request destinations are;
// a deny entry that is not one would block nothing.
TEST(BundleTest, DestinationListsHoldAddresses) {
  std::string yaml = kMinimal;
  yaml.replace(yaml.find("org: {id: acme}"), 15,
               "org: {id: acme, destinations_deny: [\"0xdead\", "
               "\"0x000000000000000000000000000000000000dEaD\"]}");
  EXPECT_THAT(ErrorOf(yaml),
              HasSubstr("org.destinations_deny[0]: \"0xdead\" is not an "
                        "address"));
  std::string mixed = kMinimal;
  mixed.replace(mixed.find("org: {id: acme}"), 15,
                "org: {id: acme, destinations_deny: "
                "[\"0x000000000000000000000000000000000000DEaD\"]}");
  EXPECT_THAT(ErrorOf(mixed), HasSubstr("destinations_deny[0]"));
}

// Lists are bounded where they shape a decision: limits on one scope,
// approvers of one tier.
TEST(BundleTest, ListsAreBounded) {
  std::string yaml = kMinimal;
  std::string limits = "    limits:\n";
  for (size_t i = 0; i <= kMaxLimitsPerScope; ++i) {
    limits += absl::StrCat("      - {name: l", i,
                           ", usd: \"1\", window: \"rolling:1h\"}\n");
  }
  yaml.replace(yaml.find("    wallets:"), 0, limits);
  EXPECT_THAT(ErrorOf(yaml),
              HasSubstr("agents[0].limits: holds 33 entries; the limit is 32"));
}

// A diff is shown and audited within bounds; the count of the rest is kept.
TEST(BundleTest, BoundedDiff) {
  std::vector<std::string> diff;
  for (int i = 0; i < 150; ++i) diff.push_back(absl::StrCat("+ x", i, ": y"));
  diff[0] = "+ long: " + std::string(2000, 'z');
  diff[1] = "+ utf8: " + std::string(500, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9";
  std::vector<std::string> shown = BoundedDiff(diff);
  ASSERT_EQ(shown.size(), kMaxDiffLines + 1);
  EXPECT_EQ(shown[0].size(), kMaxDiffLineBytes);
  EXPECT_EQ(shown[1].substr(shown[1].size() - 4), "a...");  // Not mid-char.
  EXPECT_EQ(shown.back(),
            "... and 50 more changes (get-bundle shows the whole version)");
}

// A key given without a value is an error, never an absent key: `usd:`
// with nothing after it once dropped a limit silently.
TEST(BundleTest, EmptyValuesAreRefused) {
  for (const char* empty : {"", "~", "null"}) {
    std::string yaml = kMinimal;
    yaml.replace(yaml.find("    wallets:"), 0,
                 absl::StrCat("    limits: [{name: daily_max, usd: ", empty,
                              ", window: \"rolling:24h\"}]\n"));
    EXPECT_THAT(ErrorOf(yaml),
                HasSubstr("agents[0].limits[0].usd: is empty: give a value"))
        << empty;
  }
}

// A time zone is a zone database name, never a path: loading a path opened
// any file (a FIFO hung a worker), and "localtime" differs per host.
TEST(BundleTest, TimeZonesAreZoneNames) {
  for (const char* bad : {"/etc/localtime", "localtime", "../../etc/passwd",
                          "America/../../tmp/x", "America//New_York",
                          "America/New_York/", "Europe/Paris\x7f"}) {
    std::string yaml = kMinimal;
    yaml.replace(yaml.find("org: {id: acme}"), 15,
                 absl::StrCat("org: {id: acme, timezone: \"", bad, "\"}"));
    EXPECT_THAT(ErrorOf(yaml), HasSubstr("org.timezone: unknown time zone"))
        << bad;
  }
  std::string ok = kMinimal;
  ok.replace(ok.find("org: {id: acme}"), 15,
             "org: {id: acme, timezone: Etc/GMT+5}");
  EXPECT_TRUE(ParseBundle(ok).ok());
}

// Schedules on the org, a department and an agent's rules, and the org's
// default: parsed, their errors named by path, shown in diffs.
TEST(BundleTest, SchedulesAndDefault) {
  auto with_org = [](const std::string& org) {
    std::string yaml = kMinimal;
    yaml.replace(yaml.find("org: {id: acme}"), 15, org);
    return yaml;
  };
  const struct {
    std::string org;
    std::string error;
  } cases[] = {
      {"org: {id: acme, default: maybe}",
       "org.default: \"maybe\" must be allow or deny"},
      {"org: {id: acme, schedule: weekdays}",
       "org.schedule: must be a mapping of days and hours"},
      {"org: {id: acme, schedule: {}}", "org.schedule: needs days, hours"},
      {"org: {id: acme, schedule: {days: [mon, fr]}}",
       "org.schedule.days[1]: \"fr\" is not a day"},
      {"org: {id: acme, schedule: {days: []}}",
       "org.schedule.days: is empty, which would allow no time at all"},
      {"org: {id: acme, schedule: {days: }}",
       "org.schedule.days: is empty: give a list"},
      {"org: {id: acme, schedule: {days: mon}}",
       "org.schedule.days: must be a list"},
      {"org: {id: acme, schedule: {days: [mon, tue, wed, thu, fri, sat, sun, "
       "mon]}}",
       "org.schedule.days: holds 8 entries; the limit is 7"},
      {"org: {id: acme, schedule: {hours: 9-17}}",
       "org.schedule.hours: \"9-17\" is not a range of HH:MM-HH:MM"},
      {"org: {id: acme, schedule: {hours: [\"09:00-17:00\"]}}",
       "org.schedule.hours: must be a single value"},
      {"org: {id: acme, schedule: {at: night}}",
       "org.schedule.at: unknown key (allowed: days, hours)"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(ErrorOf(with_org(c.org)), HasSubstr(c.error)) << c.org;
  }
  std::string yaml = with_org(
      "org: {id: acme, default: deny, schedule: {days: [mon-fri], hours: "
      "\"08:00-20:00\"}}");
  yaml.replace(yaml.find("  - {id: eng}"), 13,
               "  - {id: eng, schedule: {days: [sat, sun]}}");
  yaml.replace(yaml.find("    department: eng"), 19,
               "    department: eng\n    rules: {schedule: {hours: "
               "\"22:00-06:00\"}}");
  absl::StatusOr<Policy> p = ParseBundle(yaml);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->org.default_deny);
  EXPECT_EQ(p->org.schedule->Describe(), "mon-fri 08:00-20:00");
  EXPECT_EQ(p->departments.at("eng").schedule->Describe(), "sat,sun");
  EXPECT_EQ(p->agents.at("a").rules.schedule->Describe(),
            "every day 22:00-06:00");
  EXPECT_THAT(
      DiffPolicies(*ParseBundle(kMinimal), *p),
      ElementsAre("+ agents.a.rules.schedule: every day 22:00-06:00",
                  "+ departments.eng.schedule: sat,sun", "+ org.default: deny",
                  "+ org.schedule: mon-fri 08:00-20:00"));
  EXPECT_FALSE(ParseBundle(kMinimal)->org.default_deny);
}

TEST(BundleTest, OnViolation) {
  auto with_rules = [](const std::string& rules,
                       const std::string& approvals = "") {
    std::string yaml = kMinimal;
    yaml.replace(
        yaml.find("    department: eng"), 19,
        absl::StrCat("    department: eng\n    rules: ", rules,
                     approvals.empty() ? "" : "\n    approvals: ", approvals));
    return yaml;
  };
  EXPECT_THAT(ErrorOf(with_rules("{chains: [base], on_violation: {chains: "
                                 "maybe}}")),
              HasSubstr("agents[0].rules.on_violation.chains: \"maybe\" must "
                        "be deny, approve or notify"));
  EXPECT_THAT(ErrorOf(with_rules("{on_violation: {assets: notify}}")),
              HasSubstr("agents[0].rules.on_violation.assets: the rule assets "
                        "is not set in these rules"));
  // An empty list is no list: under default deny it would escalate the
  // refusal of every chain.
  EXPECT_THAT(ErrorOf(with_rules("{chains: , on_violation: {chains: "
                                 "notify}}")),
              HasSubstr("agents[0].rules.on_violation.chains: the rule chains "
                        "is not set in these rules"));
  EXPECT_THAT(ErrorOf(with_rules("{chains: [base], on_violation: {limits: "
                                 "notify}}")),
              HasSubstr("agents[0].rules.on_violation.limits: unknown key"));
  EXPECT_THAT(ErrorOf(with_rules("{chains: [base], on_violation: [chains]}")),
              HasSubstr("agents[0].rules.on_violation: must be a mapping"));
  EXPECT_THAT(ErrorOf(with_rules("{chains: [base], on_violation: {chains: "
                                 "approve}}")),
              HasSubstr("agents[0].rules.on_violation.chains: approve needs "
                        "approvers"));
  const std::string ok =
      with_rules("{chains: [base], on_violation: {chains: approve}}",
                 "{approvers: [user/alice]}");
  absl::StatusOr<Policy> p = ParseBundle(ok);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->agents.at("a").rules.on_violation.at("chains"),
            OnViolation::kApprove);
  EXPECT_THAT(
      DiffPolicies(*ParseBundle(with_rules("{chains: [base]}",
                                           "{approvers: [user/alice]}")),
                   *p),
      ElementsAre("+ agents.a.rules.on_violation.chains: approve"));
}

// Contract rules and approved spenders: parsed with selectors computed and
// amounts in base units; every mistake named by its path; diffed by
// contract, method and spender.
TEST(BundleTest, ContractsAndApprovedSpenders) {
  auto with_rules = [](const std::string& rules) {
    std::string yaml = kMinimal;
    yaml.replace(yaml.find("    department: eng"), 19,
                 absl::StrCat("    department: eng\n    rules:\n", rules));
    // USDC is a token on base here.
    yaml.replace(yaml.find("price_usd: \"1\"}"), 16,
                 "price_usd: \"1\", chains: {base: "
                 "\"0x1111111111111111111111111111111111111111\"}}");
    return yaml;
  };
  const std::string good = with_rules(R"y(
      contracts:
        - chain: base
          address: "0x2222222222222222222222222222222222222222"
          methods:
            - "0xdeadbeef"
            - signature: "deposit(address to, uint256 amount)"
              where:
                to: {eq: "0x00000000000000000000000000000000000A11CE"}
                amount: {min: "1", max: "2.5 USDC"}
      approved_spenders:
        - {spender: "0x3333333333333333333333333333333333333333", asset: USDC, max: "500.5"}
        - {spender: "0x3333333333333333333333333333333333333333", max_usd: "100"}
        - {spender: "0x4444444444444444444444444444444444444444", unlimited: true}
      on_violation: {approved_spenders: notify}
)y");
  absl::StatusOr<Policy> p = ParseBundle(good);
  ASSERT_TRUE(p.ok()) << p.status();
  const AgentRules& r = p->agents.at("a").rules;
  ASSERT_EQ(r.contracts.size(), 1);
  ASSERT_EQ(r.contracts[0].methods.size(), 2);
  const MethodRule& deposit = r.contracts[0].methods[1];
  EXPECT_EQ(deposit.signature, "deposit(address,uint256)");
  EXPECT_EQ(deposit.selector, "\x47\xe7\xef\x24");
  ASSERT_EQ(deposit.where.size(), 2);
  EXPECT_EQ(
      deposit.where[0].addresses,
      std::vector<std::string>{"0x00000000000000000000000000000000000a11ce"});
  EXPECT_EQ(deposit.where[1].max, absl::uint128(2'500'000));
  EXPECT_EQ(deposit.where[1].text, "amount >= 1 and amount <= 2.5 USDC");
  ASSERT_EQ(r.approved_spenders.size(), 3);
  EXPECT_EQ(r.approved_spenders[0].max_units, absl::uint128(500'500'000));
  EXPECT_EQ(r.approved_spenders[1].max_usd, 100'000'000);
  EXPECT_TRUE(r.approved_spenders[2].unlimited);
  EXPECT_EQ(r.on_violation.at("approved_spenders"), OnViolation::kNotify);
  EXPECT_THAT(
      DiffPolicies(*ParseBundle(kMinimal), *p),
      ::testing::IsSupersetOf(
          {"+ agents.a.rules.contracts.base:"
           "0x2222222222222222222222222222222222222222.deposit(address,"
           "uint256): where to one of "
           "[0x00000000000000000000000000000000000A11CE]; amount "
           ">= 1 and amount <= 2.5 USDC",
           "+ agents.a.rules.approved_spenders."
           "0x3333333333333333333333333333333333333333:USDC: max 500.5"}));

  const std::pair<const char*, const char*> bad[] = {
      {"      contracts: [{chain: base, address: \"0x22\", methods: "
       "[\"f()\"]}]",
       "agents[0].rules.contracts[0].address: \"0x22\" is not an EVM address"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: []}]",
       "agents[0].rules.contracts[0].methods: must be a non-empty list"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[\"swap((address,uint256))\"]}]",
       "agents[0].rules.contracts[0].methods[0]: argument 0 of"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[\"0x1234\"]}]",
       "agents[0].rules.contracts[0].methods[0]: \"0x1234\" is not a 4-byte "
       "selector"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[\"f()\", \"f( )\"]}]",
       "agents[0].rules.contracts[0].methods[1]: duplicate method f()"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(uint256)\", where: {x: {max: \"1\"}}}]}]",
       "agents[0].rules.contracts[0].methods[0].where.x: no argument named "
       "\"x\""},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(bool b)\", where: {b: {eq: \"1\"}}}]}]",
       "where.b: conditions apply to address and uint arguments; b is bool"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(uint256 n)\", where: {n: {max: \"1 DOGE\"}}}]}]",
       "where.n.max: \"1 DOGE\": unknown asset \"DOGE\""},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(uint256 n)\", where: {n: {max: \"-1\"}}}]}]",
       "where.n.max: \"-1\" must be base units"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{selector: \"0x12345678\", where: {n: {max: \"1\"}}}]}]",
       "methods[0].where: needs the method's signature"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(address a)\", where: {a: {max: \"1\"}}}]}]",
       "where.a.max: unknown key"},
      {"      approved_spenders: [{spender: "
       "\"0x3333333333333333333333333333333333333333\"}]",
       "agents[0].rules.approved_spenders[0]: needs exactly one of max, "
       "max_usd or unlimited: true"},
      {"      approved_spenders: [{spender: "
       "\"0x3333333333333333333333333333333333333333\", max: \"5\"}]",
       "approved_spenders[0].max: is in whole tokens of `asset`"},
      {"      approved_spenders: [{spender: "
       "\"0x3333333333333333333333333333333333333333\", asset: USDC, max: "
       "\"0.0000001\"}]",
       "approved_spenders[0].max: \"0.0000001\" has more than 6 fractional "
       "digits"},
      {"      approved_spenders: [{spender: "
       "\"0x3333333333333333333333333333333333333333\", unlimited: yes}]",
       "approved_spenders[0].unlimited: must be true or false"},
      {"      approved_spenders:\n"
       "        - {spender: \"0x3333333333333333333333333333333333333333\", "
       "unlimited: true}\n"
       "        - {spender: \"0x3333333333333333333333333333333333333333\", "
       "max_usd: \"1\"}",
       "approved_spenders[1]: duplicate spender"},
      {"      on_violation: {contracts: approve}",
       "on_violation.contracts: the rule contracts is not set"},
      // What Warden reads itself is not a contract rule's.
      {"      contracts: [{chain: base, address: "
       "\"0x1111111111111111111111111111111111111111\", methods: "
       "[\"transfer(address,uint256)\"]}]",
       "methods[0]: transfer(address,uint256) on USDC's contract is a spend "
       "of it: its budgets govern it, not contracts"},
      {"      contracts: [{chain: base, address: "
       "\"0x000000000022D473030F116dDEE9F6B43aC78BA3\", methods: "
       "[\"approve(address,address,uint160,uint48)\"]}]",
       "on Permit2 is an approval"},
      // Conditions that would read as none, or as either, or never hold.
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(address a)\", where: {a: {one_of: []}}}]}]",
       "where.a.one_of: must be a non-empty list"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(address a)\", where: {a: {one_of: ~}}}]}]",
       "where.a.one_of: must be a non-empty list"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(address a)\", where: {}}]}]",
       "where: must be a non-empty mapping"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(address a)\", where: {a: {eq: "
       "\"0x2222222222222222222222222222222222222222\", one_of: "
       "[\"0x3333333333333333333333333333333333333333\"]}}}]}]",
       "where.a: give eq or one_of, not both"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(uint256 a, uint256 a)\"}]}]",
       "duplicate name \"a\""},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(uint256 n)\", where: {n: {min: \"5\", max: "
       "\"4\"}}}]}]",
       "where.n: min is above max"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(uint8 n)\", where: {n: {max: \"256\"}}}]}]",
       "where.n: a bound above uint8's largest value, 255"},
      {"      contracts: [{chain: base, address: "
       "\"0x2222222222222222222222222222222222222222\", methods: "
       "[{signature: \"f(address a)\", where: {a: {one_of: "
       "[\"0x3333333333333333333333333333333333333333\", "
       "\"0x3333333333333333333333333333333333333333\"]}}}]}]",
       "duplicate"},
  };
  for (const auto& [rules, error] : bad) {
    EXPECT_THAT(ErrorOf(with_rules(rules)), HasSubstr(error)) << rules;
  }
}

// One contract, one asset: two symbols for one token (in any case), a
// token at Permit2's address, and an approved spender of a coin with no
// contract are refused.
TEST(BundleTest, AssetsAndTheirContracts) {
  std::string yaml = kMinimal;
  yaml += R"(  - {symbol: AAA, decimals: 30, price_usd: "0.000001",
     chains: {base: "0x1111111111111111111111111111111111111111"}}
  - {symbol: BBB, decimals: 6, price_usd: "1",
     chains: {base: "0x1111111111111111111111111111111111111111"}}
  - {symbol: CCC, decimals: 6, price_usd: "1",
     chains: {base: "0x000000000022D473030F116dDEE9F6B43aC78BA3"}}
  - {symbol: ETH, decimals: 18, price_usd: "1", chains: {base: native}}
  - {symbol: WETH, decimals: 18, price_usd: "1", chains: {base: native}}
)";
  const std::string error = ErrorOf(yaml);
  EXPECT_THAT(error, HasSubstr("assets[2].chains.base: this contract on base "
                               "is already declared by assets[1].chains"));
  EXPECT_THAT(error, HasSubstr("assets[3].chains.base: is Permit2's contract"));
  EXPECT_THAT(error, HasSubstr("assets[5].chains.base: the native coin of "
                               "base is already declared by assets[4].chains"));
  std::string spender = kMinimal;
  spender.replace(
      spender.find("    department: eng"), 19,
      "    department: eng\n    rules: {approved_spenders: [{spender: "
      "\"0x3333333333333333333333333333333333333333\", asset: USDC, max: "
      "\"1\"}]}");
  EXPECT_THAT(ErrorOf(spender),
              HasSubstr("approved_spenders[0].asset: \"USDC\" has no token "
                        "contract"));
}

// Nested departments and the scope limits: parents must exist, not loop and
// not nest past the bound; chain and asset limits name a chain id and a
// declared asset; wallets and agents take limits of their own; all of it
// diffs by path.
TEST(BundleTest, NestedDepartmentsAndScopeLimits) {
  const std::string good = R"(
org:
  id: acme
  chain_limits: {base: [{usd: "100", window: "rolling:24h"}]}
  asset_limits: {USDC: [{name: usdc_day, usd: "50", window: "calendar:day"}]}
  destination_limits: [{name: per_address, count: 3, window: "rolling:24h"}]
departments:
  - {id: division}
  - {id: team, parent: division}
agents:
  - id: a
    department: team
    destination_limits: [{name: to_one, usd: "10", window: "rolling:1h"}]
    wallets:
      - {id: w1, vendor: local, chain: base, address: "0xAbC",
         limits: [{name: w1_day, usd: "5", window: "rolling:24h"}]}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";
  absl::StatusOr<Policy> p = ParseBundle(good);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->departments.at("team").parent, "division");
  std::vector<std::string> chain;
  for (const Department* d : DepartmentChain(*p, "team"))
    chain.push_back(d->id);
  EXPECT_THAT(chain, ElementsAre("division", "team"));
  EXPECT_EQ(p->org.chain_limits.at("base")[0].name, "usd_rolling_24h");
  EXPECT_EQ(p->org.asset_limits.at("USDC")[0].usd, 50 * kMicrosPerUsd);
  EXPECT_EQ(p->org.destination_limits[0].count, 3);
  EXPECT_EQ(p->agents.at("a").destination_limits[0].name, "to_one");
  EXPECT_EQ(p->wallets.at("w1").limits[0].usd, 5 * kMicrosPerUsd);
  EXPECT_THAT(DiffPolicies(*ParseBundle(kMinimal), *p),
              ::testing::IsSupersetOf(
                  {"+ departments.team: department of division",
                   "+ org.chain_limits.base.usd_rolling_24h: usd 100.00 per "
                   "rolling:24h",
                   "+ org.destination_limits.per_address: count 3 per "
                   "rolling:24h",
                   "+ agents.a.destination_limits.to_one: usd 10.00 per "
                   "rolling:1h",
                   "+ wallets.w1.limits.w1_day: usd 5.00 per rolling:24h"}));

  auto with = [&](const std::string& from, const std::string& to) {
    std::string yaml = good;
    yaml.replace(yaml.find(from), from.size(), to);
    return yaml;
  };
  EXPECT_THAT(ErrorOf(with("{id: team, parent: division}",
                           "{id: team, parent: nowhere}")),
              HasSubstr("departments.team.parent: unknown department "
                        "\"nowhere\""));
  EXPECT_THAT(ErrorOf(with("{id: division}", "{id: division, parent: team}")),
              HasSubstr("is its own ancestor"));
  // A loop is named by the departments on it, not those below it.
  const std::string below_loop = ErrorOf(
      with("  - {id: team, parent: division}\n",
           "  - {id: team, parent: team}\n  - {id: squad, parent: team}\n"));
  EXPECT_THAT(below_loop, HasSubstr("departments.team.parent: department "
                                    "\"team\" is its own ancestor (through "
                                    "\"team\")"));
  EXPECT_THAT(below_loop, Not(HasSubstr("departments.squad")));
  EXPECT_THAT(
      ErrorOf(with("{id: team, parent: division}", "{id: team, parent: team}")),
      HasSubstr("departments.team.parent: department \"team\" is its "
                "own ancestor"));
  std::string deep = "  - {id: d0}\n";
  for (int i = 1; i <= kMaxDepartmentDepth; ++i) {
    absl::StrAppend(&deep, "  - {id: d", i, ", parent: d", i - 1, "}\n");
  }
  EXPECT_THAT(ErrorOf(with("  - {id: division}\n", deep)),
              HasSubstr("nests deeper than 8 levels"));
  EXPECT_THAT(ErrorOf(with("asset_limits: {USDC:", "asset_limits: {DOGE:")),
              HasSubstr("org.asset_limits.DOGE: unknown asset \"DOGE\""));
  EXPECT_THAT(ErrorOf(with("chain_limits: {base: [{usd: \"100\", window: "
                           "\"rolling:24h\"}]}",
                           "chain_limits: {base: []}")),
              HasSubstr("org.chain_limits.base: must be a non-empty list"));
  EXPECT_THAT(ErrorOf(with("chain_limits: {base: [{usd: \"100\", window: "
                           "\"rolling:24h\"}]}",
                           "chain_limits: [base]")),
              HasSubstr("org.chain_limits: must be a mapping"));
  EXPECT_THAT(ErrorOf(with("limits: [{name: w1_day, usd: \"5\"",
                           "limits: [{name: w1_day, usd: \"-5\"")),
              HasSubstr("agents[0].wallets[0].limits[0].usd"));
}

// Caps and lists per wallet, per chain and per asset: parsed, diffed by
// path, and each refuses the key that makes no sense at its level.
TEST(BundleTest, WalletChainAndAssetRules) {
  const std::string good = R"(
org:
  id: acme
  chain_rules: {base: {per_tx_max_usd: "30", destinations_deny: ["0x000000000000000000000000000000000000dead"]}}
  asset_rules: {USDC: {chains: [base]}}
departments: [{id: eng}]
agents:
  - id: a
    department: eng
    wallets:
      - {id: w1, vendor: local, chain: base, address: "0x01",
         rules: {destinations_allow: ["0x00000000000000000000000000000000000000AB"], assets: [USDC]}}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";
  absl::StatusOr<Policy> p = ParseBundle(good);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->org.chain_rules.at("base").per_tx_max_usd, 30 * kMicrosPerUsd);
  EXPECT_THAT(p->org.chain_rules.at("base").destinations_deny,
              ElementsAre("0x000000000000000000000000000000000000dead"));
  EXPECT_THAT(*p->org.asset_rules.at("USDC").chains, ElementsAre("base"));
  EXPECT_THAT(*p->wallets.at("w1").rules.destinations_allow,
              ElementsAre("0x00000000000000000000000000000000000000ab"));
  EXPECT_THAT(DiffPolicies(*ParseBundle(kMinimal), *p),
              ::testing::IsSupersetOf(
                  {"+ org.chain_rules.base.per_tx_max_usd: 30.00",
                   "+ "
                   "org.chain_rules.base.destinations_deny."
                   "0x000000000000000000000000000000000000dead: denied",
                   "+ org.asset_rules.USDC.chains: [base]",
                   "+ wallets.w1.rules.destinations_allow: "
                   "[0x00000000000000000000000000000000000000ab]",
                   "+ wallets.w1.rules.assets: [USDC]"}));
  auto with = [&](const std::string& from, const std::string& to) {
    std::string yaml = good;
    yaml.replace(yaml.find(from), from.size(), to);
    return yaml;
  };
  EXPECT_THAT(ErrorOf(with("assets: [USDC]}", "chains: [base]}")),
              HasSubstr("agents[0].wallets[0].rules.chains: unknown key"));
  EXPECT_THAT(ErrorOf(with("{USDC: {chains: [base]}}", "{USDC: {assets: []}}")),
              HasSubstr("org.asset_rules.USDC.assets: unknown key"));
  EXPECT_THAT(ErrorOf(with("{USDC: {chains", "{DOGE: {chains")),
              HasSubstr("org.asset_rules.DOGE: unknown asset \"DOGE\""));
  EXPECT_THAT(ErrorOf(with("{base: {per_tx_max_usd: \"30\"",
                           "{base: {per_tx_max_usd: \"-1\"")),
              HasSubstr("org.chain_rules.base.per_tx_max_usd"));
  // A chain no wallet or asset is on: a typo that would bind nothing.
  EXPECT_THAT(ErrorOf(with("chain_rules: {base:", "chain_rules: {BASE:")),
              HasSubstr("org.chain_rules.BASE: no wallet or asset is on chain "
                        "\"BASE\" (chains: base)"));
  EXPECT_THAT(ErrorOf(with("chain_rules: {base:",
                           "chain_limits: {bsae: [{usd: \"1\", window: "
                           "\"rolling:1h\"}]}\n  chain_rules: {base:")),
              HasSubstr("org.chain_limits.bsae: no wallet or asset is on "
                        "chain"));
  EXPECT_THAT(ErrorOf(with("{USDC: {chains: [base]}}", "{USDC: {}}")),
              HasSubstr("org.asset_rules.USDC: must be a non-empty mapping"));
  EXPECT_THAT(
      ErrorOf(
          with("asset_rules: {USDC: {chains: [base]}}", "asset_rules: [USDC]")),
      HasSubstr("org.asset_rules: must be a mapping of asset to rules"));
  EXPECT_THAT(
      ErrorOf(with(
          "destinations_deny: [\"0x000000000000000000000000000000000000dead\"]",
          "destinations_deny: [\"0xzz\"]")),
      HasSubstr("org.chain_rules.base.destinations_deny[0]"));
}

TEST(BundleTest, NormalizeDestination) {
  EXPECT_EQ(NormalizeDestination("0xAbCd"), "0xabcd");
  EXPECT_EQ(NormalizeDestination("So1anaBase58"), "So1anaBase58");
}

// The diff shows additions, removals and changes by id, ignoring order.
TEST(BundleTest, Diff) {
  Policy before = *ParseBundle(kMinimal);
  EXPECT_TRUE(DiffPolicies(before, before).empty());
  Policy after = *ParseBundle(R"(
org:
  id: acme
  limits: [{name: daily, usd: "100", window: "calendar:day"}]
departments:
  - {id: eng}
agents:
  - id: a
    department: eng
    rules: {chains: [base]}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1.01"}
)");
  EXPECT_THAT(
      DiffPolicies(before, after),
      ElementsAre("~ agents.a.rules.chains: any -> [base]",
                  "~ assets.USDC: decimals 6, price_usd 1 -> decimals 6, "
                  "price_usd 1.01",
                  "+ org.limits.daily: usd 100.00 per calendar:day",
                  "- wallets.w1: agent a, local on base, 0xAbC"));
}

// org.policy_changes: who approves a loosening, how many, and for how long
// a request stays open.
TEST(BundleTest, PolicyChanges) {
  const std::string org = "org: {id: acme}";
  auto with = [&](const std::string& rule) {
    std::string yaml = kMinimal;
    yaml.replace(yaml.find(org), org.size(),
                 absl::StrCat("org: {id: acme, policy_changes: ", rule, "}"));
    return yaml;
  };
  absl::StatusOr<Policy> p = ParseBundle(
      with("{approvals_required: 2, approvers: [user/alice, user/bob, "
           "user/carol], expires_after: 24h}"));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->org.policy_changes.has_value());
  EXPECT_EQ(p->org.policy_changes->approvals_required, 2);
  EXPECT_THAT(p->org.policy_changes->approvers,
              ElementsAre("user/alice", "user/bob", "user/carol"));
  EXPECT_EQ(p->org.policy_changes->expires_after, absl::Hours(24));
  EXPECT_EQ(ParseBundle(with("{approvers: [user/alice]}"))
                ->org.policy_changes->expires_after,
            absl::Hours(72));
  EXPECT_FALSE(ParseBundle(kMinimal)->org.policy_changes.has_value());
  EXPECT_THAT(ErrorOf(with("{approvals_required: 1}")),
              HasSubstr("org.policy_changes.approvers: is required"));
  EXPECT_THAT(ErrorOf(with("{approvers: [agent/a]}")),
              HasSubstr("org.policy_changes.approvers[0]: \"agent/a\" must be "
                        "user/<id>"));
  EXPECT_THAT(ErrorOf(with("{approvals_required: 3, approvers: [user/a, "
                           "user/b]}")),
              HasSubstr("org.policy_changes.approvals_required: 3 exceeds the "
                        "number of approvers, 2"));
  EXPECT_THAT(ErrorOf(with("{approvals_required: 0, approvers: [user/a]}")),
              HasSubstr("org.policy_changes.approvals_required"));
  EXPECT_THAT(ErrorOf(with("{approvers: [user/a], expires_after: 8d}")),
              HasSubstr("org.policy_changes.expires_after: must be at most "
                        "7d"));
  EXPECT_THAT(ErrorOf(with("{approvers: [user/a], quorum: 2}")),
              HasSubstr("org.policy_changes.quorum"));
}

}  // namespace
}  // namespace warden
