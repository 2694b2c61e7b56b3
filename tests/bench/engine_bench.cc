// warden_engine_bench: the decision engine in process, on the memory store,
// with the benchmark policy (bench_bundle.yaml: 7 limits on every spend's
// path, 8 agents). No transport, no durable audit (events are counted and
// dropped): what one core decides per second, and each decision's latency.
//
//   warden_engine_bench [--benchmark_min_time=2]
//
// BM_Authorize: allows spread over the 8 agents, the budgets filling up as
// a real day would (and the usage buckets with them).
// BM_AuthorizeDenied: over-limit denials of `capped`, with 50 approvals
// awaiting, whose reasons count them.
// Each reports decisions/s and the p50/p99 latency in microseconds.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "governance/audit_log.h"
#include "governance/clock.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"

namespace warden {
namespace {

class CountingAuditLog final : public AuditLog {
 public:
  absl::Status Append(const AuditEvent&) override {
    ++appended_;
    return absl::OkStatus();
  }

 private:
  std::atomic<int64_t> appended_{0};
};

// A clock that moves 1 ms per reading: a day of traffic in a run.
class SteppingClock final : public Clock {
 public:
  absl::Time Now() const override {
    return absl::FromUnixMillis(start_ms_ + ticks_.fetch_add(1));
  }

 private:
  const int64_t start_ms_ = absl::ToUnixMillis(absl::Now());
  mutable std::atomic<int64_t> ticks_{0};
};

struct Fixture {
  Fixture() {
    std::ifstream in(WARDEN_BENCH_BUNDLE);
    std::stringstream yaml;
    yaml << in.rdbuf();
    absl::StatusOr<ApplyResult> applied =
        engine.ApplyBundle(yaml.str(), false, "bench");
    if (!applied.ok()) std::abort();
  }
  MemoryConfigStore config;
  MemoryBudgetStore budgets;
  CountingAuditLog audit;
  MemoryFreezeStore freezes;
  SteppingClock clock;
  Engine engine{&config, &budgets, &audit, &freezes, &clock};
};

AuthorizeInput Spend(const std::string& agent, const std::string& amount) {
  AuthorizeInput in;
  in.agent_id = agent;
  in.wallet_id = agent + "_w";
  in.asset = "USDC";
  in.amount = amount;
  in.actor = "bench";
  return in;
}

void Report(benchmark::State& state, std::vector<double>& latencies_us) {
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us.empty() ? 0.0
                                : latencies_us[static_cast<size_t>(
                                      p * (latencies_us.size() - 1))];
  };
  state.counters["decisions/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
}

void Run(benchmark::State& state, Fixture& f,
         const std::vector<AuthorizeInput>& inputs, Decision expected) {
  std::vector<double> latencies_us;
  latencies_us.reserve(1 << 20);
  size_t i = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<AuthorizeOutput> out =
        f.engine.Authorize(inputs[i++ % inputs.size()]);
    latencies_us.push_back(std::chrono::duration<double, std::micro>(
                               std::chrono::steady_clock::now() - start)
                               .count());
    if (!out.ok() || out->authorization.decision != expected) {
      state.SkipWithError(out.ok() ? out->authorization.reason.c_str()
                                   : out.status().ToString().c_str());
      break;
    }
  }
  Report(state, latencies_us);
}

void BM_Authorize(benchmark::State& state) {
  Fixture f;
  std::vector<AuthorizeInput> inputs;
  for (int a = 0; a < 8; ++a)
    inputs.push_back(Spend(absl::StrCat("a", a), "1000000"));
  Run(state, f, inputs, Decision::kAllow);
}
BENCHMARK(BM_Authorize)->Unit(benchmark::kMicrosecond);

void BM_AuthorizeDenied(benchmark::State& state) {
  Fixture f;
  for (int i = 0; i < 50; ++i) {
    if (!f.engine.Authorize(Spend("capped", "2000000")).ok()) std::abort();
  }
  Run(state, f, {Spend("capped", "2000000")}, Decision::kDeny);
}
BENCHMARK(BM_AuthorizeDenied)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace warden

BENCHMARK_MAIN();
