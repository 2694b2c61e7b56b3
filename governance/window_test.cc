#include "governance/window.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

absl::TimeZone Zone(const char* name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name;
  return tz;
}

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

bool Inside(const Interval& i, absl::Time t) {
  return i.start <= t && t < i.end;
}

// Every accepted spelling parses to the right length.
TEST(WindowTest, ParsesRolling) {
  EXPECT_EQ(ParseWindow("rolling:24h")->length, absl::Hours(24));
  EXPECT_EQ(ParseWindow("rolling:30m")->length, absl::Minutes(30));
  EXPECT_EQ(ParseWindow("rolling:7d")->length, absl::Hours(24 * 7));
  EXPECT_EQ(ParseWindow("rolling:2w")->length, absl::Hours(24 * 14));
  EXPECT_EQ(ParseWindow("rolling:90s")->length, absl::Seconds(90));
  EXPECT_EQ(ParseWindow("rolling:24h")->Describe(), "rolling 24h");
  EXPECT_EQ(ParseWindow("calendar:quarter")->Describe(), "calendar quarter");
}

// Bad windows name what is wrong.
TEST(WindowTest, RejectsBadSpecs) {
  EXPECT_THAT(ParseWindow("rolling:24hr").status().message(),
              HasSubstr("unknown unit \"hr\""));
  EXPECT_THAT(ParseWindow("rolling:0h").status().message(),
              HasSubstr("longer than 0"));
  EXPECT_THAT(ParseWindow("rolling:400d").status().message(),
              HasSubstr("at most 366d"));
  EXPECT_THAT(ParseWindow("rolling:h").status().message(),
              HasSubstr("whole number"));
  EXPECT_THAT(ParseWindow("calendar:year").status().message(),
              HasSubstr("unknown calendar period \"year\""));
  EXPECT_THAT(ParseWindow("daily").status().message(),
              HasSubstr("must be rolling:"));
}

// A rolling window includes a spend exactly `length` old and nothing older.
TEST(WindowTest, RollingEdges) {
  const Window w = *ParseWindow("rolling:24h");
  const absl::Time spend = At("2026-05-01T12:00:00Z");
  const absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_TRUE(Inside(WindowAt(w, spend, utc), spend));
  EXPECT_TRUE(Inside(
      WindowAt(w, spend + absl::Hours(24) - absl::Nanoseconds(1), utc), spend));
  EXPECT_TRUE(Inside(WindowAt(w, spend + absl::Hours(24), utc), spend));
  EXPECT_FALSE(Inside(
      WindowAt(w, spend + absl::Hours(24) + absl::Nanoseconds(1), utc), spend));
}

// Calendar days follow local midnight, including across a DST change.
TEST(WindowTest, CalendarDayAcrossDst) {
  const absl::TimeZone ny = Zone("America/New_York");
  const Window day = *ParseWindow("calendar:day");
  // 2026-03-08 is the spring-forward day in New York: 23 hours long.
  Interval i = WindowAt(day, At("2026-03-08T15:00:00Z"), ny);
  EXPECT_EQ(i.start, At("2026-03-08T05:00:00Z"));
  EXPECT_EQ(i.end, At("2026-03-09T04:00:00Z"));
  EXPECT_EQ(i.end - i.start, absl::Hours(23));
  // 2026-11-01 is fall-back: 25 hours long.
  i = WindowAt(day, At("2026-11-01T12:00:00Z"), ny);
  EXPECT_EQ(i.start, At("2026-11-01T04:00:00Z"));
  EXPECT_EQ(i.end - i.start, absl::Hours(25));
  // One nanosecond before local midnight belongs to the previous day.
  i = WindowAt(day, At("2026-03-09T03:59:59.999999999Z"), ny);
  EXPECT_EQ(i.start, At("2026-03-08T05:00:00Z"));
  i = WindowAt(day, At("2026-03-09T04:00:00Z"), ny);
  EXPECT_EQ(i.start, At("2026-03-09T04:00:00Z"));
}

