#include "governance/schedule.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "governance/quote.h"

namespace warden {
namespace {

constexpr std::array<const char*, 7> kDays = {"mon", "tue", "wed", "thu",
                                              "fri", "sat", "sun"};

// Monday 0 ... Sunday 6: absl's weekdays run in that order.
int DayIndex(absl::CivilDay day) {
  return static_cast<int>(absl::GetWeekday(day));
}

std::optional<int> ParseDay(absl::string_view name) {
  for (int d = 0; d < 7; ++d) {
    if (name == kDays[d]) return d;
  }
  return std::nullopt;
}

// "HH:MM" as minutes after midnight; "24:00" only when `end`.
std::optional<int> ParseClock(absl::string_view text, bool end) {
  auto digit = [&](size_t i) { return absl::ascii_isdigit(text[i]); };
  if (text.size() != 5 || text[2] != ':' || !digit(0) || !digit(1) ||
      !digit(3) || !digit(4)) {
    return std::nullopt;
  }
  const int h = (text[0] - '0') * 10 + (text[1] - '0');
  const int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (m > 59) return std::nullopt;
  if (h < 24 || (end && h == 24 && m == 0)) return h * 60 + m;
  return std::nullopt;
}

std::string HoursMinutes(int minutes) {
  return absl::StrFormat("%02d:%02d", minutes / 60, minutes % 60);
}

}  // namespace

absl::StatusOr<Schedule> ParseSchedule(
    const std::optional<std::vector<std::string>>& days,
    const std::optional<std::string>& hours) {
  Schedule s;
  if (!days && !hours) {
    return absl::InvalidArgumentError(
        "needs days, hours or both (leave the schedule out to allow any "
        "time)");
  }
  if (days) {
    if (days->empty()) {
      return absl::InvalidArgumentError(
          "days: is empty, which would allow no time at all");
    }
    s.days = 0;
    for (size_t i = 0; i < days->size(); ++i) {
      const std::string& item = (*days)[i];
      std::vector<absl::string_view> ends = absl::StrSplit(item, '-');
      std::optional<int> from = ParseDay(ends[0]);
      std::optional<int> to = ends.size() == 2 ? ParseDay(ends[1]) : from;
      if (ends.size() > 2 || !from || !to) {
        return absl::InvalidArgumentError(
            absl::StrCat("days[", i, "]: ", Quote(item),
                         " is not a day (mon, tue, wed, thu, fri, sat, sun) "
                         "or a range of them (mon-fri)"));
      }
      if (*to < *from) {
        return absl::InvalidArgumentError(
            absl::StrCat("days[", i, "]: ", Quote(item),
                         " runs backwards; a week runs mon to sun"));
      }
      for (int d = *from; d <= *to; ++d) s.days |= 1u << d;
    }
  }
  if (hours) {
    std::vector<absl::string_view> ends = absl::StrSplit(*hours, '-');
    std::optional<int> start =
        ends.size() == 2 ? ParseClock(ends[0], false) : std::nullopt;
    std::optional<int> end =
        ends.size() == 2 ? ParseClock(ends[1], true) : std::nullopt;
    if (!start || !end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hours: ", Quote(*hours),
          " is not a range of HH:MM-HH:MM (00:00 to 24:00, e.g. 08:00-20:00)"));
    }
    if (*start == *end || (*start == 0 && *end == 1440)) {
      return absl::InvalidArgumentError(
          absl::StrCat("hours: ", Quote(*hours),
                       " is the whole day or none of it; leave hours out for "
                       "the whole day"));
    }
    s.hours = {*start, *end};
  }
  return s;
}

bool Schedule::Allows(absl::Time t, const absl::TimeZone& zone) const {
  const absl::CivilMinute civil = absl::ToCivilMinute(t, zone);
  const absl::CivilDay day(civil);
  const int today = DayIndex(day);
  const bool today_allowed = (days >> today) & 1u;
  if (!hours) return today_allowed;
  const int minute = static_cast<int>(civil - absl::CivilMinute(day));
  const auto [start, end] = *hours;
  if (start < end) return today_allowed && minute >= start && minute < end;
  // Past midnight: the evening part is today's, the morning part belongs
  // to the day before.
  if (minute >= start) return today_allowed;
  const int yesterday = (today + 6) % 7;
  return minute < end && ((days >> yesterday) & 1u);
}

std::string Schedule::Describe() const {
  std::vector<std::string> parts;
  // Runs of consecutive days: "mon-fri", "sat".
  for (int d = 0; d < 7;) {
    if (!((days >> d) & 1u)) {
      ++d;
      continue;
    }
    int e = d;
    while (e + 1 < 7 && ((days >> (e + 1)) & 1u)) ++e;
    parts.push_back(
        e == d ? kDays[d]
               : absl::StrCat(kDays[d], e == d + 1 ? "," : "-", kDays[e]));
    d = e + 1;
  }
  std::string out = days == 0x7f ? "every day" : absl::StrJoin(parts, ",");
  if (hours) {
    absl::StrAppend(&out, " ", HoursMinutes(hours->first), "-",
                    HoursMinutes(hours->second));
  }
  return out;
}

std::string WallClock(absl::Time t, const absl::TimeZone& zone) {
  return absl::StrCat(absl::FormatTime("%A %Y-%m-%d %H:%M ", t, zone),
                      zone.name());
}

}  // namespace warden
