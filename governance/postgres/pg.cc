#include "governance/postgres/pg.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "governance/telemetry.h"

namespace warden::pg {

namespace {

// For a URI's query: everything but unreserved characters %-escaped.
std::string PercentEncode(absl::string_view in) {
  std::string out;
  for (const char c : in) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

}  // namespace

std::pair<size_t, size_t> KeywordValue(absl::string_view conninfo,
                                       absl::string_view key) {
  for (size_t at = conninfo.find(key); at != absl::string_view::npos;
       at = conninfo.find(key, at + 1)) {
    if (at > 0 && conninfo[at - 1] != ' ') continue;  // Part of another key.
    size_t v = at + key.size();
    while (v < conninfo.size() && conninfo[v] == ' ') ++v;
    if (v >= conninfo.size() || conninfo[v] != '=') continue;
    ++v;
    while (v < conninfo.size() && conninfo[v] == ' ') ++v;
    size_t end = v;
    if (end < conninfo.size() && conninfo[end] == '\'') {
      for (++end; end < conninfo.size() && conninfo[end] != '\''; ++end) {
        if (conninfo[end] == '\\') ++end;
      }
      end = std::min(end + 1, conninfo.size());
    } else {
      while (end < conninfo.size() && conninfo[end] != ' ') ++end;
    }
    return {v, end};
  }
  return {absl::string_view::npos, absl::string_view::npos};
}

std::string WithTimeouts(const std::string& url, absl::Duration connect,
                         absl::Duration statement) {
  const std::string connect_s = absl::StrCat(std::max<int64_t>(
      2, absl::ToInt64Seconds(absl::Ceil(connect, absl::Seconds(1)))));
  const std::string statement_option = absl::StrCat(
      "-c statement_timeout=", absl::ToInt64Milliseconds(statement));
  // The URL's own options replace PGOPTIONS in libpq, so they are kept.
  const char* env = std::getenv("PGOPTIONS");
  const std::string own_options =
      env == nullptr || *env == '\0' ? "" : absl::StrCat(env, " ");
  if (absl::StartsWith(url, "postgresql://") ||
      absl::StartsWith(url, "postgres://")) {
    const size_t q = url.find('?');
    std::vector<std::string> params;
    if (q != std::string::npos) {
      params = absl::StrSplit(url.substr(q + 1), '&', absl::SkipEmpty());
    }
    bool has_connect = false, has_options = false;
    for (std::string& p : params) {
      has_connect |= absl::StartsWith(p, "connect_timeout=");
      if (absl::StartsWith(p, "options=")) {
        has_options = true;
        absl::StrAppend(&p, "%20", PercentEncode(statement_option));
      }
    }
    if (!has_connect) params.push_back("connect_timeout=" + connect_s);
    if (!has_options) {
      params.push_back("options=" +
                       PercentEncode(own_options + statement_option));
    }
    return absl::StrCat(url.substr(0, q), "?", absl::StrJoin(params, "&"));
  }
  std::string out = url;
  if (KeywordValue(out, "connect_timeout").first == std::string::npos) {
    absl::StrAppend(&out, " connect_timeout=", connect_s);
  }
  const auto [value, end] = KeywordValue(out, "options");
  if (value == std::string::npos) {
    std::string quoted = own_options + statement_option;
    quoted = absl::StrReplaceAll(quoted, {{"\\", "\\\\"}, {"'", "\\'"}});
    absl::StrAppend(&out, " options='", quoted, "'");
  } else if (out[value] == '\'') {
    out.insert(end - 1, " " + statement_option);
  } else {
    out.replace(value, end - value,
                absl::StrCat("'", out.substr(value, end - value), " ",
                             statement_option, "'"));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(
    const std::string& url) {
  try {
    return std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("postgres connect: ", e.what()));
  }
}

namespace {

std::atomic<int64_t> call_timeout_ms{31000};

// Shuts down the socket of a call that outlived its deadline, which makes
// libpq's blocked read or write return an error at once. It works on its own
// duplicate of the descriptor, so the socket stays the same object whatever
// libpq does with its own descriptor meanwhile (closing it, say, after which
// the number could name another socket).
class Watchdog {
 public:
  static Watchdog& Get() {
    static Watchdog* dog = new Watchdog;  // Never destroyed: no exit race.
    return *dog;
  }

  uint64_t Arm(int fd, absl::Time deadline) {
    const int own = fd < 0 ? -1 : ::dup(fd);
    absl::MutexLock lock(&mu_);
    const uint64_t id = ++next_id_;
    armed_.emplace(id, Entry{own, deadline});
    wake_.Signal();  // Its deadline may come first.
    return id;
  }
  // Whether the deadline fired (the socket is shut down).
  bool Disarm(uint64_t id) {
    absl::MutexLock lock(&mu_);
    auto it = armed_.find(id);
    const bool fired = it->second.fired;
    if (it->second.fd >= 0) ::close(it->second.fd);
    armed_.erase(it);
    return fired;
  }

 private:
  struct Entry {
    int fd;
    absl::Time deadline;
    bool fired = false;
  };

  Watchdog() {
    std::thread([this] { Run(); }).detach();
  }

  void Run() {
    absl::MutexLock lock(&mu_);
    while (true) {
      absl::Time next = absl::InfiniteFuture();
      const absl::Time now = absl::Now();
      for (auto& [id, e] : armed_) {
        if (e.fired || e.fd < 0) continue;
        if (now >= e.deadline) {
          ::shutdown(e.fd, SHUT_RDWR);
          e.fired = true;
        } else {
          next = std::min(next, e.deadline);
        }
      }
      wake_.WaitWithDeadline(&mu_, next);
    }
  }

  absl::Mutex mu_;
  absl::CondVar wake_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, Entry> armed_ ABSL_GUARDED_BY(mu_);
};

// Transact without the telemetry.
absl::Status TransactOnce(pqxx::connection& c, absl::string_view op,
                          const std::function<void(pqxx::work&)>& fn) {
  try {
    pqxx::work w(c);
    fn(w);
    w.commit();
    return absl::OkStatus();
  } catch (const Refused& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("postgres ", op, ": ", e.what()));
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(
        absl::StrCat("postgres ", op, ": ", e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnavailableError(
        absl::StrCat("postgres ", op, ": ", e.what()));
  } catch (const pqxx::sql_error& e) {
    // An admin shutdown or a lost server also arrives as an SQL error.
    const std::string state = e.sqlstate();
    if (state.rfind("57", 0) == 0 || state.rfind("08", 0) == 0) {
      return absl::UnavailableError(
          absl::StrCat("postgres ", op, ": ", e.what()));
    }
    return absl::InternalError(absl::StrCat("postgres ", op, ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("postgres ", op, ": ", e.what()));
  }
}

}  // namespace

void SetCallTimeout(absl::Duration timeout) {
  call_timeout_ms = absl::ToInt64Milliseconds(timeout);
}

absl::Duration CallTimeout() {
  return absl::Milliseconds(call_timeout_ms.load());
}

std::string Time(absl::Time t) {
  if (t == absl::InfinitePast()) return "-infinity";
  if (t == absl::InfiniteFuture()) return "infinity";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

absl::Status Transact(pqxx::connection& c, absl::string_view op,
                      const std::function<void(pqxx::work&)>& fn,
                      absl::Duration timeout) {
  const absl::Time start = absl::Now();
  const uint64_t armed = Watchdog::Get().Arm(c.sock(), start + timeout);
  absl::Status st = TransactOnce(c, op, fn);
  if (Watchdog::Get().Disarm(armed) && !st.ok()) {
    st = absl::UnavailableError(absl::StrCat(
        "postgres ", op, ": no answer within ", absl::FormatDuration(timeout),
        " (server stalled or unreachable); the connection was closed"));
  }
  // A refusal is an answer, not a backend failure.
  ReportBackendCall("postgres", op, absl::Now() - start,
                    st.ok() || absl::IsFailedPrecondition(st));
  return st;
}

absl::Status Session::Run(absl::string_view op,
                          const std::function<void(pqxx::work&)>& fn,
                          bool read_only) {
  const absl::Duration timeout = CallTimeout();
  const absl::Time deadline = absl::Now() + timeout;
  std::unique_ptr<pqxx::connection> conn;
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !free_.empty();
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&available), deadline)) {
      return absl::UnavailableError(
          absl::StrCat("postgres ", op, ": no connection free within ",
                       absl::FormatDuration(timeout), " (server stalled?)"));
    }
    conn = std::move(free_.back());
    free_.pop_back();
  }
  absl::Status st;
  // A kept connection may have died with a server restart; a read on it
  // is run again once on a new one.
  for (int attempt = read_only && conn != nullptr ? 2 : 1; attempt > 0;
       --attempt) {
    if (conn == nullptr || !conn->is_open()) {
      conn.reset();
      attempt = 1;  // A new connection's failure is the answer.
      absl::StatusOr<std::unique_ptr<pqxx::connection>> c = Connect(url_);
      if (!c.ok()) {
        st = c.status();
        break;
      }
      conn = *std::move(c);
    }
    st = Transact(*conn, op, fn,
                  std::max(deadline - absl::Now(), absl::Milliseconds(1)));
    if (!absl::IsUnavailable(st)) break;
    conn.reset();
  }
  absl::MutexLock lock(&mu_);
  free_.push_back(std::move(conn));
  return st;
}

}  // namespace warden::pg
