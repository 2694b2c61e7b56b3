#ifndef WARDEN_GOVERNANCE_BUDGET_ALERTS_H_
#define WARDEN_GOVERNANCE_BUDGET_ALERTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "governance/authorization.h"
#include "governance/evaluation.h"
#include "governance/notification.h"
#include "governance/policy.h"

// Finance alerts: budget.threshold when a spend takes a limit's usage past
// one of org.budget_alerts.thresholds, and budget.breach when a spend is
// refused by a limit, at most one per limit per minute.
namespace warden {

// A limit a held spend took past a threshold.
struct ThresholdCrossing {
  // The limit, with `spent` the usage including the spend and `requested`
  // the spend's part.
  Violation limit;
  int percent = 0;  // The highest threshold it crossed.
};

// The thresholds of `policy` that the spend `a` crossed on the limits of
// `path`, whose usage before its charge was `used_before` (the store's
// ReserveResult::used_before). Exact: a charge crosses T% of a cap when
// used * 100 < cap * T <= (used + spend) * 100.
std::vector<ThresholdCrossing> CrossedThresholds(
    const Policy& policy, const eval::PathLimits& path,
    const std::vector<int64_t>& used_before, const Authorization& a);

// Whether a violation is a limit's refusal (a budget breach).
bool IsBreach(const Violation& v);

// At most one budget.breach per org, scope and limit per `every`: the first
// of a period goes out at once; the later ones are folded, the last kept,
// and counted in the next alert that goes out (its `folded`), or sent by
// Flush once the period is over. Per process: each replica throttles its
// own. Thread-safe.
class BreachThrottle {
 public:
  explicit BreachThrottle(absl::Duration every = absl::Minutes(1),
                          size_t max_keys = 10000)
      : every_(every), max_keys_(max_keys) {}

  // Whether `n` (a budget.breach) goes out now; if so its `folded` is set.
  // Otherwise it is kept for Flush.
  bool Admit(Notification& n) ABSL_LOCKS_EXCLUDED(mu_);
  // The kept breaches whose period ended by `now`, each the last of its
  // limit with `folded` the others; forgets limits quiet for a period.
  std::vector<Notification> Flush(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Limit {
    absl::Time sent_at;
    int64_t held_back = 0;
    Notification last;  // The last held back.
  };
  static std::string KeyOf(const Notification& n);
  void FlushLocked(absl::Time now, std::vector<Notification>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration every_;
  const size_t max_keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Limit> limits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_BUDGET_ALERTS_H_
