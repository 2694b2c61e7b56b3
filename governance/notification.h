#ifndef WARDEN_GOVERNANCE_NOTIFICATION_H_
#define WARDEN_GOVERNANCE_NOTIFICATION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "governance/authorization.h"

namespace warden {

// Something a human should hear about: a spend above a notify threshold, a
// delayed spend that can still be cancelled, an approval to give and what
// became of it, an anomaly, and a budget breached or nearly used up.
struct Notification {
  // Unique per notification, so that receivers can drop redeliveries.
  std::string id;
  // spend.notify, spend.delayed, approval.requested, approval.voted,
  // approval.granted, approval.rejected, approval.expired,
  // anomaly.detected (an org.anomalies detector fired on a spend),
  // budget.breach (a spend refused by a limit) and budget.threshold (a
  // spend took a limit past one of org.budget_alerts.thresholds).
  std::string event;
  absl::Time time;
  std::string org_id;
  std::string actor;    // Who caused it: the agent, an approver, "system".
  std::string message;  // One human sentence.
  Authorization authorization;  // The record after the event.
  // budget.breach and budget.threshold: the limit, as the refused spend's
  // record has it, or with `spent` including the spend that crossed it.
  std::optional<Violation> limit;
  int threshold_percent = 0;  // budget.threshold: the threshold crossed.
  // budget.breach: the later breaches of the same limit this one stands
  // for, which were not sent on their own (at most one a minute is).
  int64_t folded = 0;
};

// {"actor":...,"authorization":{...},"event":...,"id":...,"message":...,
//  "org_id":...,"time":"RFC 3339"}, one line, keys sorted; budget events
// add "limit":{a violation}, and "folded" (breach) or "threshold_percent".
std::string EncodeNotification(const Notification& n);

// Where notifications go. Notify must not block the caller for long (sinks
// that talk to the network queue); delivery is best effort: the audit trail,
// not the sink, is the durable record.
class NotificationSink {
 public:
  NotificationSink() = default;
  NotificationSink(const NotificationSink&) = delete;
  NotificationSink& operator=(const NotificationSink&) = delete;
  virtual ~NotificationSink() = default;

  virtual void Notify(const Notification& n) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_NOTIFICATION_H_
