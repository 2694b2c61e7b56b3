#include "governance/memory/file_audit_log.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "governance/memory/embedded_recovery.h"
#include "governance/memory/memory_freeze_store.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const char* name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path =
      absl::StrCat(dir ? dir : "/tmp", "/", name, "_", ::getpid(), ".jsonl");
  std::remove(path.c_str());
  std::remove((path + ".lock").c_str());
  return path;
}

AuditEvent Decided(const std::string& id, AuthorizationStatus status,
                   absl::Time created) {
  AuditEvent e;
  e.type = AuditEvent::Type::kAuthorizationDecided;
  e.time = created;
  e.org_id = "acme";
  e.actor = "test";
  Authorization a;
  a.id = id;
  a.org_id = "acme";
  a.department_id = "eng";
  a.agent_id = "agent_a";
  a.wallet_id = "w1";
  a.amount = 1;
  a.amount_usd = 100;
  a.decision = Decision::kAllow;
  a.status = status;
  a.created_at = created;
  a.hold_expires_at = created + absl::Minutes(15);
  e.authorization = a;
  return e;
}

// Concurrent appends all land, each on its own whole line.
TEST(FileAuditLogTest, ConcurrentAppendsAreWholeLines) {
  const std::string path = TempPath("concurrent");
  {
    auto log = FileAuditLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) {
          EXPECT_TRUE(
              (*log)
                  ->Append(Decided(absl::StrCat("az_", t, "_", i),
                                   AuthorizationStatus::kHeld, absl::Now()))
                  .ok());
        }
      });
    }
    for (std::thread& th : threads) th.join();
  }
  std::set<std::string> ids;
  ASSERT_TRUE(FileAuditLog::Replay(path, [&](const AuditEvent& e) {
                ids.insert(e.authorization->id);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(ids.size(), 200u);
}

// AppendAsync returns at once and calls back once the line is in the file
// (synced), each callback once, in the order the lines were chained; a
// callback may append again; closing the log completes what is queued.
TEST(FileAuditLogTest, AsyncAppendsCallBackOnceDurable) {
  const std::string path = TempPath("async");
  auto lines_in_file = [&] {
    std::ifstream in(path);
    int n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  };
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification again_done;
  {
    auto log = FileAuditLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status();
    FileAuditLog* raw = log->get();
    for (int i = 0; i < 300; ++i) {
      raw->AppendAsync(
          Decided(absl::StrCat("az_", i), AuthorizationStatus::kHeld,
                  absl::Now()),
          [&, i](absl::Status st) {
            EXPECT_TRUE(st.ok()) << st;
            // Durable before the callback: the line is in the file.
            EXPECT_GE(lines_in_file(), i + 1);
            {
              absl::MutexLock lock(&mu);
              order.push_back(i);
            }
            if (i == 299) {
              // Appending from a callback (on the syncer's thread) queues.
              raw->AppendAsync(
                  Decided("az_again", AuthorizationStatus::kHeld, absl::Now()),
                  [&](absl::Status again) {
                    EXPECT_TRUE(again.ok()) << again;
                    again_done.Notify();
                  });
            }
          });
    }
    again_done.WaitForNotification();
    auto append = [&](int from, int to) {
      for (int i = from; i < to; ++i) {
        raw->AppendAsync(Decided(absl::StrCat("az_", i),
                                 AuthorizationStatus::kHeld, absl::Now()),
                         [&, i](absl::Status st) {
                           EXPECT_TRUE(st.ok()) << st;
                           absl::MutexLock lock(&mu);
                           order.push_back(i);
                         });
      }
    };
    // Drain returns once every earlier append called back.
    append(300, 350);
    raw->Drain();
    {
      absl::MutexLock lock(&mu);
      EXPECT_EQ(order.size(), 350u);
    }
    // Queued and not waited for: closing syncs them first.
    append(350, 400);
  }
  ASSERT_EQ(order.size(), 400u);
  for (int i = 0; i < 400; ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(lines_in_file(), 401);
}

// Lines waiting for a sync are bounded: beyond the bound an append is
// refused at once with UNAVAILABLE (a stalled disk does not fill memory),
// and every accepted one still lands.
TEST(FileAuditLogTest, QueuedLinesAreBounded) {
  const std::string path = TempPath("bounded");
  std::atomic<int> ok{0}, refused{0};
  {
    auto log = FileAuditLog::Open(path, /*max_queued=*/1);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 200; ++i) {
      (*log)->AppendAsync(
          Decided(absl::StrCat("az_", i), AuthorizationStatus::kHeld,
                  absl::Now()),
          [&](absl::Status st) {
            if (st.ok()) {
              ++ok;
            } else {
              EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
              EXPECT_THAT(st.message(), HasSubstr("audit file overloaded"));
              ++refused;
            }
          });
    }
  }
  EXPECT_EQ(ok + refused, 200);
  EXPECT_GT(refused, 0);
  int lines = 0;
  ASSERT_TRUE(FileAuditLog::Replay(path, [&](const AuditEvent&) {
                ++lines;
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(lines, ok);
}

// A group whose write fails (here: past the process's file size limit,
// half written) is cut off the file: no line answered as not recorded stays
// to be restored; the log refuses appends from then on.
TEST(FileAuditLogTest, AFailedGroupIsCutOff) {
  const std::string path = TempPath("cutoff");
  auto log = FileAuditLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*log)
                    ->Append(Decided(absl::StrCat("az_ok", i),
                                     AuthorizationStatus::kHeld, absl::Now()))
                    .ok());
  }
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const off_t good = st.st_size;
  rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = static_cast<rlim_t>(good + 100);  // Part of one line.
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const absl::Status failed = (*log)->Append(
      Decided("az_lost", AuthorizationStatus::kHeld, absl::Now()));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  ::signal(SIGXFSZ, SIG_DFL);
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, good);
  EXPECT_FALSE(
      (*log)
          ->Append(Decided("az_after", AuthorizationStatus::kHeld, absl::Now()))
          .ok());
  log->reset();
  std::set<std::string> ids;
  ASSERT_TRUE(FileAuditLog::Replay(path, [&](const AuditEvent& e) {
                ids.insert(e.authorization->id);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(ids, (std::set<std::string>{"az_ok0", "az_ok1", "az_ok2"}));
}

// A torn last line (a crash mid-write) is cut off on open; earlier lines
// survive and new ones start cleanly.
TEST(FileAuditLogTest, TornTailIsCut) {
  const std::string path = TempPath("torn");
  {
    auto log = FileAuditLog::Open(path);
    ASSERT_TRUE(
        (*log)
            ->Append(Decided("az_1", AuthorizationStatus::kHeld, absl::Now()))
            .ok());
  }
  {
    std::ofstream out(path, std::ios::app);
    out << "{\"type\":\"authorization.dec";
  }
  {
    auto log = FileAuditLog::Open(path);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(
        (*log)
            ->Append(Decided("az_2", AuthorizationStatus::kHeld, absl::Now()))
            .ok());
  }
  std::vector<std::string> ids;
  ASSERT_TRUE(FileAuditLog::Replay(path, [&](const AuditEvent& e) {
                ids.push_back(e.authorization->id);
                return absl::OkStatus();
              }).ok());
  EXPECT_THAT(ids, ::testing::ElementsAre("az_1", "az_2"));
}

// A corrupt line, or an altered, deleted or swapped record, stops replay
// with the line number.
TEST(FileAuditLogTest, ReplayNamesBrokenLine) {
  const std::string path = TempPath("corrupt");
  {
    auto log = FileAuditLog::Open(path);
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE((*log)
                      ->Append(Decided(absl::StrCat("az_", i),
                                       AuthorizationStatus::kHeld, absl::Now()))
                      .ok());
    }
  }
  std::vector<std::string> lines;
  {
    std::ifstream in(path);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  auto replay_with = [&](const std::vector<std::string>& ls) {
    std::ofstream(path) << absl::StrJoin(ls, "\n") << "\n";
    return FileAuditLog::Replay(
        path, [](const AuditEvent&) { return absl::OkStatus(); });
  };
  EXPECT_TRUE(replay_with(lines).ok());
  std::vector<std::string> altered = lines;
  altered[2].replace(altered[2].find("az_2"), 4, "az_9");
  absl::Status st = replay_with(altered);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr(":3: the hash chain is broken"));
  std::vector<std::string> deleted = lines;
  deleted.erase(deleted.begin() + 1);
  EXPECT_THAT(replay_with(deleted).message(), HasSubstr(":2: "));
  std::vector<std::string> swapped = lines;
  std::swap(swapped[1], swapped[2]);
  EXPECT_THAT(replay_with(swapped).message(), HasSubstr(":2: "));
  std::vector<std::string> garbage = lines;
  garbage[3] = "not json";
  EXPECT_THAT(replay_with(garbage).message(), HasSubstr(":4: not a chained"));
}

// An unwritable path fails with UNAVAILABLE naming the path.
TEST(FileAuditLogTest, OpenFailureNamesPath) {
  auto log = FileAuditLog::Open("/nonexistent-dir/audit.jsonl");
  EXPECT_EQ(log.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(log.status().message(),
              HasSubstr("/nonexistent-dir/audit.jsonl"));
}

// One writer per file: a second open is refused, naming the holder's
// process, until the first is closed (two interleaved chains would leave a
// file no later start accepts).
TEST(FileAuditLogTest, OneWriterAtATime) {
  const std::string path = TempPath("locked");
  auto first = FileAuditLog::Open(path);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = FileAuditLog::Open(path);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("in use by process ", ::getpid())));
  EXPECT_THAT(second.status().message(), HasSubstr(path));
  // The lock is on the file, not its name: a symlink or a hard link to it
  // is refused too (the holder is named when the link's real path leads to
  // the same place).
  const std::string symlink = path + ".symlink";
  const std::string hardlink = path + ".hardlink";
  std::remove(symlink.c_str());
  std::remove(hardlink.c_str());
  ASSERT_EQ(::symlink(path.c_str(), symlink.c_str()), 0);
  ASSERT_EQ(::link(path.c_str(), hardlink.c_str()), 0);
  auto via_symlink = FileAuditLog::Open(symlink);
  EXPECT_EQ(via_symlink.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(via_symlink.status().message(),
              HasSubstr(absl::StrCat("in use by process ", ::getpid())));
  EXPECT_EQ(FileAuditLog::Open(hardlink).status().code(),
            absl::StatusCode::kFailedPrecondition);
  first->reset();
  EXPECT_TRUE(FileAuditLog::Open(path).ok());
  EXPECT_TRUE(FileAuditLog::Open(hardlink).ok());
}

// Freezes and unfreezes replay in order.
TEST(FileAuditLogTest, RecoveryReplaysFreezes) {
  const std::string path = TempPath("freezes");
  {
    auto log = FileAuditLog::Open(path);
    AuditEvent e;
    e.type = AuditEvent::Type::kScopeFrozen;
    e.org_id = "acme";
    e.actor = "admin";
    for (const char* scope : {"agent/a", "agent/b"}) {
      e.scope = scope;
      ASSERT_TRUE((*log)->Append(e).ok());
    }
    e.type = AuditEvent::Type::kScopeUnfrozen;
    e.scope = "agent/a";
    ASSERT_TRUE((*log)->Append(e).ok());
  }
  MemoryFreezeStore freezes;
  ASSERT_TRUE(RestoreFreezesFromAuditFile(path, &freezes).ok());
  absl::StatusOr<std::vector<FrozenScope>> frozen = freezes.List("acme");
  ASSERT_EQ(frozen->size(), 1u);
  EXPECT_EQ((*frozen)[0].scope, "agent/b");
}

// Recovery restores the last state of each record inside the retention.
TEST(FileAuditLogTest, RecoveryRestoresLastState) {
  const std::string path = TempPath("recovery");
  const absl::Time now = absl::FromUnixSeconds(1'777'651'200);
  {
    auto log = FileAuditLog::Open(path);
    ASSERT_TRUE((*log)
                    ->Append(Decided("az_old", AuthorizationStatus::kHeld,
                                     now - absl::Hours(100)))
                    .ok());
    ASSERT_TRUE((*log)
                    ->Append(Decided("az_1", AuthorizationStatus::kHeld,
                                     now - absl::Hours(1)))
                    .ok());
    AuditEvent voided =
        Decided("az_1", AuthorizationStatus::kVoided, now - absl::Hours(1));
    voided.type = AuditEvent::Type::kAuthorizationVoided;
    ASSERT_TRUE((*log)->Append(voided).ok());
    ASSERT_TRUE((*log)
                    ->Append(Decided("az_2", AuthorizationStatus::kHeld,
                                     now - absl::Minutes(1)))
                    .ok());
  }
  MemoryBudgetStore store;
  absl::StatusOr<size_t> n =
      RestoreBudgetsFromAuditFile(path, now, absl::Hours(48), &store);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(store.Get("acme", "az_1")->status, AuthorizationStatus::kVoided);
  EXPECT_EQ(store.Get("acme", "az_2")->status, AuthorizationStatus::kHeld);
  EXPECT_EQ(store.Get("acme", "az_old").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace warden
