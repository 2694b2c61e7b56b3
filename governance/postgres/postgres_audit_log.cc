#include "governance/postgres/postgres_audit_log.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "governance/audit_codec.h"
#include "governance/postgres/pg.h"
#include "governance/status_macros.h"
#include "governance/telemetry.h"

namespace warden {
namespace {

// The indexed columns of a row, all derived from the event. Verification
// recomputes them from the stored body and compares.
struct Columns {
  std::string type, actor, time;
  std::optional<std::string> authorization_id, department_id, agent_id,
      wallet_id, chain, asset, decision, status, created_at;
  std::optional<int64_t> amount_usd, charged_usd, policy_version;
};

Columns ColumnsOf(const AuditEvent& e) {
  Columns c;
  c.type = AuditEventTypeName(e.type);
  c.actor = e.actor;
  c.time = pg::Time(e.time);
  if (e.authorization) {
    const Authorization& a = *e.authorization;
    c.authorization_id = a.id;
    c.department_id = a.department_id;
    c.agent_id = a.agent_id;
    c.wallet_id = a.wallet_id;
    c.chain = a.chain;
    c.asset = a.asset;
    c.decision = DecisionName(a.decision);
    c.status = StatusName(a.status);
    c.created_at = pg::Time(a.created_at);
    c.amount_usd = a.amount_usd;
    c.charged_usd = a.ChargedUsd();
    c.policy_version = a.policy_version;
  } else if (e.type == AuditEvent::Type::kBundleApplied) {
    c.policy_version = e.policy_version;
  }
  return c;
}

PostgresAuditOptions WithGateway(PostgresAuditOptions options) {
  if (options.gateway.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    options.gateway = absl::StrCat(host, ":", ::getpid());
  }
  return options;
}

}  // namespace

PostgresAuditLog::PostgresAuditLog(PostgresAuditOptions options,
                                   std::unique_ptr<Ed25519Signer> signer)
    : options_(WithGateway(std::move(options))),
      signer_(std::move(signer)),
      reads_(options_.url, /*size=*/4) {
  last_checkpoint_ = absl::Now();
  writer_ = std::thread([this] { WriterLoop(); });
  expiry_ = std::thread([this] { ExpiryLoop(); });
}

PostgresAuditLog::~PostgresAuditLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  expiry_.join();
  writer_.join();  // It writes what is queued first.
}

absl::Status PostgresAuditLog::Append(const AuditEvent& event) {
  absl::Status result;
  absl::Notification answered;
  AppendAsync(event, [&](absl::Status st) {
    result = std::move(st);
    answered.Notify();
  });
  answered.WaitForNotification();
  return result;
}

void PostgresAuditLog::AppendAsync(const AuditEvent& event,
                                   std::function<void(absl::Status)> done) {
  absl::StatusOr<std::string> body = EncodeBoundedAuditEvent(event);
  if (!body.ok()) return done(body.status());
  auto p = std::make_unique<Pending>(Pending{
      event, *std::move(body), absl::Now() + AppendBound(), nullptr, {}});
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("audit log is shutting down");
    } else if (queue_.size() >= options_.max_queued) {
      refused = absl::UnavailableError(absl::StrCat(
          "audit log overloaded: ", queue_.size(), " records await commit"));
    } else {
      p->done = std::move(done);
      queue_.push_back(std::move(p));
      return;
    }
  }
  done(std::move(refused));
}

absl::Duration PostgresAuditLog::AppendBound() const {
  return std::min(pg::CallTimeout(), options_.append_timeout);
}

