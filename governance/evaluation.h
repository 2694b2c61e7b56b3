#ifndef WARDEN_GOVERNANCE_EVALUATION_H_
#define WARDEN_GOVERNANCE_EVALUATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "governance/authorization.h"
#include "governance/budget_store.h"
#include "governance/calldata.h"
#include "governance/policy.h"

// What the engine decides, as pure functions of a policy, a request and
// what the store answered: the rules, the limits on the request's path,
// the approval tiers, and why a hold was refused. Nothing here reads a
// store or the clock; the engine (engine.h) brings both.
namespace warden::eval {

// A violation of one of the agent's rules (not a limit), with the spend's
// value as what was requested.
Violation RuleViolation(const Authorization& a, std::string code,
                        std::string rule, std::string message);

// Rules are checked before any budget: a spend that breaks one is denied
// without reserving anything. `now` is the time of the decision, for
// schedules; `call` the contract call it makes (null for a plain
// transfer), checked against the agent's contracts and approved_spenders.
std::vector<Violation> CheckRules(const Authorization& a, const Agent& agent,
                                  const Policy& policy, bool priced,
                                  absl::Time now,
                                  const abi::Call* call = nullptr);

// What a wallet holds of a spend's asset, read from its chain for the
// drain_all guard line: `units`, or why it could not be read.
struct WalletBalance {
  std::optional<absl::uint128> units;
  std::string error;
};

// The agent's drain_all guard line (rule "drain_all", code DRAIN_ALL): a
// spend of at least its share of `balance` is a drain, and so is any spend
// when the balance could not be read (the guard fails closed). Null when
// the agent has none or the spend is not a drain. `decimals`: the asset's.
std::optional<Violation> DrainViolation(const Authorization& a,
                                        const Agent& agent,
                                        const WalletBalance& balance,
                                        int decimals);

// The agent's method rule that allows `call` (of kind kOther), if any.
const MethodRule* AllowedMethod(const Agent& agent, const std::string& chain,
                                const abi::Call& call);

// What an approval lets its spender move, for the decision's reason:
// "spender 0x... may move up to 1000 TOK ($1,000.00)".
std::string Exposure(const abi::Call& call);

// A threshold that escalates rather than denies, checked by the store like
// a limit: it is passed when the window's spend (or count) plus this one
// exceeds it. A cumulative tier threshold of an `approvals` block, an
// agent's limit with on_violation (`limit` set), or its new_address guard
// (`new_address` set: passed by a first payment to the destination).
struct TierCheck {
  Tier tier;
  const ApprovalTiers* config;  // Null for kNotify.
  std::string scope;
  LimitCheck check;
  const Limit* limit = nullptr;
  const Window* new_address = nullptr;
};

// The scopes a spend charges, and every limit on them with its window
// resolved at `now`.
struct PathLimits {
  // The org, its departments from the top one down, the agent, the
  // wallet; then "chain/<chain>", "asset/<symbol>", "destination/<address>"
  // and "agent/<id>/destination/<address>" while limits count in them.
  std::vector<std::string> scopes;
  std::vector<LimitCheck> checks;
  std::vector<const Limit*> limits;  // Parallel to `checks`.
  // The agent's limits whose on_violation escalates (guard lines).
  std::vector<TierCheck> escalations;
  absl::Duration longest;  // The longest window, for retention.
};

PathLimits CollectLimits(const Policy& policy, const Agent& agent,
                         const Wallet& wallet, const std::string& asset,
                         const std::string& destination, absl::Time now);

// Why the store refused a hold: a frozen scope, or every limit it would
// exceed, with the figures the store returned (what went through the
// spend's own department, agent or wallet, and what awaits approval).
std::vector<Violation> RefusalViolations(const ReserveResult& result,
                                         const PathLimits& path,
                                         const Authorization& a,
                                         const Policy& policy);

// The tier a spend falls in, and why.
struct TierChoice {
  Tier tier = Tier::kInstant;
  const ApprovalTiers* config = nullptr;  // Of the scope that set it.
  std::string why;  // "$300.00 is above agent a delay_above_usd $250.00"
};

// Whether `x` asks for more than `y`: a higher tier, or at the same tier
// more approvals or a longer delay.
bool Stricter(const TierChoice& x, const TierChoice& y);

// When every violation in `violations` is of an agent rule whose
// on_violation escalates (approve or notify), takes them out and returns
// the tier they put the spend in (approval beats notify), their messages as
// the reason. Otherwise (a rule that denies, or of another scope: the org's
// deny list, a department's schedule) leaves them and returns nullopt.
std::optional<TierChoice> Escalate(std::vector<Violation>* violations,
                                   const Agent& agent, const Policy& policy);

// `t` and an escalation (Escalate) together: the stricter of the two, its
// reason followed by the other's, so that whoever approves or hears of the
// spend learns of both.
TierChoice WithEscalation(TierChoice t,
                          const std::optional<TierChoice>& escalated);

// The strictest tier the spend's own value puts it in; on a tie the more
// specific scope (the agent) decides.
TierChoice PerTransactionTier(const Authorization& a, const Policy& policy,
                              const Agent& agent);

// The cumulative thresholds on the path above tier `current` (the others
// cannot change the outcome).
std::vector<TierCheck> CumulativeTierChecks(const Policy& policy,
                                            const Agent& agent, Tier current,
                                            absl::Time now);

// The tier a crossed threshold puts the spend in, and why (`used`: the
// window's spend, or count, before this one).
TierChoice CrossedTier(const TierCheck& t, int64_t used, UsdMicros amount);

// Shapes the (rule-abiding) record for its tier: what it decides, how long
// its hold lasts, and why.
void ApplyTier(const TierChoice& t, const Org& org, size_t limit_count,
               absl::Time now, Authorization* a);

// Whether `approver` may vote on `a`: listed among its approvers, or an
// agent of its department other than the requester when "second_agent" is.
bool MayApprove(const Authorization& a, const std::string& approver,
                const Policy& policy);

// The wallets a scope covers, or NOT_FOUND if the policy has no such scope.
absl::StatusOr<std::vector<std::string>> WalletsUnder(const Policy& p,
                                                      const std::string& scope);

}  // namespace warden::eval

#endif  // WARDEN_GOVERNANCE_EVALUATION_H_
