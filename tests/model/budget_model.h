// Model-based test of BudgetStore: thousands of random reservations,
// settles, voids, expiries and clock moves, checked step by step against a
// plain reference model. Fails if the store ever admits a spend that would
// put any limit over its cap within its window (as the store counts it),
// refuses one that fits, or disagrees with the model about a record.
// Spends charge every kind of scope: the org, a department and its parent
// division, the agent, the wallet, the chain, the destination and the
// agent's part of it, each with limits of its own.

#ifndef WARDEN_TESTS_MODEL_BUDGET_MODEL_H_
#define WARDEN_TESTS_MODEL_BUDGET_MODEL_H_

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "governance/budget_store.h"
#include "governance/usage_buckets.h"
#include "gtest/gtest.h"

namespace warden::testing {

struct ModelLimit {
  std::string scope;  // "org/acme", "chain/base", "destination/0xd1", ...
  Limit::Kind kind;
  int64_t cap;
  Window window;
};

struct ModelAgent {
  std::string id;
  std::string department;
  // The department's parent, or empty.
  std::string division;
  // Wallet id -> its chain.
  std::vector<std::pair<std::string, std::string>> wallets;
};

inline const std::vector<ModelAgent>& Agents() {
  static const auto* agents = new std::vector<ModelAgent>{
      {"a1", "d1", "div", {{"w1", "base"}, {"w2", "ethereum"}}},
      {"a2", "d1", "div", {{"w3", "base"}}},
      {"a3", "d2", "div", {{"w4", "base"}, {"w5", "ethereum"}}},
      {"a4", "d3", "", {{"w6", "base"}}}};
  return *agents;
}

inline const std::vector<std::string>& Destinations() {
  static const auto* destinations =
      new std::vector<std::string>{"0xd1", "0xd2", "0xd3"};
  return *destinations;
}

inline std::vector<ModelLimit> Limits() {
  auto w = [](const char* spec) { return *ParseWindow(spec); };
  constexpr Limit::Kind kUsd = Limit::Kind::kUsd;
  constexpr Limit::Kind kCount = Limit::Kind::kCount;
  return {
      {"org/acme", kUsd, 5000 * kMicrosPerUsd, w("calendar:day")},
      {"department/div", kUsd, 2200 * kMicrosPerUsd, w("rolling:2h")},
      {"department/d1", kUsd, 800 * kMicrosPerUsd, w("rolling:1h")},
      {"department/d1", kCount, 6, w("rolling:30m")},
      {"agent/a1", kUsd, 1500 * kMicrosPerUsd, w("rolling:24h")},
      {"agent/a2", kCount, 6, w("calendar:day")},
      {"agent/a3", kUsd, 1500 * kMicrosPerUsd, w("calendar:week")},
      {"wallet/w1", kUsd, 700 * kMicrosPerUsd, w("rolling:1h")},
      {"chain/ethereum", kUsd, 1000 * kMicrosPerUsd, w("rolling:3h")},
      {"destination/0xd1", kUsd, 900 * kMicrosPerUsd, w("calendar:day")},
      {"agent/a4/destination/0xd2", kCount, 4, w("rolling:1h")},
  };
}

// The scopes a spend by `agent` from `wallet` (with its chain) to
// `destination` charges, top down, as the engine lists them.
inline std::vector<std::string> ModelPath(
    const ModelAgent& agent, const std::pair<std::string, std::string>& wallet,
    const std::string& destination) {
  std::vector<std::string> path = {"org/acme"};
  if (!agent.division.empty()) path.push_back("department/" + agent.division);
  path.push_back("department/" + agent.department);
  path.push_back("agent/" + agent.id);
  path.push_back("wallet/" + wallet.first);
  path.push_back("chain/" + wallet.second);
  path.push_back("destination/" + destination);
  path.push_back(
      absl::StrCat("agent/", agent.id, "/destination/", destination));
  return path;
}

class BudgetModel {
 public:
  // Starts 3 days before a New York DST change, so a run crosses it.
  static constexpr absl::Time kDstStart =
      absl::FromUnixSeconds(1772650800);  // 2026-03-04T19:00Z

  BudgetModel(BudgetStore* store, uint32_t seed, absl::Time start = kDstStart)
      : store_(store), rng_(seed), now_(start) {
    EXPECT_TRUE(absl::LoadTimeZone("America/New_York", &zone_));
  }

  void Run(int steps) {
    for (int step = 0; step < steps && !::testing::Test::HasFailure(); ++step) {
      const int op = Uniform(0, 99);
      if (op < 55) {
        Reserve(/*reuse_key=*/false);
      } else if (op < 62) {
        Reserve(/*reuse_key=*/true);
      } else if (op < 75) {
        Settle();
      } else if (op < 83) {
        Void();
      } else if (op < 93) {
        now_ += absl::Seconds(Uniform(0, 20 * 60));
      } else {
        Expire();
      }
      CheckNoLimitExceeded();
    }
    CheckRecordsMatch();
    // Both outcomes must be well exercised for the run to mean anything.
    EXPECT_GT(admitted_, 50);
    EXPECT_GT(refused_, 50);
  }