absl::StatusOr<AuditLog::Recording> PostgresAuditLog::Recorded(
    const std::string& org_id, const std::string& authorization_id,
    absl::Time created_at) {
  bool found = false;
  WARDEN_RETURN_IF_ERROR(reads_.Run(
      "audit record lookup",
      [&](pqxx::work& w) {
        found =
            w.exec_params1(
                 "SELECT EXISTS (SELECT 1 FROM audit_events WHERE "
                 "org_id = $1 AND authorization_id = $2 AND type = $3)",
                 org_id, authorization_id,
                 AuditEventTypeName(AuditEvent::Type::kAuthorizationDecided))[0]
                .as<bool>();
      },
      /*read_only=*/true));
  if (found) return Recording::kRecorded;
  // Room for the replicas' clocks to differ: `created_at` is another's.
  return absl::Now() - created_at > LandingBound() + absl::Seconds(5)
             ? Recording::kNever
             : Recording::kInFlight;
}

absl::Duration PostgresAuditLog::LandingBound() const {
  // The append's bound, then a commit's own bound.
  return AppendBound() + pg::CallTimeout();
}

void PostgresAuditLog::Drain() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](PostgresAuditLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
        return self->queue_.empty() && self->answering_ == 0;
      },
      this));
}

void PostgresAuditLog::ExpiryLoop() {
  struct Front {
    PostgresAuditLog* self;
    const Pending* pending;
  };
  while (true) {
    std::vector<std::unique_ptr<Pending>> expired;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && expired.empty()) {
        if (queue_.empty()) {
          mu_.Await(absl::Condition(
              +[](PostgresAuditLog* self)
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
                     return self->stopping_ || !self->queue_.empty();
                   },
              this));
          continue;
        }
        // Queued in order, with one bound: the front expires first.
        Front front{this, queue_.front().get()};
        if (absl::Now() < front.pending->deadline) {
          mu_.AwaitWithDeadline(
              absl::Condition(
                  +[](Front* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(f->self->mu_) {
                    return f->self->stopping_ || f->self->queue_.empty() ||
                           f->self->queue_.front().get() != f->pending;
                  },
                  &front),
              front.pending->deadline);
          continue;
        }
        const absl::Time now = absl::Now();
        while (!queue_.empty() && queue_.front()->deadline <= now) {
          expired.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      if (expired.empty()) return;  // Stopping: the writer takes the rest.
      ++answering_;
    }
    // Never handed to Postgres, so certainly not recorded.
    const absl::Status late = absl::UnavailableError(absl::StrCat(
        "audit log: not written within ", absl::FormatDuration(AppendBound()),
        " (Postgres stalled or unreachable); nothing was recorded"));
    for (auto& p : expired) p->done(late);
    absl::MutexLock lock(&mu_);
    --answering_;
  }
}

void PostgresAuditLog::WriterLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](PostgresAuditLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // Stopping with nothing left.
    }
    // Connect before taking a batch: meanwhile queued records stay
    // expirable, so a slow connect never holds a caller past its bound.
    absl::Status connected = absl::OkStatus();
    if (conn_ == nullptr || !conn_->is_open()) {
      conn_.reset();
      absl::StatusOr<std::unique_ptr<pqxx::connection>> c =
          pg::Connect(options_.url);
      if (c.ok()) {
        conn_ = *std::move(c);
      } else {
        connected = c.status();
      }
    }
    if (connected.ok() && !in_doubt_.empty()) {
      connected = ResolveInDoubt(pg::CallTimeout());
    }
    std::vector<std::unique_ptr<Pending>> taken;
    absl::Time deadline = absl::InfiniteFuture();
    {
      absl::MutexLock lock(&mu_);
      while (!queue_.empty() && taken.size() < options_.batch_max_rows) {
        deadline = std::min(deadline, queue_.front()->deadline);
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (taken.empty()) continue;  // Every record expired meanwhile.
      ++answering_;
    }
    std::vector<Pending*> batch;
    for (auto& p : taken) batch.push_back(p.get());
    const absl::Time start = absl::Now();
    // Within what is left of the earliest record's bound.
    const absl::Status st =
        connected.ok() ? WriteBatch(batch, std::max(deadline - start,
                                                    absl::Milliseconds(1)))
                       : connected;
    ReportAuditCommit(batch.size(), absl::Now() - start, st.ok());
    if (!st.ok()) {
      for (const Pending* p : batch) {
        const std::optional<Authorization>& a = p->event.authorization;
        if (!p->hash.empty() && a.has_value() &&
            p->event.type == AuditEvent::Type::kAuthorizationDecided &&
            a->status == AuthorizationStatus::kHeld) {
          KeepInDoubt({p->hash, p->event, /*compensation=*/false});
        }
      }
    }
    // Outside the lock: a callback may append again.
    for (Pending* p : batch) p->done(st);
    absl::MutexLock lock(&mu_);
    --answering_;
  }
}

