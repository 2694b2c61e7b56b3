// warden_reserve_call: prints, NUL-separated, the exact EVALSHA command that
// RedisBudgetStore sends to reserve one $1 spend of the benchmark bundle's
// agent a0 (bench_bundle.yaml: the same seven limits, so the same keys).
// run_bench.sh hands it to redis-benchmark to measure the script's raw
// throughput, the ceiling the gateway is compared with.
//
//   warden_reserve_call --redis redis://127.0.0.1:PORT > call.bin

#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "governance/redis/redis_budget_store.h"
#include "governance/redis/redis_scripts.h"

int main(int argc, char** argv) {
  std::string url;
  CLI::App app{"warden_reserve_call"};
  app.add_option("--redis", url)->required();
  CLI11_PARSE(app, argc, argv);
  absl::StatusOr<warden::RedisOptions> options = warden::ParseRedisUrl(url);
  if (!options.ok()) {
    std::cerr << options.status() << "\n";
    return 2;
  }
  warden::RedisClient client(*options);
  absl::StatusOr<warden::RedisReply> sha =
      client.Command({"SCRIPT", "LOAD", warden::redis_scripts::Reserve()});
  if (!sha.ok() || sha->type != warden::RedisReply::Type::kString) {
    std::cerr << "SCRIPT LOAD failed\n";
    return 1;
  }

  const absl::Time now = absl::Now();
  absl::TimeZone utc = absl::UTCTimeZone();
  warden::ReserveRequest r;
  warden::Authorization& a = r.authorization;
  a.id = "az_redis_benchmark";
  a.org_id = "bench";
  a.department_id = "east";
  a.agent_id = "a0";
  a.wallet_id = "a0_w";
  a.amount = 1'000'000;
  a.amount_usd = 1'000'000;
  a.decision = warden::Decision::kAllow;
  a.status = warden::AuthorizationStatus::kHeld;
  a.created_at = now;
  a.hold_expires_at = now + absl::Minutes(15);
  const struct {
    int scope;
    const char* window;
    bool count;
  } limits[] = {{0, "calendar:day", false}, {0, "calendar:month", false},
                {1, "rolling:24h", false},  {1, "calendar:week", false},
                {2, "rolling:1h", false},   {2, "calendar:day", false},
                {2, "rolling:24h", true}};
  for (const auto& l : limits) {
    warden::LimitCheck c;
    c.scope_index = l.scope;
    c.child_index = l.scope + 1;
    c.limit_name = "budget";
    c.kind = l.count ? warden::Limit::Kind::kCount : warden::Limit::Kind::kUsd;
    c.cap = l.count ? 1'000'000'000LL : 1'000'000'000LL * warden::kMicrosPerUsd;
    const warden::Window w = *warden::ParseWindow(l.window);
    c.interval = warden::WindowAt(w, now, utc);
    c.calendar = w.kind == warden::Window::Kind::kCalendar;
    r.limits.push_back(c);
  }
  r.retain_until = now + absl::Hours(48);
  absl::StatusOr<warden::RedisBudgetStore::ScriptCall> call =
      warden::RedisBudgetStore::ReserveCall(r);
  if (!call.ok()) {
    std::cerr << call.status() << "\n";
    return 1;
  }
  auto put = [](const std::string& s) { std::cout << s << '\0'; };
  put("EVALSHA");
  put(sha->str);
  put(std::to_string(call->keys.size()));
  for (const std::string& k : call->keys) put(k);
  for (const std::string& v : call->args) put(v);
  return 0;
}
