#include "governance/memory/file_audit_index.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "governance/audit_codec.h"
#include "governance/memory/file_audit_log.h"
#include "governance/money.h"

namespace warden {

FileAuditIndex::Name FileAuditIndex::Intern(const std::string& s) {
  auto [it, added] = name_ids_.try_emplace(s, names_.size());
  if (added) names_.push_back(s);
  return it->second;
}

bool FileAuditIndex::Find(const std::string& s, Name* out) const {
  auto it = name_ids_.find(s);
  if (it == name_ids_.end()) return false;
  *out = it->second;
  return true;
}

absl::Status FileAuditIndex::CatchUpLocked() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return absl::OkStatus();  // No trail yet.
  in.seekg(0, std::ios::end);
  const int64_t size = in.tellg();
  if (size < indexed_to_) {
    entries_.clear();
    indexed_to_ = 0;
  }
  in.seekg(indexed_to_);
  std::string text;
  // Whole lines only: one being written is indexed at a later read.
  while (std::getline(in, text) && !in.eof()) {
    const int64_t offset = indexed_to_;
    indexed_to_ += static_cast<int64_t>(text.size()) + 1;
    if (text.empty()) continue;
    absl::StatusOr<ChainLine> line = ParseChainLine(text);
    absl::StatusOr<AuditEvent> event =
        line.ok() ? DecodeAuditEvent(line->body) : line.status();
    // A line that does not parse is left out here; Verify reports it.
    if (!event.ok()) continue;
    Entry e;
    e.seq = line->seq;
    e.offset = offset;
    e.length = static_cast<int64_t>(text.size());
    e.time = event->time;
    e.org = Intern(event->org_id);
    e.type = Intern(AuditEventTypeName(event->type));
    if (const std::optional<Authorization>& a = event->authorization) {
      e.authorization_id = a->id;
      e.created_at = a->created_at;
      e.charged_usd = a->ChargedUsd();
      e.agent = Intern(a->agent_id);
      e.department = Intern(a->department_id);
      e.wallet = Intern(a->wallet_id);
      e.chain = Intern(a->chain);
      e.asset = Intern(a->asset);
      e.decision = Intern(DecisionName(a->decision));
      e.status = Intern(StatusName(a->status));
    }
    entries_.push_back(std::move(e));
  }
  return absl::OkStatus();
}

absl::StatusOr<AuditEvent> FileAuditIndex::ReadLocked(std::ifstream& in,
                                                      const Entry& e,
                                                      std::string* text) {
  in.clear();
  text->resize(static_cast<size_t>(e.length));
  if (!in.seekg(e.offset) || !in.read(text->data(), e.length)) {
    return absl::DataLossError(
        absl::StrCat(path_, ": cannot read record ", e.seq, " back"));
  }
  absl::StatusOr<ChainLine> line = ParseChainLine(*text);
  if (!line.ok() || line->seq != e.seq) {
    return absl::DataLossError(absl::StrCat(path_, ": record ", e.seq,
                                            " changed since it was indexed"));
  }
  return DecodeAuditEvent(line->body);
}

absl::Status FileAuditIndex::Query(
    const AuditQuery& q, const std::function<bool(const AuditRecord&)>& fn) {
  const size_t limit = std::clamp<size_t>(q.limit, 1, kMaxAuditPage);
  std::vector<AuditRecord> page;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status st = CatchUpLocked(); !st.ok()) return st;
    // Each filter as a name; one nothing has matches nothing.
    struct Filter {
      const std::string* value;
      Name Entry::*field;
      Name name = 0;
    };
    std::vector<Filter> filters;
    for (Filter f :
         {Filter{&q.org_id, &Entry::org},
          Filter{&q.department_id, &Entry::department},
          Filter{&q.agent_id, &Entry::agent},
          Filter{&q.wallet_id, &Entry::wallet}, Filter{&q.chain, &Entry::chain},
          Filter{&q.asset, &Entry::asset},
          Filter{&q.decision, &Entry::decision},
          Filter{&q.type, &Entry::type}}) {
      if (f.value->empty() && f.field != &Entry::org) continue;
      if (!Find(*f.value, &f.name)) return absl::OkStatus();
      filters.push_back(f);
    }
    std::ifstream in(path_, std::ios::binary);
    auto first = std::upper_bound(
        entries_.begin(), entries_.end(), q.after_seq,
        [](int64_t seq, const Entry& e) { return seq < e.seq; });
    for (auto it = first; it != entries_.end() && page.size() < limit; ++it) {
      const Entry& e = *it;
      if (e.time < q.from || e.time >= q.to ||
          std::any_of(filters.begin(), filters.end(),
                      [&](const Filter& f) { return e.*f.field != f.name; })) {
        continue;
      }
      std::string text;
      absl::StatusOr<AuditEvent> event = ReadLocked(in, e, &text);
      if (!event.ok()) return event.status();
      absl::StatusOr<ChainLine> line = ParseChainLine(text);
      AuditRecord& r = page.emplace_back();
      r.org_id = event->org_id;
      r.seq = e.seq;
      r.time = event->time;
      r.type = NameOf(e.type);
      r.actor = event->actor;
      r.authorization_id = e.authorization_id;
      r.agent_id = NameOf(e.agent);
      r.department_id = NameOf(e.department);
      r.wallet_id = NameOf(e.wallet);
      r.decision = NameOf(e.decision);
      r.status = NameOf(e.status);
      r.charged_usd = e.charged_usd;
      r.body = std::move(line->body);
      r.prev_hash = std::move(line->prev_hash);
      r.hash = std::move(line->hash);
    }
  }
  for (const AuditRecord& r : page) {
    if (!fn(r)) break;
  }
  return absl::OkStatus();
}