void PostgresAuditLog::KeepInDoubt(InDoubt d) {
  if (in_doubt_.size() >= kMaxInDoubt) in_doubt_.pop_front();
  in_doubt_.push_back(std::move(d));
}

absl::Status PostgresAuditLog::ResolveInDoubt(absl::Duration timeout) {
  std::vector<bool> landed(in_doubt_.size(), false);
  WARDEN_RETURN_IF_ERROR(pg::Transact(
      *conn_, "audit in-doubt check",
      [&](pqxx::work& w) {
        for (size_t i = 0; i < in_doubt_.size(); ++i) {
          const InDoubt& d = in_doubt_[i];
          if (d.hash.empty()) continue;
          landed[i] = !w.exec_params(
                            "SELECT 1 FROM audit_events WHERE "
                            "org_id = $1 AND authorization_id = $2 "
                            "AND hash = $3",
                            d.event.org_id, d.event.authorization->id, d.hash)
                           .empty();
        }
      },
      timeout));
  // What the trail is owed: a void for each decision that landed, and each
  // earlier void that did not.
  std::vector<AuditEvent> owed;
  for (size_t i = 0; i < in_doubt_.size(); ++i) {
    InDoubt& d = in_doubt_[i];
    if (d.compensation && !landed[i]) {
      owed.push_back(std::move(d.event));
    } else if (!d.compensation && landed[i]) {
      AuditEvent v = std::move(d.event);
      v.type = AuditEvent::Type::kAuthorizationVoided;
      v.time = absl::Now();
      v.actor =
          "system (audit commit in doubt: its caller was answered "
          "UNAVAILABLE and its hold released)";
      v.authorization->status = AuthorizationStatus::kVoided;
      owed.push_back(std::move(v));
    }
  }
  in_doubt_.clear();
  if (owed.empty()) return absl::OkStatus();
  std::vector<Pending> pending;
  pending.reserve(owed.size());
  for (AuditEvent& e : owed) {
    absl::StatusOr<std::string> body = EncodeBoundedAuditEvent(e);
    if (!body.ok()) continue;  // Bounded when first written; cannot happen.
    pending.push_back(Pending{
        std::move(e), *std::move(body), absl::InfiniteFuture(), nullptr, {}});
  }
  std::vector<Pending*> batch;
  for (Pending& p : pending) batch.push_back(&p);
  const absl::Status st = WriteBatch(batch, timeout);
  if (!st.ok()) {
    for (const Pending& p : pending) {
      KeepInDoubt({p.hash, p.event, /*compensation=*/true});
    }
  }
  return st;
}

