// warden_sim: runs the deterministic simulator (simulator.h) for a list of
// seeds, on the memory store, on Redis, or both. A failing seed prints
// itself, the step, the finding and the last steps, and replays exactly:
//
//   warden_sim --store memory --seed 17 --steps 345
//   warden_sim --store both --seeds 1..20 --steps 2000
//   warden_sim --store redis --random --time-budget-s 60
//
// Exit status: 0 when every run passed, 1 when one found something, 2 on a
// usage or setup error.

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/sim/simulator.h"

namespace warden::sim {
namespace {

// "1..20" or "3,5,8..9" into seeds; false when malformed or over 100000.
bool ParseSeeds(const std::string& text, std::vector<uint64_t>* out) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> range =
        absl::StrSplit(part, absl::MaxSplits("..", 1));
    uint64_t lo = 0, hi = 0;
    if (!absl::SimpleAtoi(range.first, &lo)) return false;
    hi = lo;
    if (!range.second.empty() && !absl::SimpleAtoi(range.second, &hi)) {
      return false;
    }
    if (hi < lo || hi - lo > 100000 || out->size() > 100000) return false;
    for (uint64_t s = lo; s <= hi; ++s) out->push_back(s);
  }
  return true;
}

void Print(const SimResult& r, const SimOptions& options) {
  const double rate = r.seconds > 0 ? r.steps_run / r.seconds : 0;
  std::cout << (r.failed ? "FAIL" : "ok  ") << " seed " << r.seed << " "
            << r.store << ": " << r.steps_run << " steps in " << r.seconds
            << " s (" << static_cast<int64_t>(rate) << " steps/s), "
            << r.admitted << " admitted, " << r.denied << " denied\n";
  for (const Finding& f : r.findings) {
    std::cout << "  step " << f.step << " [" << f.invariant << "] "
              << (options.ignore.contains(f.invariant) ? "(ignored) " : "")
              << f.message << "\n";
  }
  if (!r.counts.empty()) {
    std::cout << "  findings by invariant:";
    for (const auto& [inv, n] : r.counts) std::cout << " " << inv << "=" << n;
    std::cout << "\n";
  }
  if (r.failed) {
    std::cout << "  last steps:\n";
    for (absl::string_view line : absl::StrSplit(r.trace, '\n')) {
      std::cout << "    " << line << "\n";
    }
    int step = options.steps;
    for (const Finding& f : r.findings) {
      if (!options.ignore.contains(f.invariant)) {
        step = std::min(step, f.step > 0 ? f.step : options.steps);
      }
    }
    std::cout << "  reproduce: warden_sim --store " << r.store << " --seed "
              << r.seed << " --steps " << step
              << (options.keep_going ? " --keep-going" : "")
              << (options.ignore.empty()
                      ? ""
                      : absl::StrCat(" --ignore ",
                                     absl::StrJoin(options.ignore, ",")))
              << "\n";
  }
  std::cout.flush();
}

int Main(int argc, char** argv) {
  CLI::App app{"warden_sim: deterministic simulation of the governance engine"};
  std::string store = "memory";
  uint64_t seed = 0;
  std::string seeds;
  int steps = 2000;
  bool random = false;
  double budget_s = 0;
  bool keep_going = false;
  std::vector<std::string> ignore;
  bool verbose = false;
  int trace = 30;
  app.add_option("--store", store, "memory, redis or both")
      ->check(CLI::IsMember({"memory", "redis", "both"}));
  app.add_option("--seed", seed, "one seed to run");
  app.add_option("--seeds", seeds, "seeds to run: 1..20 or 3,5,8..9");
  app.add_option("--steps", steps, "steps per seed")
      ->check(CLI::Range(1, 10'000'000));
  app.add_flag("--random", random,
               "after the listed seeds, run random ones (printed) until "
               "--time-budget-s");
  app.add_option("--time-budget-s", budget_s,
                 "start no seed after this many seconds (0: no limit)")
      ->check(CLI::Range(0.0, 86400.0));
  int max_failures = 0;
  app.add_option("--max-failures", max_failures,
                 "start no seed after this many failed runs (0: no limit)")
      ->check(CLI::Range(0, 1'000'000));
  app.add_flag("--keep-going", keep_going,
               "go on after a finding; report the first of each invariant");
  app.add_option("--ignore", ignore,
                 "invariants whose findings do not fail a run")
      ->delimiter(',');
  app.add_flag("--verbose", verbose, "print every step");
  int full_check_every = 0;
  app.add_option("--full-check-every", full_check_every,
                 "compare every record with the store every N steps "
                 "(default: 1 on memory, 50 on Redis)")
      ->check(CLI::Range(0, 1'000'000));
  app.add_option("--trace", trace, "steps of trace to print on a finding")
      ->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);

  std::vector<uint64_t> list;
  if (app.count("--seed") > 0) list.push_back(seed);
  if (!seeds.empty() && !ParseSeeds(seeds, &list)) {
    std::cerr << "--seeds: \"" << seeds << "\" is not like 1..20 or 3,5,8..9\n";
    return 2;
  }
  if (list.empty() && !random) list.push_back(1);
  if (random && budget_s <= 0) {
    std::cerr << "--random needs --time-budget-s\n";
    return 2;
  }

  std::vector<std::unique_ptr<Backend>> backends;
  if (store != "redis") backends.push_back(NewMemoryBackend());
  if (store != "memory") {
    absl::StatusOr<std::unique_ptr<Backend>> redis = NewRedisBackend();
    if (!redis.ok()) {
      std::cerr << "cannot start redis-server: " << redis.status() << "\n";
      return 2;
    }
    backends.push_back(*std::move(redis));
  }

  SimOptions options;
  options.steps = steps;
  options.keep_going = keep_going;
  options.ignore = std::set<std::string>(ignore.begin(), ignore.end());
  options.trace_steps = trace;
  options.verbose = verbose;
  options.full_check_every = full_check_every;
  const absl::Time start = absl::Now();
  int failed = 0, runs = 0;
  auto over_budget = [&] {
    return (budget_s > 0 &&
            absl::ToDoubleSeconds(absl::Now() - start) >= budget_s) ||
           (max_failures > 0 && failed >= max_failures);
  };
  int64_t total_steps = 0;
  double total_s = 0;
  auto run = [&](uint64_t s) {
    for (const std::unique_ptr<Backend>& b : backends) {
      options.seed = s;
      const SimResult r = RunSimulation(options, b.get());
      Print(r, options);
      ++runs;
      failed += r.failed ? 1 : 0;
      total_steps += r.steps_run;
      total_s += r.seconds;
    }
  };
  for (uint64_t s : list) {
    if (over_budget()) {
      std::cout << "time budget or failure limit reached; seeds from " << s
                << " not run\n";
      break;
    }
    run(s);
  }
  if (random) {
    // A fresh seed each time, printed with its result so it can be replayed.
    std::mt19937_64 gen(std::random_device{}());
    for (int i = 0; i < 1'000'000 && !over_budget(); ++i) run(gen() >> 1);
  }
  std::cout << runs << " runs, " << failed << " failed, " << total_steps
            << " steps in " << total_s << " s\n";
  return failed > 0 ? 1 : 0;
}

}  // namespace
}  // namespace warden::sim

int main(int argc, char** argv) { return warden::sim::Main(argc, argv); }
