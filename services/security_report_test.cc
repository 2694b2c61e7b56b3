#include "services/security_report.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "governance/audit_chain.h"
#include "governance/bundle.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kSeeded[] = R"(
org: {id: acme}
departments: [{id: eng}]
agents:
  - id: bot
    department: eng
    wallets:
      - {id: mm, vendor: metamask, chain: base,
         address: "0x0000000000000000000000000000000000000001"}
      - {id: pv, vendor: privy, chain: base,
         address: "0x0000000000000000000000000000000000000002"}
  - id: idle
    department: eng
    limits: [{name: daily, usd: "100", window: "rolling:24h"}]
)";

constexpr char kClean[] = R"(
org:
  id: acme
  policy_changes: {approvals_required: 1, approvers: [user/cfo, user/cto]}
departments: [{id: eng}]
agents:
  - id: bot
    department: eng
    limits: [{name: daily, usd: "100", window: "rolling:24h"}]
    wallets:
      - {id: w, vendor: local, chain: base,
         address: "0x0000000000000000000000000000000000000001"}
)";

const absl::Time kNow = absl::FromUnixSeconds(1'777'651'200);

// An audit trail with `active` agents in the last 30 days and a chain as
// given.
class FakeReader final : public AuditReader {
 public:
  FakeReader(std::vector<std::string> active, ChainVerification chain)
      : active_(std::move(active)), chain_(chain) {}
  absl::Status Query(const AuditQuery&,
                     const std::function<bool(const AuditRecord&)>&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<SpendRow>> SpendSummary(
      const SpendQuery& q) override {
    EXPECT_EQ(q.group, SpendGroup::kAgent);
    EXPECT_EQ(q.to - q.from, kAgentIdleWarning);
    std::vector<SpendRow> rows;
    for (const std::string& a : active_) rows.push_back({.key = a, .count = 1});
    return rows;
  }
  absl::Status LatestAuthorizations(
      const std::string&, absl::Time,
      const std::function<absl::Status(const Authorization&)>&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<RecordedStatus>> NewestHolds(const std::string&,
                                                          absl::Time,
                                                          int) override {
    return std::vector<RecordedStatus>();
  }
  absl::StatusOr<ChainVerification> Verify(const std::string&) override {
    return chain_;
  }

 private:
  std::vector<std::string> active_;
  ChainVerification chain_;
};

// Created 40 days ago and used yesterday, unless `last_used` says else.
ApiToken Token(std::string id, std::vector<Role> roles, absl::Duration left,
               std::optional<absl::Time> last_used = kNow - absl::Hours(24)) {
  return ApiToken{.token_id = std::move(id),
                  .org_id = "acme",
                  .principal = "user/alice",
                  .roles = std::move(roles),
                  .created_at = kNow - absl::Hours(24 * 40),
                  .created_by = "bootstrap",
                  .expires_at = kNow + left,
                  .last_used_at = last_used};
}

std::vector<std::string> Attention(const SecurityReport& r) {
  std::vector<std::string> out;
  for (const SecurityFinding& f : r.findings) {
    if (f.attention) out.push_back(f.kind + " " + f.subject);
  }
  return out;
}

TEST(SecurityReportTest, EachFindingOnASeededOrg) {
  Policy policy = *ParseBundle(kSeeded);
  policy.yaml = kSeeded;  // As the config store keeps it.
  FakeReader reader({"bot"}, {.ok = true, .records = 10, .checkpoints = 0});
  const SecurityReport r = BuildSecurityReport(
      {.policy = &policy,
       .tokens = {Token("tok_soon", {Role::kAgent}, absl::Hours(24 * 3)),
                  Token("tok_admin", {Role::kAdmin}, absl::Hours(24 * 90)),
                  Token("tok_gone", {Role::kAdmin}, -absl::Hours(1)),
                  Token("tok_idle", {Role::kAgent}, absl::Hours(24 * 60),
                        kNow - absl::Hours(24 * 31)),
                  Token("tok_never", {Role::kAgent}, absl::Hours(24 * 60),
                        std::nullopt)},
       .freeze_control =
           [](const Wallet& w) -> std::optional<VendorFreeze::Strength> {
         if (w.vendor == "metamask") {
           return VendorFreeze::Strength::kOwnerApproval;
         }
         return std::nullopt;
       },
       .reader = &reader,
       .now = kNow});
  EXPECT_TRUE(r.NeedsAttention());
  EXPECT_THAT(Attention(r),
              ::testing::UnorderedElementsAre(
                  "policy_changes org/acme", "agent_without_limits agent/bot",
                  "wallet_freeze wallet/mm", "wallet_freeze wallet/pv",
                  "token_expiring tok_soon", "token_unused tok_idle",
                  "token_unused tok_never", "agent_not_seen agent/idle",
                  "audit_chain org/acme"));
  EXPECT_THAT(r.findings,
              Contains(AllOf(Field(&SecurityFinding::kind, "admin_token"),
                             Field(&SecurityFinding::subject, "tok_admin"))));
  EXPECT_THAT(r.findings,
              Not(Contains(Field(&SecurityFinding::subject, "tok_gone"))));
  EXPECT_THAT(r.findings,
              Contains(Field(&SecurityFinding::detail,
                             HasSubstr("0 signed checkpoints (none: start "
                                       "wardend with --audit-signing-key)"))));
  EXPECT_EQ(r.bundle_sha256, Sha256Hex(kSeeded));

  // A broken chain says where.
  FakeReader broken({"bot", "idle"},
                    {.ok = false, .first_bad_seq = 7, .problem = "hash"});
  const SecurityReport b =
      BuildSecurityReport({.policy = &policy, .reader = &broken, .now = kNow});
  EXPECT_THAT(b.findings, Contains(Field(&SecurityFinding::detail,
                                         HasSubstr("BROKEN at seq 7"))));
}

TEST(SecurityReportTest, ACleanOrgNeedsNothing) {
  Policy policy = *ParseBundle(kClean);
  policy.yaml = kClean;
  FakeReader reader({"bot"}, {.ok = true, .records = 10, .checkpoints = 2});
  PolicyChange change{.id = "pc_1",
                      .yaml = kClean,
                      .approvals = {"user/cto"},
                      .state = PolicyChange::State::kApplied};
  const SecurityReport r = BuildSecurityReport(
      {.policy = &policy,
       .changes = {change},
       .tokens = {Token("tok_agent", {Role::kAgent}, absl::Hours(24 * 60))},
       .freeze_control =
           [](const Wallet&) -> std::optional<VendorFreeze::Strength> {
         return VendorFreeze::Strength::kRefuses;
       },
       .reader = &reader,
       .now = kNow});
  EXPECT_THAT(Attention(r), IsEmpty());
  EXPECT_THAT(r.findings,
              Contains(Field(&SecurityFinding::detail,
                             HasSubstr("the bundle in force is the last "
                                       "approved change, pc_1 (approved by "
                                       "user/cto)"))));
}

}  // namespace
}  // namespace warden
