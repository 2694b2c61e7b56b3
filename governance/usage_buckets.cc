#include "governance/usage_buckets.h"

#include <limits>

#include "absl/container/flat_hash_map.h"

namespace warden::usage {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// The finest level that still holds the bucket of `from` at `now` (with a
// margin of two buckets, for a replica whose clock runs ahead).
int PrecisionLevel(absl::Time from, absl::Time now) {
  for (int l = 0; l + 1 < static_cast<int>(kLevels.size()); ++l) {
    const Level& level = kLevels[l];
    if (BucketOf(level, now + kClockSkewAllowance) - BucketOf(level, from) <=
        level.kept - 2) {
      return l;
    }
  }
  return kLevels.size() - 1;
}

absl::Time RawStart(const LimitCheck& check) {
  return check.calendar ? check.interval.start
                        : check.interval.start - kClockSkewAllowance;
}

}  // namespace

int64_t BucketOf(const Level& level, absl::Time t) {
  // ToUnixSeconds rounds toward the past, as does FloorDiv.
  return FloorDiv(absl::ToUnixSeconds(t), level.seconds);
}

Interval BucketSpan(const Level& level, int64_t n) {
  return {absl::FromUnixSeconds(n * level.seconds),
          absl::FromUnixSeconds((n + 1) * level.seconds)};
}

absl::Time CountedFrom(const LimitCheck& check, absl::Time now) {
  const absl::Time raw = RawStart(check);
  const Level& level = kLevels[PrecisionLevel(raw, now)];
  return absl::FromUnixSeconds(BucketOf(level, raw) * level.seconds);
}

std::vector<Span> SpansOf(const LimitCheck& check, absl::Time now) {
  const absl::Time raw = RawStart(check);
  int l = PrecisionLevel(raw, now);
  const int64_t end = absl::ToUnixSeconds(now + kClockSkewAllowance);
  int64_t pos = BucketOf(kLevels[l], raw) * kLevels[l].seconds;
  std::vector<Span> spans;
  for (; l < static_cast<int>(kLevels.size()) && pos <= end; ++l) {
    const int64_t width = kLevels[l].seconds;
    const bool coarsest = l + 1 == static_cast<int>(kLevels.size());
    const int64_t next = coarsest ? 0 : kLevels[l + 1].seconds;
    Span span{l, pos / width, pos / width - 1};
    // Up to the next level's boundary, then on at that level.
    while (pos <= end && (coarsest || pos % next != 0)) {
      ++span.last;
      pos += width;
    }
    if (span.last >= span.first) spans.push_back(span);
  }
  return spans;
}

std::vector<Span> SpansOf(const UsageQuery& query, absl::Time now) {
  return SpansOf(LimitCheck{.kind = query.kind,
                            .interval = query.interval,
                            .calendar = query.calendar},
                 now);
}

Span FinestSpan(const UsageQuery& query, absl::Time now) {
  const LimitCheck check{.interval = query.interval,
                         .calendar = query.calendar};
  const absl::Time raw = RawStart(check);
  const int l = PrecisionLevel(raw, now);
  return {l, BucketOf(kLevels[l], raw),
          BucketOf(kLevels[l], now + kClockSkewAllowance)};
}

void Buckets::Add(absl::Time at, absl::int128 usd, absl::int128 count) {
  for (size_t l = 0; l < kLevels.size(); ++l) {
    const Level& level = kLevels[l];
    Ring& ring = rings_[l];
    const int64_t n = BucketOf(level, at);
    if (ring.cells.empty()) ring.newest = n;
    if (n < ring.newest - level.kept) continue;  // Past what it keeps.
    if (n > ring.newest) {
      ring.newest = n;
      absl::erase_if(ring.cells, [&](const auto& cell) {
        return cell.first < n - level.kept;
      });
    }
    Cell& cell = ring.cells[n];
    cell.usd += usd;
    cell.count += count;
    if (cell.usd == 0 && cell.count == 0) ring.cells.erase(n);
  }
}

int64_t Buckets::Sum(const std::vector<Span>& spans, Limit::Kind kind) const {
  absl::int128 total = 0;
  for (const Span& s : spans) {
    const Ring& ring = rings_[s.level];
    if (s.last - s.first + 1 > static_cast<int64_t>(ring.cells.size())) {
      for (const auto& [n, cell] : ring.cells) {
        if (n >= s.first && n <= s.last) {
          total += kind == Limit::Kind::kUsd ? cell.usd : cell.count;
        }
      }
      continue;
    }
    for (int64_t n = s.first; n <= s.last; ++n) {
      auto it = ring.cells.find(n);
      if (it == ring.cells.end()) continue;
      total += kind == Limit::Kind::kUsd ? it->second.usd : it->second.count;
    }
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (total > kMax) return kMax;
  return total < 0 ? 0 : static_cast<int64_t>(total);
}

std::optional<Interval> Buckets::Oldest(const std::vector<Span>& spans,
                                        Limit::Kind kind) const {
  for (const Span& s : spans) {
    const Ring& ring = rings_[s.level];
    std::optional<int64_t> first;
    for (const auto& [n, cell] : ring.cells) {
      const absl::int128 v = kind == Limit::Kind::kUsd ? cell.usd : cell.count;
      if (n >= s.first && n <= s.last && v != 0 && (!first || n < *first)) {
        first = n;
      }
    }
    if (first) return BucketSpan(kLevels[s.level], *first);
  }
  return std::nullopt;
}

bool Buckets::Empty() const {
  for (const Ring& r : rings_) {
    if (!r.cells.empty()) return false;
  }
  return true;
}

}  // namespace warden::usage