absl::Status PostgresAuditLog::WriteBatch(const std::vector<Pending*>& batch,
                                          absl::Duration timeout) {
  for (Pending* p : batch) p->hash.clear();
  std::map<std::string, std::vector<Pending*>> by_org;
  for (Pending* p : batch) by_org[p->event.org_id].push_back(p);
  const bool checkpoint =
      signer_ != nullptr &&
      (since_checkpoint_ + static_cast<int64_t>(batch.size()) >=
           options_.checkpoint_every_records ||
       absl::Now() - last_checkpoint_ >= options_.checkpoint_every);
  absl::Status st = pg::Transact(
      *conn_, "audit append",
      [&](pqxx::work& w) {
        for (const auto& [org, pending] : by_org) {
          w.exec_params(
              "INSERT INTO audit_heads (org_id, seq, hash) VALUES ($1, 0, $2) "
              "ON CONFLICT (org_id) DO NOTHING",
              org, kGenesisHash);
          pqxx::row head = w.exec_params1(
              "SELECT seq, hash FROM audit_heads WHERE org_id = $1 FOR UPDATE",
              org);
          int64_t seq = head[0].as<int64_t>();
          std::string hash = head[1].as<std::string>();
          pqxx::stream_to rows(w, "audit_events",
                               std::vector<std::string>{"org_id",
                                                        "seq",
                                                        "time",
                                                        "type",
                                                        "actor",
                                                        "gateway",
                                                        "authorization_id",
                                                        "department_id",
                                                        "agent_id",
                                                        "wallet_id",
                                                        "chain",
                                                        "asset",
                                                        "decision",
                                                        "status",
                                                        "created_at",
                                                        "amount_usd",
                                                        "charged_usd",
                                                        "policy_version",
                                                        "body",
                                                        "prev_hash",
                                                        "hash"});
          for (Pending* p : pending) {
            const Columns c = ColumnsOf(p->event);
            const std::string prev = hash;
            hash = ChainHash(prev, p->body);
            p->hash = hash;
            rows << std::make_tuple(org, ++seq, c.time, c.type, c.actor,
                                    options_.gateway, c.authorization_id,
                                    c.department_id, c.agent_id, c.wallet_id,
                                    c.chain, c.asset, c.decision, c.status,
                                    c.created_at, c.amount_usd, c.charged_usd,
                                    c.policy_version, p->body, prev, hash);
          }
          rows.complete();
          w.exec_params(
              "UPDATE audit_heads SET seq = $2, hash = $3 "
              "WHERE org_id = $1",
              org, seq, hash);
          if (checkpoint) {
            w.exec_params(
                "INSERT INTO audit_checkpoints (org_id, seq, hash, public_key, "
                "signature, created_at) VALUES ($1, $2, $3, $4, $5, now())",
                org, seq, hash, signer_->PublicKeyHex(),
                signer_->SignHex(CheckpointMessage(org, seq, hash)));
          }
        }
      },
      timeout);
  if (!st.ok()) {
    conn_.reset();  // Its state is unknown; reconnect for the next batch.
    return absl::UnavailableError(st.message());
  }
  since_checkpoint_ += static_cast<int64_t>(batch.size());
  if (checkpoint) {
    since_checkpoint_ = 0;
    last_checkpoint_ = absl::Now();
  }
  return absl::OkStatus();
}