std::vector<size_t> FileAuditIndex::LatestLocked(Name org, absl::Time from,
                                                 absl::Time to) {
  absl::flat_hash_map<std::string_view, size_t> latest;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.org != org || e.authorization_id.empty() || e.created_at < from ||
        e.created_at >= to) {
      continue;
    }
    latest[e.authorization_id] = i;
  }
  std::vector<size_t> out;
  out.reserve(latest.size());
  for (const auto& [id, i] : latest) out.push_back(i);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<SpendRow>> FileAuditIndex::SpendSummary(
    const SpendQuery& q) {
  absl::MutexLock lock(&mu_);
  if (absl::Status st = CatchUpLocked(); !st.ok()) return st;
  Name org = 0;
  if (!Find(q.org_id, &org)) return std::vector<SpendRow>();
  Name Entry::*key = &Entry::department;
  switch (q.group) {
    case SpendGroup::kDepartment:
      key = &Entry::department;
      break;
    case SpendGroup::kAgent:
      key = &Entry::agent;
      break;
    case SpendGroup::kWallet:
      key = &Entry::wallet;
      break;
    case SpendGroup::kChain:
      key = &Entry::chain;
      break;
    case SpendGroup::kAsset:
      key = &Entry::asset;
      break;
  }
  std::map<std::pair<absl::Time, std::string>, SpendRow> rows;
  Name settled = 0;
  const bool any_settled = Find("SETTLED", &settled);
  for (size_t i : LatestLocked(org, q.from, q.to)) {
    const Entry& e = entries_[i];
    if (e.charged_usd <= 0) continue;
    const absl::Time period = q.period
                                  ? PeriodStart(*q.period, e.created_at, q.zone)
                                  : absl::InfinitePast();
    SpendRow& row = rows[{period, NameOf(e.*key)}];
    row.key = NameOf(e.*key);
    row.period_start = period;
    UsdMicros& sum =
        any_settled && e.status == settled ? row.settled_usd : row.held_usd;
    sum = SaturatingAdd(sum, e.charged_usd);
    ++row.count;
  }
  std::vector<SpendRow> out;
  for (auto& [k, row] : rows) out.push_back(std::move(row));
  return out;
}

absl::Status FileAuditIndex::LatestAuthorizations(
    const std::string& org_id, absl::Time since,
    const std::function<absl::Status(const Authorization&)>& fn) {
  std::vector<Authorization> latest;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status st = CatchUpLocked(); !st.ok()) return st;
    Name org = 0;
    if (!Find(org_id, &org)) return absl::OkStatus();
    std::ifstream in(path_, std::ios::binary);
    for (size_t i : LatestLocked(org, since, absl::InfiniteFuture())) {
      std::string text;
      absl::StatusOr<AuditEvent> event = ReadLocked(in, entries_[i], &text);
      if (!event.ok()) return event.status();
      latest.push_back(*std::move(event->authorization));
    }
  }
  for (const Authorization& a : latest) {
    if (absl::Status st = fn(a); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditReader::RecordedStatus>>
FileAuditIndex::NewestHolds(const std::string& org_id, absl::Time since,
                            int limit) {
  absl::MutexLock lock(&mu_);
  if (absl::Status st = CatchUpLocked(); !st.ok()) return st;
  std::vector<RecordedStatus> out;
  Name org = 0;
  if (!Find(org_id, &org)) return out;
  // As the Postgres reader: the newest events, each authorization's first
  // met being its latest, at most four events per authorization.
  absl::flat_hash_set<std::string_view> seen;
  size_t read = 0;
  for (size_t i = entries_.size();
       i-- > 0 && out.size() < size_t(limit) && read < size_t(limit) * 4;) {
    const Entry& e = entries_[i];
    if (e.org != org || e.authorization_id.empty() || e.created_at < since) {
      continue;
    }
    ++read;
    if (!seen.insert(e.authorization_id).second) continue;
    RecordedStatus s{.authorization_id = e.authorization_id};
    if (!ParseStatusName(NameOf(e.status), &s.status)) {
      return absl::DataLossError(absl::StrCat(
          "audit record of ", e.authorization_id, " has an unknown status"));
    }
    if (s.status != AuthorizationStatus::kDenied) out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<ChainVerification> FileAuditIndex::Verify(
    const std::string& org_id) {
  ChainVerification out;
  out.signable = false;
  absl::Status walked = FileAuditLog::WalkChain(
      path_,
      [&](int64_t, const ChainLine&) {
        ++out.records;
        return absl::OkStatus();
      },
      &out.first_bad_seq);
  if (out.first_bad_seq > 0) {
    out.ok = false;
    out.problem = std::string(walked.message());
  } else if (!walked.ok()) {
    return walked;
  }
  return out;
}

}  // namespace warden
