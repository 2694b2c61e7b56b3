#include "governance/usage_buckets.h"

#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "governance/window.h"
#include "gtest/gtest.h"

namespace warden::usage {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'777'651'200);  // 2026-05-01.

LimitCheck CheckOf(const std::string& spec, absl::Time now,
                   const absl::TimeZone& zone) {
  const Window w = *ParseWindow(spec);
  LimitCheck c;
  c.kind = Limit::Kind::kUsd;
  c.interval = WindowAt(w, now, zone);
  c.calendar = w.kind == Window::Kind::kCalendar;
  return c;
}

// The sum over SpansOf is exactly the charges from CountedFrom to the
// skew allowance past now; CountedFrom is never later than the window's
// start, and no earlier than its stated bound. Random charges over four
// months, random windows and zones (whole-hour and half-hour offsets).
TEST(UsageBucketsTest, SpansCountExactlyFromCountedFrom) {
  std::mt19937_64 rng(7);
  struct Charge {
    absl::Time at;
    int64_t usd;
  };
  std::vector<Charge> charges;
  Buckets buckets;
  absl::Time now = kT0;
  const absl::TimeZone kolkata = [] {
    absl::TimeZone z;
    EXPECT_TRUE(absl::LoadTimeZone("Asia/Kolkata", &z));
    return z;
  }();
  const std::vector<absl::TimeZone> zones = {absl::UTCTimeZone(), kolkata};
  const std::vector<std::string> specs = {
      "rolling:1m",    "rolling:59m",    "rolling:1h",      "rolling:2h",
      "rolling:3h",    "rolling:24h",    "rolling:26h",     "rolling:7d",
      "rolling:30d",   "rolling:92d",    "rolling:366d",    "calendar:day",
      "calendar:week", "calendar:month", "calendar:quarter"};
  for (int step = 0; step < 4000; ++step) {
    // Steps of a second to a day, so that windows of every length fill up.
    now += absl::Seconds(std::uniform_int_distribution<int64_t>(
        1, step % 50 == 0 ? 86400 : 900)(rng));
    const int64_t usd = std::uniform_int_distribution<int64_t>(1, 1000)(rng);
    // Now and then a charge stamped by a clock a little ahead or behind.
    const absl::Time at =
        now + absl::Seconds(std::uniform_int_distribution<int>(-5, 5)(rng));
    charges.push_back({at, usd});
    buckets.Add(at, usd, 1);
    for (const std::string& spec : specs) {
      const absl::TimeZone& zone = zones[step % zones.size()];
      const LimitCheck c = CheckOf(spec, now, zone);
      const absl::Time from = CountedFrom(c, now);
      SCOPED_TRACE(absl::StrCat(spec, " at ", absl::FormatTime(now), " from ",
                                absl::FormatTime(from)));
      ASSERT_LE(from, c.interval.start);
      const absl::Duration length = now - c.interval.start;
      const absl::Duration bound =
          c.calendar                       ? absl::Minutes(45)
          : length <= absl::Hours(2)       ? absl::Minutes(1)
          : length <= absl::Hours(26)      ? absl::Minutes(10)
          : length <= absl::Hours(24 * 92) ? absl::Hours(1)
                                           : absl::Hours(24);
      ASSERT_GE(from, c.interval.start - kClockSkewAllowance - bound);
      int64_t want = 0;
      for (const Charge& ch : charges) {
        if (ch.at >= from && ch.at <= now + kClockSkewAllowance) {
          want += ch.usd;
        }
      }
      // Charges inside the last bucket but past now + skew do not exist.
      ASSERT_EQ(buckets.Sum(SpansOf(c, now), Limit::Kind::kUsd), want);
    }
  }
}

// A level keeps a bounded number of buckets however long it is charged.
TEST(UsageBucketsTest, ReleasesUndoChargesAndOldBucketsGo) {
  Buckets b;
  b.Add(kT0, 500, 1);
  b.Add(kT0, -500, -1);
  EXPECT_TRUE(b.Empty());
  for (int day = 0; day < 800; ++day) {
    b.Add(kT0 + absl::Hours(24 * day), 1, 1);
  }
  LimitCheck year;
  year.interval = {kT0 + absl::Hours(24 * 433), absl::InfiniteFuture()};
  // 366 days back from day 799: the days 433..799, all still kept.
  EXPECT_EQ(
      b.Sum(SpansOf(year, kT0 + absl::Hours(24 * 799)), Limit::Kind::kCount),
      367);
  // A release of a charge older than anything kept changes nothing.
  b.Add(kT0, -1, -1);
  EXPECT_EQ(
      b.Sum(SpansOf(year, kT0 + absl::Hours(24 * 799)), Limit::Kind::kCount),
      367);
}

}  // namespace
}  // namespace warden::usage
