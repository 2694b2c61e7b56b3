#include "governance/window.h"

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "governance/quote.h"

namespace warden {
namespace {

absl::StatusOr<absl::Duration> ParseRollingLength(absl::string_view text) {
  size_t digits = 0;
  while (digits < text.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  const absl::string_view number = text.substr(0, digits);
  const absl::string_view unit = text.substr(digits);
  int64_t n = 0;
  if (number.empty() || !absl::SimpleAtoi(number, &n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rolling window ", Quote(text),
                     " must be a whole number and a unit, "
                     "e.g. 24h"));
  }
  absl::Duration per_unit;
  if (unit == "s") {
    per_unit = absl::Seconds(1);
  } else if (unit == "m") {
    per_unit = absl::Minutes(1);
  } else if (unit == "h") {
    per_unit = absl::Hours(1);
  } else if (unit == "d") {
    per_unit = absl::Hours(24);
  } else if (unit == "w") {
    per_unit = absl::Hours(24 * 7);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown unit ", Quote(unit), " (use s, m, h, d or w)"));
  }
  if (n <= 0 || n > kMaxRollingWindow / per_unit) {
    return absl::InvalidArgumentError(
        absl::StrCat("rolling window ", Quote(text),
                     " must be longer than 0 and at most "
                     "366d"));
  }
  return n * per_unit;
}

}  // namespace

absl::StatusOr<Window> ParseWindow(absl::string_view spec) {
  Window w;
  w.spec = std::string(spec);
  absl::string_view rest = spec;
  if (absl::ConsumePrefix(&rest, "rolling:")) {
    w.kind = Window::Kind::kRolling;
    absl::StatusOr<absl::Duration> length = ParseRollingLength(rest);
    if (!length.ok()) return length.status();
    w.length = *length;
    return w;
  }
  if (absl::ConsumePrefix(&rest, "calendar:")) {
    w.kind = Window::Kind::kCalendar;
    if (rest == "day") {
      w.period = Window::Period::kDay;
    } else if (rest == "week") {
      w.period = Window::Period::kWeek;
    } else if (rest == "month") {
      w.period = Window::Period::kMonth;
    } else if (rest == "quarter") {
      w.period = Window::Period::kQuarter;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown calendar period ", Quote(rest),
                       " (use day, week, month or quarter)"));
    }
    return w;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("window ", Quote(spec),
                   " must be rolling:<N><s|m|h|d|w> or "
                   "calendar:<day|week|month|quarter>"));
}

std::string Window::Describe() const {
  const size_t colon = spec.find(':');
  return absl::StrCat(spec.substr(0, colon), " ", spec.substr(colon + 1));
}

absl::Duration Window::MaxLength() const {
  if (kind == Kind::kRolling) return length;
  switch (period) {
    case Period::kDay:
      return absl::Hours(25);  // DST fall-back day.
    case Period::kWeek:
      return absl::Hours(24 * 7 + 1);
    case Period::kMonth:
      return absl::Hours(24 * 31 + 1);
    case Period::kQuarter:
      return absl::Hours(24 * 92 + 1);
  }
  return absl::Hours(24 * 92 + 1);
}

namespace {

// The calendar periods holding one local day, computed together.
struct CalendarDay {
  absl::TimeZone zone;
  Interval day, week, month, quarter;
};

CalendarDay CalendarAt(absl::Time now, const absl::TimeZone& zone) {
  const absl::CivilDay today = absl::ToCivilDay(now, zone);
  const absl::CivilDay monday =
      absl::PrevWeekday(today + 1, absl::Weekday::monday);
  const absl::CivilMonth month(today);
  const absl::CivilMonth quarter(today.year(), (today.month() - 1) / 3 * 3 + 1);
  return {zone,
          {absl::FromCivil(today, zone), absl::FromCivil(today + 1, zone)},
          {absl::FromCivil(monday, zone), absl::FromCivil(monday + 7, zone)},
          {absl::FromCivil(month, zone), absl::FromCivil(month + 1, zone)},
          {absl::FromCivil(quarter, zone), absl::FromCivil(quarter + 3, zone)}};
}

}  // namespace

Interval WindowAt(const Window& window, absl::Time now,
                  const absl::TimeZone& zone) {
  if (window.kind == Window::Kind::kRolling) {
    return {now - window.length, absl::InfiniteFuture()};
  }
  // Time zone arithmetic costs more than the rest of a limit check: each
  // thread keeps the periods of the local day it last saw.
  thread_local std::optional<CalendarDay> cached;
  if (!cached || cached->zone != zone || now < cached->day.start ||
      now >= cached->day.end) {
    cached = CalendarAt(now, zone);
  }
  switch (window.period) {
    case Window::Period::kDay:
      return cached->day;
    case Window::Period::kWeek:
      return cached->week;
    case Window::Period::kMonth:
      return cached->month;
    case Window::Period::kQuarter:
      return cached->quarter;
  }
  return {now, now};
}

}  // namespace warden