  // The limits (named as LimitCheck::limit_name) that refused a spend.
  const std::set<std::string>& refused_by() const { return refused_by_; }

  // Fails unless every limit refused some spend in one of `runs`: each
  // kind of scope is tested at its cap, not only under it.
  static void ExpectEveryLimitRefused(
      const std::vector<std::set<std::string>>& runs) {
    for (const ModelLimit& l : Limits()) {
      const std::string name = absl::StrCat(l.scope, "_", l.window.spec);
      EXPECT_TRUE(std::any_of(
          runs.begin(), runs.end(),
          [&](const std::set<std::string>& r) { return r.contains(name); }))
          << name << " never refused a spend";
    }
  }

 private:
  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }

  std::vector<LimitCheck> ChecksFor(
      const std::vector<std::string>& path) const {
    std::vector<LimitCheck> checks;
    for (const ModelLimit& l : limits_) {
      auto at = std::find(path.begin(), path.end(), l.scope);
      if (at == path.end()) continue;
      LimitCheck c;
      c.scope_index = static_cast<int>(at - path.begin());
      c.child_index = c.scope_index + 1 < static_cast<int>(path.size())
                          ? c.scope_index + 1
                          : -1;
      c.limit_name = absl::StrCat(l.scope, "_", l.window.spec);
      c.kind = l.kind;
      c.cap = l.cap;
      c.interval = WindowAt(l.window, now_, zone_);
      c.calendar = l.window.kind == Window::Kind::kCalendar;
      checks.push_back(c);
    }
    return checks;
  }

  // What the model says the limit on `scope` has used, counting charges
  // from `from`.
  int64_t ModelUsage(const LimitCheck& c, const std::string& scope,
                     absl::Time from) const {
    int64_t used = 0;
    for (const auto& [id, a] : records_) {
      if (std::find(a.scope_path.begin(), a.scope_path.end(), scope) ==
              a.scope_path.end() ||
          !a.Charges() || a.created_at < from ||
          a.created_at >= c.interval.end) {
        continue;
      }
      used += c.kind == Limit::Kind::kUsd ? a.ChargedUsd() : 1;
    }
    return used;
  }

