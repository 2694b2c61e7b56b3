#ifndef WARDEN_GOVERNANCE_REDIS_REDIS_SCRIPTS_H_
#define WARDEN_GOVERNANCE_REDIS_REDIS_SCRIPTS_H_

#include <string>

// The Lua scripts of RedisBudgetStore. Each runs atomically on the Redis
// server; every key it touches shares the org's hash tag, so they also run
// on Redis Cluster. Argument layouts are documented beside each script in
// redis_scripts.cc and built in redis_budget_store.cc. Both open with the
// bucket levels of governance/usage_buckets.h, so the two cannot disagree.
namespace warden::redis_scripts {

// Checks idempotency, frozen flags and every limit, then charges all limits
// and stores the hold, or charges nothing.
const std::string& Reserve();

// Settles, voids, expires or abandons a record, releasing what it no
// longer charges.
const std::string& Transition();

// The org's readiness (refreshing its mark when ready) and this Redis's
// replication history; starting or joining a recovery (its token, and the
// hold after a failover); setting the mark at the end of one.
const std::string& CheckReady();
const std::string& BeginRecovery();
const std::string& MarkReady();
// Gives up a claim on a recovery, if it still holds.
const std::string& ReleaseClaim();
// Sets fields of a record hash only while the record is there.
const std::string& SetOnRecord();

// The status of each record hash in KEYS (nil for a missing one).
const std::string& Statuses();
// Read-only sums of usage buckets, for BudgetStore::Usage.
const std::string& Sums();
// Sums with the first bucket holding usage, and what HELD records hold of
// each, for BudgetStore::Breakdown.
const std::string& Breakdown();

}  // namespace warden::redis_scripts

#endif  // WARDEN_GOVERNANCE_REDIS_REDIS_SCRIPTS_H_
