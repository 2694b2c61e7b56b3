#ifndef WARDEN_GOVERNANCE_USAGE_BUCKETS_H_
#define WARDEN_GOVERNANCE_USAGE_BUCKETS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/time/time.h"
#include "governance/budget_store.h"

// How every budget store counts usage: each charge is added to one bucket
// per level (a UTC minute, 10 minutes, hour, 6 hours and day) of each scope
// on its path (org,
// department, agent, wallet), whatever limits exist when it is charged, and
// a limit's usage is the sum of the buckets its window covers. So a check
// costs a few dozen bucket reads whatever the traffic, and a window that a
// later policy lengthens or adds is still counted in full.
//
// Levels keep their newest buckets only: minutes for 2 h 10 min, 10-minute
// buckets for 26 h, hours and 6 hours for 93 days (the longest calendar
// window, a quarter, from its first hour), days for 367 days (the longest
// rolling window, 366 days).
//
// A window is read from the finest level that still holds its start,
// climbing to coarser buckets as soon as they align (so a 30-day window is a
// few hours, a few 6 hours and 29 days: at most about 60 buckets whatever
// the window). Its start is rounded down to that level's bucket:
//   rolling:L    from now - L - kClockSkewAllowance, at minute precision up
//                to 2 h, 10-minute precision up to 26 h, hour precision up
//                to 92 days, day precision beyond;
//   calendar:P   from the local midnight opening the period, at hour
//                precision (exact in zones with whole-hour offsets; up to
//                45 min early at :30 and :45 offsets).
// and it reaches the bucket holding now + kClockSkewAllowance. A spend may
// so count for longer than its window, never shorter: the error only ever
// refuses. The same holds whatever the org's time zone was when it was
// charged: buckets are UTC.
namespace warden::usage {

// Extra time every window reaches back and forward, for replica clock skew.
inline constexpr absl::Duration kClockSkewAllowance = absl::Seconds(5);

struct Level {
  char name;        // The prefix of its Redis fields.
  int64_t seconds;  // Bucket width.
  int64_t kept;     // Buckets kept behind the newest one.
};
// Finest first; each width divides the next.
inline constexpr std::array<Level, 5> kLevels = {{
    {'m', 60, 133},
    {'t', 600, 160},
    {'h', 3600, 93 * 24 + 2},
    {'q', 21600, 93 * 4 + 2},
    {'d', 86400, 367 + 3},
}};

// The bucket number (unix seconds / width, rounded down) holding `t`.
int64_t BucketOf(const Level& level, absl::Time t);

// The time bucket `n` of `level` covers.
Interval BucketSpan(const Level& level, int64_t n);

// Buckets first..last (inclusive) of one level.
struct Span {
  int level;  // Index into kLevels.
  int64_t first;
  int64_t last;
};

// The earliest charge time `check` counts at `now`.
absl::Time CountedFrom(const LimitCheck& check, absl::Time now);

// The buckets whose sum is `check`'s usage at `now`, finest first.
std::vector<Span> SpansOf(const LimitCheck& check, absl::Time now);
// The same for a query's interval.
std::vector<Span> SpansOf(const UsageQuery& query, absl::Time now);
// The query's window at `now` in buckets of one level only: the finest
// that holds its start, at which a rolling window's start moves, so the
// earliest of them holding usage says when that usage leaves the window.
Span FinestSpan(const UsageQuery& query, absl::Time now);

// One scope's buckets, in process memory (MemoryBudgetStore). Sums are
// exact (128-bit); a bucket older than its level keeps is dropped.
class Buckets {
 public:
  // Adds (or, negative, removes) a charge made at `at`. A level whose
  // buckets no longer reach back to `at` is left alone.
  void Add(absl::Time at, absl::int128 usd, absl::int128 count);
  // The sum over `spans` of USD micros or of counts, saturated to int64.
  int64_t Sum(const std::vector<Span>& spans, Limit::Kind kind) const;
  // The earliest bucket of `spans` (in time order, as SpansOf returns
  // them) holding USD or a count, if any.
  std::optional<Interval> Oldest(const std::vector<Span>& spans,
                                 Limit::Kind kind) const;
  bool Empty() const;

 private:
  struct Cell {
    absl::int128 usd = 0;
    absl::int128 count = 0;
  };
  struct Ring {
    absl::flat_hash_map<int64_t, Cell> cells;
    int64_t newest = 0;
  };
  std::array<Ring, kLevels.size()> rings_;
};

}  // namespace warden::usage

#endif  // WARDEN_GOVERNANCE_USAGE_BUCKETS_H_
