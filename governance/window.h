#ifndef WARDEN_GOVERNANCE_WINDOW_H_
#define WARDEN_GOVERNANCE_WINDOW_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden {

// The period a limit is measured over.
//   rolling:<N><unit>   the last N units up to now; unit is s, m, h, d or w.
//   calendar:<period>   the current day, week (ISO, from Monday), month or
//                       quarter in the org's time zone.
struct Window {
  enum class Kind { kRolling, kCalendar };
  enum class Period { kDay, kWeek, kMonth, kQuarter };

  Kind kind = Kind::kRolling;
  absl::Duration length;         // kRolling only.
  Period period = Period::kDay;  // kCalendar only.
  std::string spec;              // As written, e.g. "rolling:24h".

  // "rolling 24h", "calendar day": for human sentences.
  std::string Describe() const;
  // An upper bound on the window's length, for retention.
  absl::Duration MaxLength() const;

  friend bool operator==(const Window& a, const Window& b) {
    return a.spec == b.spec;
  }
};

// The longest rolling window accepted.
inline constexpr absl::Duration kMaxRollingWindow = absl::Hours(24 * 366);

// Parses "rolling:24h" or "calendar:month". Errors are INVALID_ARGUMENT and
// say what is wrong, e.g. `unknown unit "hr"`, without naming the field.
absl::StatusOr<Window> ParseWindow(absl::string_view spec);

// A concrete span of time. A spend at time t falls inside when
// start <= t < end.
struct Interval {
  absl::Time start;
  absl::Time end;
};

// The span `window` covers at `now`. A rolling window's start is inclusive
// (a spend exactly `length` old still counts, which errs on the safe side)
// and it has no end, so spends stamped slightly in the future by a replica
// whose clock runs ahead are counted too. A calendar window is the civil
// period containing `now` in `zone`, so a day with a DST change has 23 or 25
// hours.
Interval WindowAt(const Window& window, absl::Time now,
                  const absl::TimeZone& zone);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_WINDOW_H_
