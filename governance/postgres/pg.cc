#include "governance/postgres/pg.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "governance/telemetry.h"

namespace warden::pg {

std::string WithTimeouts(const std::string& url, absl::Duration connect,
                         absl::Duration statement) {
  const int64_t connect_s = std::max<int64_t>(
      2, absl::ToInt64Seconds(absl::Ceil(connect, absl::Seconds(1))));
  const int64_t statement_ms = absl::ToInt64Milliseconds(statement);
  if (absl::StartsWith(url, "postgresql://") ||
      absl::StartsWith(url, "postgres://")) {
    return absl::StrCat(url, url.find('?') == std::string::npos ? "?" : "&",
                        "connect_timeout=", connect_s,
                        "&options=-c%20statement_timeout%3D", statement_ms);
  }
  return absl::StrCat(url, " connect_timeout=", connect_s,
                      " options='-c statement_timeout=", statement_ms, "'");
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

absl::Status Transact(pqxx::connection& c, absl::string_view op,
                      const std::function<void(pqxx::work&)>& fn) {
  const absl::Time start = absl::Now();
  absl::Status st = TransactOnce(c, op, fn);
  // A refusal is an answer, not a backend failure.
  ReportBackendCall("postgres", op, absl::Now() - start,
                    st.ok() || absl::IsFailedPrecondition(st));
  return st;
}

absl::Status Session::Run(absl::string_view op,
                          const std::function<void(pqxx::work&)>& fn) {
  absl::MutexLock lock(&mu_);
  if (conn_ == nullptr || !conn_->is_open()) {
    conn_.reset();
    absl::StatusOr<std::unique_ptr<pqxx::connection>> c = Connect(url_);
    if (!c.ok()) return c.status();
    conn_ = *std::move(c);
  }
  absl::Status st = Transact(*conn_, op, fn);
  if (absl::IsUnavailable(st)) conn_.reset();
  return st;
}

}  // namespace warden::pg
