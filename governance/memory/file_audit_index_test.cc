// The audit file's index answers the finance queries: filters, paging,
// event types, spend summaries and latest states, kept up to date as the
// file grows, rebuilt when it shrinks, and a verification that reads the
// file itself, so an edit after indexing is found.
#include "governance/memory/file_audit_index.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "governance/memory/file_audit_log.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'777'651'200);

std::string TempPath(const char* name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path =
      absl::StrCat(dir ? dir : "/tmp", "/", name, "_", ::getpid(), ".jsonl");
  std::remove(path.c_str());
  std::remove((path + ".lock").c_str());
  return path;
}

Authorization Spend(const std::string& id, const std::string& dept,
                    const std::string& agent, UsdMicros usd) {
  Authorization a;
  a.id = id;
  a.org_id = "acme";
  a.department_id = dept;
  a.agent_id = agent;
  a.wallet_id = agent + "_w";
  a.chain = "base";
  a.asset = "USDC";
  a.amount = static_cast<uint64_t>(usd);
  a.amount_usd = usd;
  a.decision = Decision::kAllow;
  a.status = AuthorizationStatus::kHeld;
  a.created_at = kT0;
  a.hold_expires_at = kT0 + absl::Minutes(15);
  return a;
}

class FileAuditIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FileAuditLog>> log =
        FileAuditLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    Append(AuditEvent::ForBundle(kT0, "acme", "admin", 1, {"+ org"}));
    // eng: $600 settled at $500 and $300 held; ops: $200 denied, $50 held.
    Authorization a1 = Spend("az_1", "eng", "bot", 600);
    Append(Decided(a1));
    a1.status = AuthorizationStatus::kSettled;
    a1.settled_usd = 500;
    a1.settled_amount = 500;
    Append(AuditEvent::ForAuthorization(AuditEvent::Type::kAuthorizationSettled,
                                        kT0 + absl::Minutes(1), "agent/bot",
                                        a1));
    Append(Decided(Spend("az_2", "eng", "bot", 300)));
    Authorization denied = Spend("az_3", "ops", "ops_bot", 200);
    denied.decision = Decision::kDeny;
    denied.status = AuthorizationStatus::kDenied;
    Append(Decided(denied));
    Append(Decided(Spend("az_4", "ops", "ops_bot", 50)));
  }

  static AuditEvent Decided(const Authorization& a) {
    return AuditEvent::ForAuthorization(AuditEvent::Type::kAuthorizationDecided,
                                        a.created_at,
                                        absl::StrCat("agent/", a.agent_id), a);
  }
  void Append(const AuditEvent& e) { ASSERT_TRUE(log_->Append(e).ok()); }

  std::vector<std::string> Ids(AuditQuery q) {
    std::vector<std::string> out;
    if (q.org_id.empty()) q.org_id = "acme";
    absl::Status st = index_.Query(q, [&](const AuditRecord& r) {
      out.push_back(absl::StrCat(
          r.seq, ":",
          r.type == "bundle.applied" ? "bundle" : r.authorization_id));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }

  const std::string path_ = TempPath("index");
  std::unique_ptr<FileAuditLog> log_;
  FileAuditIndex index_{path_};
};

TEST_F(FileAuditIndexTest, FiltersAndPages) {
  EXPECT_THAT(Ids({}), ElementsAre("1:bundle", "2:az_1", "3:az_1", "4:az_2",
                                   "5:az_3", "6:az_4"));
  EXPECT_THAT(Ids({.agent_id = "ops_bot"}), ElementsAre("5:az_3", "6:az_4"));
  EXPECT_THAT(Ids({.department_id = "eng", .type = "authorization.settled"}),
              ElementsAre("3:az_1"));
  EXPECT_THAT(Ids({.decision = "DENY"}), ElementsAre("5:az_3"));
  EXPECT_THAT(Ids({.type = "bundle.applied"}), ElementsAre("1:bundle"));
  EXPECT_THAT(Ids({.after_seq = 4, .limit = 1}), ElementsAre("5:az_3"));
  EXPECT_THAT(Ids({.agent_id = "nobody"}), ElementsAre());
  EXPECT_THAT(Ids({.org_id = "globex"}), ElementsAre());
  EXPECT_THAT(Ids({.from = kT0 + absl::Seconds(30)}), ElementsAre("3:az_1"));
  // The record as Postgres gives it, from the line.
  std::vector<AuditRecord> got;
  ASSERT_TRUE(index_
                  .Query({.org_id = "acme", .after_seq = 2, .limit = 1},
                         [&](const AuditRecord& r) {
                           got.push_back(r);
                           return true;
                         })
                  .ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, "SETTLED");
  EXPECT_EQ(got[0].charged_usd, 500);
  EXPECT_EQ(got[0].actor, "agent/bot");
  EXPECT_EQ(got[0].wallet_id, "bot_w");
  EXPECT_EQ(got[0].time, kT0 + absl::Minutes(1));
  EXPECT_THAT(got[0].body, HasSubstr("\"id\":\"az_1\""));
  EXPECT_EQ(got[0].hash.size(), 64u);
  // Appends after the first read are found at the next.
  Append(Decided(Spend("az_5", "ops", "ops_bot", 70)));
  EXPECT_THAT(Ids({.agent_id = "ops_bot"}),
              ElementsAre("5:az_3", "6:az_4", "7:az_5"));
}

// Spend over time: rows per period of the query's zone, in period order.
// kT0 is 2026-05-01 16:00 UTC, noon in New York.
TEST_F(FileAuditIndexTest, SpendSummaryByPeriodUsesTheZone) {
  auto at = [](const std::string& id, absl::Duration after, UsdMicros usd) {
    Authorization a = Spend(id, "eng", "bot", usd);
    a.created_at = kT0 + after;
    return a;
  };
  Append(Decided(at("late", absl::Hours(9), 7)));  // 21:00 NY, May 2 UTC.
  Append(Decided(at("next", absl::Hours(24), 11)));
  absl::TimeZone ny;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &ny));
  using Row = std::pair<std::string, UsdMicros>;
  auto days = [&](absl::TimeZone zone) {
    std::vector<Row> out;
    absl::StatusOr<std::vector<SpendRow>> rows =
        index_.SpendSummary({.org_id = "acme",
                             .group = SpendGroup::kDepartment,
                             .from = kT0,
                             .to = kT0 + absl::Hours(48),
                             .period = Window::Period::kDay,
                             .zone = zone});
    EXPECT_TRUE(rows.ok()) << rows.status();
    for (const SpendRow& r : *rows) {
      out.emplace_back(
          absl::StrCat(absl::FormatTime("%Y-%m-%d %H:%M", r.period_start, zone),
                       " ", r.key),
          r.settled_usd + r.held_usd);
    }
    return out;
  };
  // The fixture's spends at kT0: eng 800, ops 50 (the denial charges none).
  EXPECT_THAT(days(ny), ElementsAre(Row{"2026-05-01 00:00 eng", 807},
                                    Row{"2026-05-01 00:00 ops", 50},
                                    Row{"2026-05-02 00:00 eng", 11}));
  EXPECT_THAT(days(absl::UTCTimeZone()),
              ElementsAre(Row{"2026-05-01 00:00 eng", 800},
                          Row{"2026-05-01 00:00 ops", 50},
                          Row{"2026-05-02 00:00 eng", 18}));
}