  void Reserve(bool reuse_key) {
    const ModelAgent& agent = Agents()[Uniform(0, Agents().size() - 1)];
    ReserveRequest r;
    Authorization& a = r.authorization;
    a.id = absl::StrCat("az_", next_id_++);
    a.org_id = "acme";
    a.department_id = agent.department;
    a.agent_id = agent.id;
    const auto* wallet = &agent.wallets[Uniform(0, agent.wallets.size() - 1)];
    a.destination = Destinations()[Uniform(0, Destinations().size() - 1)];
    a.amount = Uniform(1, 40000);
    a.amount_usd = static_cast<UsdMicros>(absl::Uint128Low64(a.amount)) *
                   10'000;  // Up to $400.00, in cents.
    a.decision = Decision::kAllow;
    a.status = AuthorizationStatus::kHeld;
    a.on_expiry = Uniform(0, 1) ? ExpiredHolds::kCount : ExpiredHolds::kRelease;
    a.created_at = now_;
    a.hold_expires_at = now_ + absl::Minutes(Uniform(1, 30));
    if (reuse_key && !keys_.empty()) {
      auto it = keys_.begin();
      std::advance(it, Uniform(0, keys_.size() - 1));
      a.agent_id = it->first.first;
      a.idempotency_key = it->first.second;
      const ModelAgent* owner = nullptr;
      for (const ModelAgent& m : Agents()) {
        if (m.id == a.agent_id) owner = &m;
      }
      a.department_id = owner->department;
      wallet = &owner->wallets[0];
    } else if (Uniform(0, 2) == 0) {
      a.idempotency_key = absl::StrCat("key_", next_id_);
    }
    const ModelAgent* path_agent = nullptr;
    for (const ModelAgent& m : Agents()) {
      if (m.id == a.agent_id) path_agent = &m;
    }
    a.wallet_id = wallet->first;
    a.chain = wallet->second;
    a.scope_path = ModelPath(*path_agent, *wallet, a.destination);
    r.limits = ChecksFor(a.scope_path);
    r.retain_until = now_ + absl::Hours(24 * 9);
    r.zone = zone_;

    // What the model expects.
    const auto key = std::make_pair(a.agent_id, a.idempotency_key);
    ReserveResult::Outcome expected = ReserveResult::Outcome::kReserved;
    if (!a.idempotency_key.empty() && keys_.contains(key)) {
      expected = ReserveResult::Outcome::kDuplicate;
    } else {
      for (const LimitCheck& c : r.limits) {
        const std::string& scope_id = a.scope_path[c.scope_index];
        const int64_t req = c.kind == Limit::Kind::kUsd ? a.amount_usd : 1;
        if (ModelUsage(c, scope_id, usage::CountedFrom(c, now_)) + req >
            c.cap) {
          expected = ReserveResult::Outcome::kOverLimit;
        }
      }
    }

    absl::StatusOr<ReserveResult> got = store_->Reserve(r);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->outcome, expected)
        << "reserve " << a.id << " of " << FormatUsd(a.amount_usd) << " by "
        << a.agent_id << " at " << absl::FormatTime(now_);
    switch (expected) {
      case ReserveResult::Outcome::kReserved:
        ++admitted_;
        records_[a.id] = a;
        if (!a.idempotency_key.empty()) keys_[key] = a.id;
        break;
      case ReserveResult::Outcome::kDuplicate:
        EXPECT_EQ(got->authorization.id, keys_[key]);
        break;
      default:
        ++refused_;
        EXPECT_FALSE(got->exceeded.empty());
        for (const LimitUsage& u : got->exceeded) {
          refused_by_.insert(r.limits[u.limit_index].limit_name);
        }
    }
  }

  // A random record of the model, or nullptr.
  Authorization* PickRecord() {
    if (records_.empty()) return nullptr;
    auto it = records_.begin();
    std::advance(it, Uniform(0, records_.size() - 1));
    return &it->second;
  }

  bool Live(const Authorization& a) const {
    return a.status == AuthorizationStatus::kHeld && now_ < a.hold_expires_at;
  }

  void Settle() {
    Authorization* a = PickRecord();
    if (a == nullptr) return;
    const absl::uint128 amount = Uniform(0, absl::Uint128Low64(a->amount));
    const UsdMicros usd =
        static_cast<UsdMicros>(absl::Uint128Low64(amount)) * 10'000;
    absl::StatusOr<Authorization> got =
        store_->Settle("acme", a->id, amount, usd, "0xtx", now_);
    if (!Live(*a)) {
      if (!(a->status == AuthorizationStatus::kSettled &&
            a->settled_amount == amount)) {
        EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition)
            << a->id;
      }
      return;
    }
    ASSERT_TRUE(got.ok()) << got.status();
    a->status = AuthorizationStatus::kSettled;
    a->settled_amount = amount;
    a->settled_usd = usd;
    a->tx_hash = "0xtx";
  }

  void Void() {
    Authorization* a = PickRecord();
    if (a == nullptr) return;
    absl::StatusOr<Authorization> got = store_->Void("acme", a->id, now_);
    if (!Live(*a)) {
      if (a->status != AuthorizationStatus::kVoided) {
        EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
      }
      return;
    }
    ASSERT_TRUE(got.ok()) << got.status();
    a->status = AuthorizationStatus::kVoided;
  }

  void Expire() {
    absl::StatusOr<std::vector<Authorization>> got =
        store_->ExpireDue("acme", now_, 1'000'000);
    ASSERT_TRUE(got.ok()) << got.status();
    size_t expected = 0;
    for (auto& [id, a] : records_) {
      if (a.status == AuthorizationStatus::kHeld && a.hold_expires_at <= now_) {
        a.status = AuthorizationStatus::kExpired;
        a.expired_counted = a.on_expiry == ExpiredHolds::kCount;
        ++expected;
      }
    }
    EXPECT_EQ(got->size(), expected);
  }

  // The invariant itself: at this moment, every limit's window holds no
  // more than its cap.
  void CheckNoLimitExceeded() {
    for (const ModelLimit& l : limits_) {
      LimitCheck c;
      c.kind = l.kind;
      c.cap = l.cap;
      c.interval = WindowAt(l.window, now_, zone_);
      c.calendar = l.window.kind == Window::Kind::kCalendar;
      const int64_t used = ModelUsage(c, l.scope, c.interval.start);
      ASSERT_LE(used, l.cap) << l.scope << " " << l.window.spec << " at "
                             << absl::FormatTime(now_);
    }
  }

  void CheckRecordsMatch() {
    int64_t held = 0;
    for (const auto& [id, a] : records_) {
      absl::StatusOr<Authorization> got = store_->Get("acme", id);
      ASSERT_TRUE(got.ok()) << id;
      EXPECT_EQ(got->status, a.status) << id;
      EXPECT_EQ(got->ChargedUsd(), a.ChargedUsd()) << id;
      EXPECT_EQ(got->scope_path, a.scope_path) << id;
      held += a.status == AuthorizationStatus::kHeld ? 1 : 0;
    }
    absl::StatusOr<int64_t> counted = store_->CountHeld("acme");
    ASSERT_TRUE(counted.ok()) << counted.status();
    EXPECT_EQ(*counted, held);
  }

  BudgetStore* store_;
  std::mt19937 rng_;
  absl::TimeZone zone_;
  absl::Time now_;
  const std::vector<ModelLimit> limits_ = Limits();
  std::map<std::string, Authorization> records_;
  std::map<std::pair<std::string, std::string>, std::string> keys_;
  int next_id_ = 0;
  int admitted_ = 0;
  std::set<std::string> refused_by_;
  int refused_ = 0;
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_MODEL_BUDGET_MODEL_H_
