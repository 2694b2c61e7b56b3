#include "governance/schedule.h"

#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi),
                         absl::UTCTimeZone());
}

Schedule Parse(std::optional<std::vector<std::string>> days,
               std::optional<std::string> hours) {
  absl::StatusOr<Schedule> s = ParseSchedule(days, hours);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.value_or(Schedule{});
}

class ScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &ny_));
  }
  absl::TimeZone ny_;
};

// Business hours stay 08:00-20:00 on the clock on both sides of each DST
// switch of 2026 (March 8 and November 1 in New York), so the UTC instant
// they open at moves by an hour.
TEST_F(ScheduleTest, BusinessHoursFollowTheClockAcrossBothDstSwitches) {
  const Schedule s = Parse(std::vector<std::string>{"mon-fri"}, "08:00-20:00");
  // Friday before spring-forward: EST, UTC-5.
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 6, 12, 59), ny_));  // 07:59
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 6, 13, 0), ny_));    // 08:00
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 7, 0, 59), ny_));    // 19:59
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 7, 1, 0), ny_));    // 20:00
  // The weekend of the switch.
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 8, 15, 0), ny_));
  // Monday after: EDT, UTC-4.
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 9, 11, 59), ny_));  // 07:59
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 9, 12, 0), ny_));    // 08:00
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 9, 23, 59), ny_));   // 19:59
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 10, 0, 0), ny_));   // 20:00
  // Friday before fall-back: EDT.
  EXPECT_FALSE(s.Allows(Utc(2026, 10, 30, 11, 59), ny_));
  EXPECT_TRUE(s.Allows(Utc(2026, 10, 30, 12, 0), ny_));
  // Monday after: EST again.
  EXPECT_FALSE(s.Allows(Utc(2026, 11, 2, 12, 59), ny_));
  EXPECT_TRUE(s.Allows(Utc(2026, 11, 2, 13, 0), ny_));
  EXPECT_FALSE(s.Allows(Utc(2026, 11, 3, 1, 0), ny_));  // 20:00
}

// Hours around the switch itself: the skipped hour never happens, the
// repeated one is inside twice.
TEST_F(ScheduleTest, TheSwitchHours) {
  const Schedule s = Parse(std::nullopt, "01:00-03:00");
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 8, 6, 0), ny_));     // 01:00 EST
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 8, 6, 59), ny_));    // 01:59 EST
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 8, 7, 0), ny_));    // 03:00 EDT
  EXPECT_TRUE(s.Allows(Utc(2026, 11, 1, 5, 30), ny_));   // 01:30 EDT
  EXPECT_TRUE(s.Allows(Utc(2026, 11, 1, 6, 30), ny_));   // 01:30 EST
  EXPECT_TRUE(s.Allows(Utc(2026, 11, 1, 7, 59), ny_));   // 02:59 EST
  EXPECT_FALSE(s.Allows(Utc(2026, 11, 1, 8, 0), ny_));   // 03:00 EST
  EXPECT_FALSE(s.Allows(Utc(2026, 11, 1, 4, 59), ny_));  // 00:59 EDT
}

// A range past midnight belongs to the day it starts on, also when the
// night is the one of a DST switch (Saturday March 7 to Sunday March 8).
TEST_F(ScheduleTest, NightsBelongToTheDayTheyStart) {
  const Schedule s = Parse(std::vector<std::string>{"sat"}, "22:00-06:00");
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 7, 2, 0), ny_));   // Fri 21:00 EST
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 7, 10, 0), ny_));  // Sat 05:00 EST
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 8, 2, 59), ny_));  // Sat 21:59 EST
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 8, 3, 0), ny_));    // Sat 22:00 EST
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 8, 9, 59), ny_));   // Sun 05:59 EDT
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 8, 10, 0), ny_));  // Sun 06:00 EDT
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 9, 3, 0), ny_));   // Sun 23:00 EDT
  // Every day, ending at 24:00.
  const Schedule evening = Parse(std::nullopt, "18:00-24:00");
  EXPECT_TRUE(evening.Allows(Utc(2026, 1, 1, 23, 59), absl::UTCTimeZone()));
  EXPECT_FALSE(evening.Allows(Utc(2026, 1, 2, 0, 0), absl::UTCTimeZone()));
  EXPECT_FALSE(evening.Allows(Utc(2026, 1, 1, 17, 59), absl::UTCTimeZone()));
}

TEST_F(ScheduleTest, DaysOnly) {
  const Schedule s =
      Parse(std::vector<std::string>{"sat", "sun"}, std::nullopt);
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 7, 12, 0), ny_));  // Saturday
  EXPECT_TRUE(s.Allows(Utc(2026, 3, 9, 3, 59), ny_));  // Sunday 23:59 EDT
  EXPECT_FALSE(s.Allows(Utc(2026, 3, 9, 4, 0), ny_));  // Monday 00:00 EDT
}

TEST_F(ScheduleTest, Describe) {
  EXPECT_EQ(
      Parse(std::vector<std::string>{"mon-fri"}, "08:00-20:00").Describe(),
      "mon-fri 08:00-20:00");
  EXPECT_EQ(Parse(std::vector<std::string>{"sun", "sat", "mon"}, std::nullopt)
                .Describe(),
            "mon,sat,sun");
  EXPECT_EQ(Parse(std::nullopt, "22:00-06:00").Describe(),
            "every day 22:00-06:00");
  EXPECT_EQ(WallClock(Utc(2026, 3, 9, 12, 0), ny_),
            "Monday 2026-03-09 08:00 America/New_York");
}

TEST_F(ScheduleTest, ParseErrorsSayWhatIsWrong) {
  auto error = [](std::optional<std::vector<std::string>> days,
                  std::optional<std::string> hours) {
    absl::StatusOr<Schedule> s = ParseSchedule(days, hours);
    EXPECT_FALSE(s.ok());
    return std::string(s.status().message());
  };
  using Days = std::vector<std::string>;
  EXPECT_THAT(error(std::nullopt, std::nullopt),
              HasSubstr("needs days, hours"));
  EXPECT_THAT(error(Days{}, std::nullopt), HasSubstr("days: is empty"));
  EXPECT_THAT(error(Days{"mon", "fr"}, std::nullopt),
              HasSubstr("days[1]: \"fr\" is not a day"));
  EXPECT_THAT(error(Days{"fri-mon"}, std::nullopt),
              HasSubstr("runs backwards"));
  EXPECT_THAT(error(Days{"mon-tue-wed"}, std::nullopt),
              HasSubstr("is not a day"));
  for (const char* bad :
       {"8:00-20:00", "08:00", "08:00-20:60", "24:00-08:00", "08:00-24:01",
        " 8:00-20:00", "08:00-20:00-21:00", "+8:00-20:00", "aa:bb-cc:dd", ""}) {
    EXPECT_THAT(error(std::nullopt, std::string(bad)),
                HasSubstr("is not a range of HH:MM-HH:MM"))
        << bad;
  }
  EXPECT_THAT(error(std::nullopt, "08:00-08:00"),
              HasSubstr("whole day or none"));
  EXPECT_THAT(error(std::nullopt, "00:00-24:00"),
              HasSubstr("whole day or none"));
}

}  // namespace
}  // namespace warden
