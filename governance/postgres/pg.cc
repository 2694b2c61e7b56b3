#include "governance/postgres/pg.h"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
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
