#ifndef WARDEN_GOVERNANCE_EXPLAIN_H_
#define WARDEN_GOVERNANCE_EXPLAIN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "governance/authorization.h"
#include "governance/budget_store.h"
#include "governance/policy.h"

// Decisions explain themselves: machine-readable violations with figures and
// one human sentence, e.g.
//   DENY agent procurement_bot: rolling 24h spend $999.00 (wallet_1 on base
//   $999.00) + $499.00 = $1,498.00 exceeds agent daily_max $1,000.00
namespace warden {

// "[a, b, c]": a list as a sentence shows it.
std::string ListText(const std::vector<std::string>& items);

// "2026-05-01T09:30:00Z": an instant as a sentence shows it.
std::string FormatInstant(absl::Time t);

// "agent/procurement_bot" -> "agent procurement_bot".
std::string ScopeLabel(const std::string& scope);

// The violation for a limit of `scope` the spend would exceed; `child` is
// the spend's scope one level down (usage.child_used went through it).
// `requested` is in the limit's unit (USD micros or transactions).
Violation LimitViolation(const std::string& scope, const std::string& child,
                         const LimitCheck& check, const Window& window,
                         const LimitUsage& usage, int64_t requested,
                         const Policy& policy);

// The most violations a decision carries (and its audit record holds): the
// first ones found, which are the rules and the limits nearest the org.
inline constexpr size_t kMaxViolations = 16;

// used + requested as a sentence shows it ("$1,498.00", or "more than
// $9,223,372,036,854.775807" when the sum is past int64: a sentence never
// shows a sum that is not one).
std::string SumText(Limit::Kind kind, int64_t used, int64_t requested);

// "DENY agent a: <message>; <message>", after keeping at most
// kMaxViolations of `violations` (the sentence counts the rest).
std::string DenyReason(const Authorization& a,
                       std::vector<Violation>* violations);

// "ALLOW agent a: $5.00 from wallet_1 on base is within its 3 limits".
std::string AllowReason(const Authorization& a, size_t limit_count);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_EXPLAIN_H_