TEST_F(FileAuditIndexTest, SpendSummaryAndLatestStates) {
  absl::StatusOr<std::vector<SpendRow>> rows =
      index_.SpendSummary({.org_id = "acme",
                           .group = SpendGroup::kDepartment,
                           .from = kT0,
                           .to = kT0 + absl::Hours(1)});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].key, "eng");
  EXPECT_EQ((*rows)[0].settled_usd, 500);
  EXPECT_EQ((*rows)[0].held_usd, 300);
  EXPECT_EQ((*rows)[0].count, 2);
  EXPECT_EQ((*rows)[1].key, "ops");
  EXPECT_EQ((*rows)[1].held_usd, 50);  // The denial charges nothing.
  EXPECT_EQ((*rows)[1].count, 1);
  // Outside the period: nothing.
  EXPECT_TRUE(index_
                  .SpendSummary({.org_id = "acme",
                                 .group = SpendGroup::kAgent,
                                 .from = kT0 + absl::Hours(1),
                                 .to = kT0 + absl::Hours(2)})
                  ->empty());
  std::vector<std::string> latest;
  ASSERT_TRUE(index_
                  .LatestAuthorizations("acme", kT0,
                                        [&](const Authorization& a) {
                                          latest.push_back(absl::StrCat(
                                              a.id, " ", StatusName(a.status)));
                                          return absl::OkStatus();
                                        })
                  .ok());
  EXPECT_THAT(latest, ElementsAre("az_1 SETTLED", "az_2 HELD", "az_3 DENIED",
                                  "az_4 HELD"));
}

TEST_F(FileAuditIndexTest, VerifyReadsTheFileAndFindsAnEdit) {
  ASSERT_EQ(Ids({}).size(), 6u);  // Indexed first.
  absl::StatusOr<ChainVerification> ok = index_.Verify("acme");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->ok);
  EXPECT_EQ(ok->records, 6);
  EXPECT_FALSE(ok->signable);
  // Change az_2's amount in the file.
  std::ifstream in(path_);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  in.close();
  const std::string from = "\\\"amount_usd\\\":\\\"0.0003\\\"";
  const size_t at = lines[3].find(from);
  ASSERT_NE(at, std::string::npos) << lines[3];
  lines[3].replace(at, from.size(), "\\\"amount_usd\\\":\\\"0.0009\\\"");
  {
    std::ofstream out(path_);
    for (const std::string& l : lines) out << l << "\n";
  }
  absl::StatusOr<ChainVerification> bad = index_.Verify("acme");
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->first_bad_seq, 4);
  EXPECT_THAT(bad->problem, HasSubstr(":4: the hash chain is broken here"));
}

TEST_F(FileAuditIndexTest, AFileThatShrankIsIndexedAgain) {
  ASSERT_EQ(Ids({}).size(), 6u);
  log_.reset();
  // A failed group commit cuts its lines off: keep the first three.
  std::ifstream in(path_);
  std::string kept;
  for (int i = 0; i < 3; ++i) {
    std::string l;
    std::getline(in, l);
    kept += l + "\n";
  }
  in.close();
  {
    std::ofstream out(path_, std::ios::trunc);
    out << kept;
  }
  EXPECT_THAT(Ids({}), ElementsAre("1:bundle", "2:az_1", "3:az_1"));
}

TEST(FileAuditIndexEmptyTest, NoFileIsNoEvents) {
  FileAuditIndex index(TempPath("none"));
  size_t n = 0;
  ASSERT_TRUE(index
                  .Query({.org_id = "acme"},
                         [&](const AuditRecord&) {
                           ++n;
                           return true;
                         })
                  .ok());
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(index.Verify("acme")->ok);
  EXPECT_TRUE(index
                  .SpendSummary({.org_id = "acme",
                                 .group = SpendGroup::kAgent,
                                 .from = kT0,
                                 .to = kT0 + absl::Hours(1)})
                  ->empty());
}

}  // namespace
}  // namespace warden
