#ifndef WARDEN_GOVERNANCE_SCHEDULE_H_
#define WARDEN_GOVERNANCE_SCHEDULE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden {

// When a scope may spend, on the wall clock of the org's time zone: some
// days of the week, and within them a range of hours. A range that ends
// before it starts runs past midnight and belongs to the day it starts on
// ("22:00-06:00" on fri allows Friday 23:00 and Saturday 05:59). Times are
// civil: across a DST change "08:00-20:00" is still 08:00 to 20:00 on the
// clock, and an hour the clock skips never happens.
struct Schedule {
  // Bit d set: day d allowed, d = 0 for Monday through 6 for Sunday.
  unsigned days = 0x7f;
  // Minutes after midnight, [start, end); end may be 1440 ("24:00").
  // Unset: the whole day.
  std::optional<std::pair<int, int>> hours;

  // Whether `t` falls inside, in `zone`.
  bool Allows(absl::Time t, const absl::TimeZone& zone) const;
  // "mon-fri 08:00-20:00", "sat,sun", "every day 22:00-06:00": for
  // sentences and diffs.
  std::string Describe() const;

  friend bool operator==(const Schedule&, const Schedule&) = default;
};

// From a bundle's `days` (each a day, mon to sun, or a range such as
// "mon-fri"; absent: every day) and `hours` ("HH:MM-HH:MM"; absent: all
// day). INVALID_ARGUMENT says which part is wrong and how, without naming
// the field: "days[1]: \"fr\" is not a day (mon, tue, ...)".
absl::StatusOr<Schedule> ParseSchedule(
    const std::optional<std::vector<std::string>>& days,
    const std::optional<std::string>& hours);

// "Saturday 2026-03-07 21:14 America/New_York": `t` on the wall clock, for
// the reason of a spend outside a schedule.
std::string WallClock(absl::Time t, const absl::TimeZone& zone);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_SCHEDULE_H_
