// A deterministic simulator of the governance engine, in the spirit of
// TigerBeetle's VOPR and FoundationDB's simulation tests: one seed drives
// the real warden::Engine on a real budget store (MemoryBudgetStore, or
// RedisBudgetStore on a real redis-server) through random interleavings of
// authorizations, replays, settles, voids, expiries, clock jumps, freezes,
// decommissions, approvals, bundle changes and store faults, with
// adversarial amounts, prices and limits; after every step the oracle
// (oracle.h) checks the invariants of DESIGN.md. The same seed replays the
// same run: nothing depends on the engine's random ids (a key that a rebuild
// left naming two records at random is not used again).

#ifndef WARDEN_TESTS_SIM_SIMULATOR_H_
#define WARDEN_TESTS_SIM_SIMULATOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "governance/budget_store.h"
#include "governance/memory/memory_budget_store.h"
#include "tests/sim/oracle.h"

namespace warden::sim {

// A budget store the simulator can reset, refuse and wipe.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // A fresh, empty store, for a new run.
  virtual absl::Status Reset() = 0;
  virtual BudgetStore* store() = 0;
  virtual StoreTraits traits() const = 0;
  // Loses every record, counter, idempotency key and frozen flag, as a
  // restart without persistence or a FLUSHALL does; the store then refuses
  // spends until the engine rebuilds it.
  virtual absl::Status LoseAllData() = 0;
  // The same for the embedded mode, which rebuilds by replaying the audit
  // file into a fresh MemoryBudgetStore: that store, or null when the
  // backend has no embedded mode.
  virtual MemoryBudgetStore* LoseForEmbeddedRestart() { return nullptr; }
};

std::unique_ptr<Backend> NewMemoryBackend();
// Starts a private redis-server (tests/support/redis_server.h).
absl::StatusOr<std::unique_ptr<Backend>> NewRedisBackend();

struct SimOptions {
  uint64_t seed = 1;
  int steps = 2000;
  // Go on after a finding, reporting the first of each invariant.
  bool keep_going = false;
  // Invariants whose findings are reported but do not fail the run.
  std::set<std::string> ignore;
  int trace_steps = 30;
  bool verbose = false;  // Print every step as it runs.
  // Compare every record with the store every this many steps (0: the
  // store's default, StoreTraits::full_check_every); the other steps
  // compare the records they touched and a rotating sample.
  int full_check_every = 0;
};

struct SimResult {
  uint64_t seed = 0;
  std::string store;
  int steps_run = 0;
  // Every finding (the first of each invariant with keep_going), with the
  // number of findings of each invariant.
  std::vector<Finding> findings;
  std::map<std::string, int> counts;
  std::string trace;  // The last steps, when the run found something.
  double seconds = 0;
  int64_t admitted = 0;
  int64_t denied = 0;
  // Whether a finding outside `ignore` was made.
  bool failed = false;
};

SimResult RunSimulation(const SimOptions& options, Backend* backend);

}  // namespace warden::sim

#endif  // WARDEN_TESTS_SIM_SIMULATOR_H_
