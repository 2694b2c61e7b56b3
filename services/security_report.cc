#include "services/security_report.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "governance/audit_chain.h"

namespace warden {
namespace {

std::string Day(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone());
}

bool HasUsdLimit(const std::vector<Limit>& limits) {
  return std::any_of(limits.begin(), limits.end(), [](const Limit& l) {
    return l.kind == Limit::Kind::kUsd;
  });
}

}  // namespace

bool SecurityReport::NeedsAttention() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const SecurityFinding& f) { return f.attention; });
}

SecurityReport BuildSecurityReport(const SecuritySources& in) {
  const Policy& policy = *in.policy;
  SecurityReport out;
  out.org_id = policy.org.id;
  out.bundle_version = policy.version;
  out.bundle_sha256 = Sha256Hex(policy.yaml);
  auto add = [&](std::string kind, std::string subject, std::string detail,
                 bool attention) {
    out.findings.push_back(
        {std::move(kind), std::move(subject), std::move(detail), attention});
  };
  const std::string org = absl::StrCat("org/", policy.org.id);

  // The bundle in force, and the last change a quorum approved.
  add("bundle", org,
      absl::StrCat("version ", policy.version, " (sha256 ", out.bundle_sha256,
                   ") in force, applied by ", policy.applied_by, " at ",
                   absl::FormatTime(absl::RFC3339_sec, policy.applied_at,
                                    absl::UTCTimeZone())),
      false);
  const PolicyChange* approved = nullptr;
  for (const PolicyChange& c : in.changes) {
    if (c.state == PolicyChange::State::kApplied &&
        (approved == nullptr || c.closed_at > approved->closed_at)) {
      approved = &c;
    }
  }
  if (!policy.org.policy_changes) {
    add("policy_changes", org,
        "org.policy_changes is not set: one admin can loosen the policy "
        "(raise any limit) alone",
        true);
  } else if (approved == nullptr) {
    add("policy_changes", org,
        "no loosening has been approved yet; every version in force was "
        "applied at once, as a tightening or before org.policy_changes",
        false);
  } else {
    const std::string sha = Sha256Hex(approved->yaml);
    add("policy_changes", org,
        sha == out.bundle_sha256
            ? absl::StrCat("the bundle in force is the last approved change, ",
                           approved->id, " (approved by ",
                           absl::StrJoin(approved->approvals, ", "), ")")
            : absl::StrCat("the last approved change, ", approved->id,
                           " (sha256 ", sha,
                           "), was followed by versions applied at once "
                           "(tightenings)"),
        false);
  }

  // Agents with no USD limit of their own or on any of their wallets.
  std::map<std::string, std::vector<const Wallet*>> wallets;
  for (const auto& [id, w] : policy.wallets) {
    wallets[w.agent_id].push_back(&w);
  }
  for (const auto& [id, agent] : policy.agents) {
    bool limited = HasUsdLimit(agent.limits);
    for (const Wallet* w : wallets[id])
      limited = limited || HasUsdLimit(w->limits);
    if (!limited) {
      add("agent_without_limits", absl::StrCat("agent/", id),
          "no USD limit of its own or on its wallets: only its department's "
          "and the org's limits bound it",
          true);
    }
  }

  // Wallets a freeze cannot stop at the vendor.
  for (const auto& [id, w] : policy.wallets) {
    const std::optional<VendorFreeze::Strength> control =
        in.freeze_control ? in.freeze_control(w) : std::nullopt;
    if (!control) {
      add("wallet_freeze", absl::StrCat("wallet/", id),
          absl::StrCat("no ", w.vendor,
                       " adapter in this wardend: a freeze stops the wallet "
                       "in Warden only, not at ",
                       w.vendor),
          true);
    } else if (*control == VendorFreeze::Strength::kOwnerApproval) {
      add("wallet_freeze", absl::StrCat("wallet/", id),
          absl::StrCat("a freeze at ", w.vendor,
                       " holds spends for the wallet owner's approval; it "
                       "does not refuse them"),
          true);
    }
  }

  // Tokens: about to expire, and every admin token.
  for (const ApiToken& t : in.tokens) {
    if (t.revoked_at || t.expires_at <= in.now) continue;
    if (in.now - t.created_at >= kTokenIdleWarning &&
        (!t.last_used_at || in.now - *t.last_used_at >= kTokenIdleWarning)) {
      add("token_unused", t.token_id,
          absl::StrCat(t.principal, "'s token has not been used in 30 days",
                       t.last_used_at ? absl::StrCat(" (last on ",
                                                     Day(*t.last_used_at), ")")
                                      : " (never)",
                       ": revoke it if nothing needs it"),
          true);
    }
    if (t.expires_at - in.now <= kTokenExpiryWarning) {
      add("token_expiring", t.token_id,
          absl::StrCat(t.principal, "'s token expires on ", Day(t.expires_at)),
          true);
    }
    if (std::find(t.roles.begin(), t.roles.end(), Role::kAdmin) !=
        t.roles.end()) {
      add("admin_token", t.token_id,
          absl::StrCat(t.principal, " holds an admin token until ",
                       Day(t.expires_at), " (created by ", t.created_by, ")"),
          false);
    }
  }

  // From the audit trail: agents not seen, and the chain.
  if (in.reader == nullptr) {
    add("audit_chain", org, "not checked: this wardend reads no audit trail",
        true);
    return out;
  }
  absl::StatusOr<std::vector<SpendRow>> seen =
      in.reader->SpendSummary({.org_id = policy.org.id,
                               .group = SpendGroup::kAgent,
                               .from = in.now - kAgentIdleWarning,
                               .to = in.now});
  if (!seen.ok()) {
    add("agent_not_seen", org,
        absl::StrCat("could not be read: ", seen.status().message()), true);
  } else {
    std::set<std::string> active;
    for (const SpendRow& r : *seen) active.insert(r.key);
    for (const auto& [id, agent] : policy.agents) {
      if (!active.contains(id)) {
        add("agent_not_seen", absl::StrCat("agent/", id),
            "no authorization in 30 days: decommission it if it is gone", true);
      }
    }
  }
  absl::StatusOr<ChainVerification> chain = in.reader->Verify(policy.org.id);
  if (!chain.ok()) {
    add("audit_chain", org,
        absl::StrCat("could not be verified: ", chain.status().message()),
        true);
  } else if (!chain->ok) {
    add("audit_chain", org,
        absl::StrCat("BROKEN at seq ", chain->first_bad_seq, ": ",
                     chain->problem),
        true);
  } else if (!chain->signable) {
    add("audit_chain", org,
        absl::StrCat("verified now: ", chain->records,
                     " records (an audit file: it carries no signed "
                     "checkpoints; keep exported copies elsewhere)"),
        false);
  } else {
    add("audit_chain", org,
        absl::StrCat("verified now: ", chain->records, " records, ",
                     chain->checkpoints, " signed checkpoints",
                     chain->checkpoints == 0
                         ? " (none: start wardend with --audit-signing-key)"
                         : ""),
        chain->checkpoints == 0);
  }
  return out;
}

}  // namespace warden