// Weeks start on Monday local time.
TEST(WindowTest, CalendarWeek) {
  const absl::TimeZone tokyo = Zone("Asia/Tokyo");
  const Window week = *ParseWindow("calendar:week");
  // Sunday 2026-05-10 23:30 in Tokyo is still the week of Monday 05-04.
  Interval i = WindowAt(week, At("2026-05-10T14:30:00Z"), tokyo);
  EXPECT_EQ(i.start, At("2026-05-03T15:00:00Z"));
  EXPECT_EQ(i.end, At("2026-05-10T15:00:00Z"));
  // Monday 00:00 in Tokyo starts the next one.
  i = WindowAt(week, At("2026-05-10T15:00:00Z"), tokyo);
  EXPECT_EQ(i.start, At("2026-05-10T15:00:00Z"));
  // A Monday itself.
  i = WindowAt(week, At("2026-05-04T03:00:00Z"), tokyo);
  EXPECT_EQ(i.start, At("2026-05-03T15:00:00Z"));
}

// Months and quarters use local boundaries; a DST change inside the period
// shifts the UTC offset of the end.
TEST(WindowTest, CalendarMonthAndQuarter) {
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const Window month = *ParseWindow("calendar:month");
  Interval i = WindowAt(month, At("2026-03-31T21:59:59Z"), berlin);
  EXPECT_EQ(i.start, At("2026-02-28T23:00:00Z"));  // Mar 1, CET.
  EXPECT_EQ(i.end, At("2026-03-31T22:00:00Z"));    // Apr 1, CEST.
  i = WindowAt(month, At("2026-03-31T22:00:00Z"), berlin);
  EXPECT_EQ(i.start, At("2026-03-31T22:00:00Z"));

  const Window quarter = *ParseWindow("calendar:quarter");
  i = WindowAt(quarter, At("2026-05-15T00:00:00Z"), berlin);
  EXPECT_EQ(i.start, At("2026-03-31T22:00:00Z"));  // Apr 1.
  EXPECT_EQ(i.end, At("2026-06-30T22:00:00Z"));    // Jul 1.
  i = WindowAt(quarter, At("2026-12-31T22:59:59Z"), berlin);
  EXPECT_EQ(i.start, At("2026-09-30T22:00:00Z"));  // Oct 1.
  EXPECT_EQ(i.end, At("2026-12-31T23:00:00Z"));    // Jan 1 2027, CET.
  i = WindowAt(quarter, At("2026-12-31T23:00:00Z"), berlin);
  EXPECT_EQ(i.start, At("2026-12-31T23:00:00Z"));
}

}  // namespace
// Calendar periods are cached per thread for the local day last seen: a
// thread that jumps between zones and back and forth in time (across DST
// switches and period ends) gets what a thread with nothing cached gets.
TEST(WindowTest, CachedPeriodsMatchFreshOnes) {
  std::vector<absl::TimeZone> zones(3);
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &zones[0]));
  ASSERT_TRUE(absl::LoadTimeZone("Australia/Lord_Howe", &zones[1]));
  zones[2] = absl::UTCTimeZone();
  std::vector<Window> windows;
  for (const char* spec : {"calendar:day", "calendar:week", "calendar:month",
                           "calendar:quarter"}) {
    windows.push_back(*ParseWindow(spec));
  }
  // 2026-03-07T12:00Z, just before New York's spring switch; steps of 7 h
  // 13 min forwards, then some backwards, so that days, weeks, months and
  // a quarter end are crossed both ways.
  absl::Time t = absl::FromUnixSeconds(1772884800);
  for (int i = 0; i < 400; ++i) {
    t += absl::Minutes(i % 5 == 4 ? -(9 * 60 + 41) : 7 * 60 + 13);
    const absl::TimeZone& zone = zones[i % 7 % 3];
    for (const Window& w : windows) {
      const Interval warm = WindowAt(w, t, zone);
      Interval cold;
      std::thread([&] { cold = WindowAt(w, t, zone); }).join();
      EXPECT_EQ(warm.start, cold.start) << w.spec << " " << t;
      EXPECT_EQ(warm.end, cold.end) << w.spec << " " << t;
      EXPECT_TRUE(warm.start <= t && t < warm.end) << w.spec << " " << t;
    }
  }
}

}  // namespace warden