absl::StatusOr<ChainVerification> VerifyAuditChain(const std::string& url,
                                                   const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> c,
                          pg::Connect(url));
  ChainVerification v;
  auto fail = [&](int64_t seq, std::string problem) {
    if (!v.ok) return;
    v.ok = false;
    v.first_bad_seq = seq;
    v.problem = std::move(problem);
  };
  std::map<int64_t, std::string> hashes;  // Only checkpointed seqs kept.
  std::map<int64_t, std::pair<std::string, std::string>> checkpoints;
  WARDEN_RETURN_IF_ERROR(pg::Transact(*c, "verify chain", [&](pqxx::work& w) {
    for (const pqxx::row& r : w.exec_params(
             "SELECT seq, hash, public_key, signature FROM audit_checkpoints "
             "WHERE org_id = $1 ORDER BY seq",
             org_id)) {
      const int64_t seq = r[0].as<int64_t>();
      const std::string hash = r[1].as<std::string>();
      if (!VerifyEd25519(r[2].as<std::string>(),
                         CheckpointMessage(org_id, seq, hash),
                         r[3].as<std::string>())) {
        fail(seq, "checkpoint signature does not verify");
      }
      checkpoints[seq] = {hash, r[2].as<std::string>()};
    }
    // After retention dropped old partitions, the chain resumes after the
    // anchor: the last dropped record's seq and hash.
    int64_t expected = 1;
    std::string prev = kGenesisHash;
    pqxx::result anchor = w.exec_params(
        "SELECT seq, hash FROM audit_anchors WHERE org_id = $1", org_id);
    if (!anchor.empty()) {
      expected = anchor[0][0].as<int64_t>() + 1;
      prev = anchor[0][1].as<std::string>();
    }
    // Read in pages so that memory stays flat on any table size.
    constexpr int kPage = 5000;
    int64_t after = 0;
    while (true) {
      pqxx::result page = w.exec_params(
          "SELECT seq, body, prev_hash, hash, type, actor, "
          "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00'), "
          "authorization_id, agent_id, department_id, wallet_id, chain, asset,"
          " decision, status, amount_usd, charged_usd, policy_version "
          "FROM audit_events WHERE org_id = $1 AND seq > $2 "
          "ORDER BY seq LIMIT $3",
          org_id, std::max(after, expected - 1), kPage);
      for (const pqxx::row& r : page) {
        const int64_t seq = r[0].as<int64_t>();
        const std::string body = r[1].as<std::string>();
        const std::string prev_hash = r[2].as<std::string>();
        const std::string hash = r[3].as<std::string>();
        ++v.records;
        if (seq != expected) {
          fail(expected,
               absl::StrCat("record ", expected, " is missing (deleted)"));
        } else if (prev_hash != prev) {
          fail(seq,
               "does not link to the previous record's hash "
               "(reordered or inserted)");
        } else if (ChainHash(prev_hash, body) != hash) {
          fail(seq, "its body does not match its hash (altered)");
        } else {
          absl::StatusOr<AuditEvent> e = DecodeAuditEvent(body);
          if (!e.ok()) {
            fail(seq,
                 absl::StrCat("body does not decode: ", e.status().message()));
          } else {
            const Columns want = ColumnsOf(*e);
            auto text = [&](int i) {
              return r[i].is_null() ? std::optional<std::string>()
                                    : r[i].as<std::string>();
            };
            auto num = [&](int i) {
              return r[i].is_null() ? std::optional<int64_t>()
                                    : r[i].as<int64_t>();
            };
            if (want.type != r[4].as<std::string>() ||
                want.actor != r[5].as<std::string>() ||
                want.time != r[6].as<std::string>() ||
                want.authorization_id != text(7) || want.agent_id != text(8) ||
                want.department_id != text(9) || want.wallet_id != text(10) ||
                want.chain != text(11) || want.asset != text(12) ||
                want.decision != text(13) || want.status != text(14) ||
                want.amount_usd != num(15) || want.charged_usd != num(16) ||
                want.policy_version != num(17)) {
              fail(seq, "a column disagrees with the hashed body (altered)");
            }
          }
        }
        auto cp = checkpoints.find(seq);
        if (cp != checkpoints.end() && cp->second.first != hash) {
          fail(seq, "differs from its signed checkpoint");
        }
        if (cp != checkpoints.end()) ++v.checkpoints;
        prev = hash;
        expected = std::max(expected, seq) + 1;
        after = seq;
      }
      if (page.size() < static_cast<size_t>(kPage)) break;
    }
    pqxx::result head = w.exec_params(
        "SELECT seq, hash FROM audit_heads WHERE org_id = $1", org_id);
    if (!head.empty()) {
      const int64_t head_seq = head[0][0].as<int64_t>();
      if (head_seq >= expected) {
        fail(expected, absl::StrCat("records ", expected, " to ", head_seq,
                                    " are missing (the chain was truncated)"));
      } else if (head_seq == expected - 1 && head_seq > 0 &&
                 head[0][1].as<std::string>() != prev) {
        fail(head_seq, "differs from the recorded chain head");
      }
    }
    const int64_t dropped_through =
        anchor.empty() ? 0 : anchor[0][0].as<int64_t>();
    for (const auto& [seq, cp] : checkpoints) {
      // Checkpoints of records dropped by retention are expected to dangle.
      if (seq > dropped_through && seq >= expected) {
        fail(seq, "a signed checkpoint names a record that is missing");
      }
    }
  }));
  return v;
}

}  // namespace warden
