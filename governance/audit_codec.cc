#include "governance/audit_codec.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "governance/notification.h"
#include "nlohmann/json.hpp"

namespace warden {
namespace {

using Json = nlohmann::json;

// Text from outside (a vendor's error, a node's message) may not be valid
// UTF-8: it is written with U+FFFD in place of the bad bytes, never refused.
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

constexpr const char* kTimeFormat = "%Y-%m-%d%ET%H:%M:%E9SZ";

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone());
}

const char* ExpiredHoldsName(ExpiredHolds e) {
  return e == ExpiredHolds::kCount ? "count" : "release";
}

// Writes one JSON object straight into a string, in the exact bytes
// nlohmann's dump gives for the same object (keys sorted as std::map sorts
// them, no spaces, invalid UTF-8 replaced), without building a tree: the
// records on the hot path are encoded this way. Callers add keys in sorted
// order (audit_codec_test checks every encoding against a parse and dump).
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string* out) : out_(out) { out_->push_back('{'); }
  ~ObjectWriter() { out_->push_back('}'); }
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;

  void Str(absl::string_view key, absl::string_view value) {
    Key(key);
    AppendString(value);
  }
  void Int(absl::string_view key, int64_t value) {
    Key(key);
    absl::StrAppend(out_, value);
  }
  void Bool(absl::string_view key, bool value) {
    Key(key);
    out_->append(value ? "true" : "false");
  }
  void Strs(absl::string_view key, const std::vector<std::string>& values) {
    Key(key);
    out_->push_back('[');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out_->push_back(',');
      AppendString(values[i]);
    }
    out_->push_back(']');
  }
  // An array of objects, each written by fn(writer, element).
  template <typename T, typename Fn>
  void Objects(absl::string_view key, const std::vector<T>& values, Fn fn) {
    Key(key);
    out_->push_back('[');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out_->push_back(',');
      ObjectWriter element(out_);
      fn(element, values[i]);
    }
    out_->push_back(']');
  }
  // A nested object, written by fn(writer).
  template <typename Fn>
  void Object(absl::string_view key, Fn fn) {
    Key(key);
    ObjectWriter nested(out_);
    fn(nested);
  }

 private:
  void Key(absl::string_view key) {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->push_back('"');
    out_->append(key.data(), key.size());  // This file's literals.
    out_->append("\":");
  }
  void AppendString(absl::string_view value) {
    // Printable ASCII but `"` and `\` needs no escaping; anything else goes
    // through nlohmann, which escapes and replaces invalid UTF-8.
    for (const char c : value) {
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
        out_->append(Dump(Json(std::string(value))));
        return;
      }
    }
    out_->push_back('"');
    out_->append(value.data(), value.size());
    out_->push_back('"');
  }

  std::string* out_;
  bool first_ = true;
};

void WriteViolation(ObjectWriter& o, const Violation& v) {
  o.Str("code", v.code);
  o.Str("limit", v.limit);
  if (v.limit_count) o.Int("limit_count", *v.limit_count);
  if (v.limit_usd) o.Str("limit_usd", FormatUsdDecimal(*v.limit_usd));
  o.Str("message", v.message);
  if (!v.pending.empty()) o.Str("pending", v.pending);
  o.Str("remaining", v.remaining);
  o.Str("requested", v.requested);
  o.Str("scope", v.scope);
  o.Str("spent", v.spent);
  o.Str("window", v.window);
}

void WriteVote(ObjectWriter& o, const ApprovalVote& v) {
  o.Bool("approve", v.approve);
  o.Str("approver", v.approver);
  o.Str("at", FormatRfc3339(v.at));
  o.Str("comment", v.comment);
}

void WriteAuthorization(ObjectWriter& o, const Authorization& a) {
  o.Str("agent_id", a.agent_id);
  o.Str("amount", FormatBaseUnits(a.amount));
  o.Str("amount_usd", FormatUsdDecimal(a.amount_usd));
  if (!a.anomalies.empty()) o.Strs("anomalies", a.anomalies);
  // Tier fields only when used, so records without them encode as before.
  if (a.approvals_required > 0) {
    o.Int("approvals_required", a.approvals_required);
    o.Strs("approvers", a.approvers);
  }
  o.Str("asset", a.asset);
  // Call fields only for calls, so transfers encode as before.
  if (!a.contract.empty()) o.Str("calldata_hash", a.calldata_hash);
  o.Str("chain", a.chain);
  if (!a.contract.empty()) o.Str("contract", a.contract);
  o.Str("created_at", FormatRfc3339(a.created_at));
  o.Str("decision", DecisionName(a.decision));
  o.Str("department_id", a.department_id);
  o.Str("destination", a.destination);
  o.Bool("expired_counted", a.expired_counted);
  o.Str("hold_expires_at", FormatRfc3339(a.hold_expires_at));
  o.Str("id", a.id);
  o.Str("idempotency_key", a.idempotency_key);
  o.Str("memo", a.memo);
  if (!a.contract.empty()) o.Str("method", a.method);
  o.Str("on_expiry", ExpiredHoldsName(a.on_expiry));
  o.Str("org_id", a.org_id);
  o.Int("policy_version", a.policy_version);
  // Live prices only, so fixed-price records encode as before.
  if (!a.price_source.empty()) {
    o.Str("price_at", FormatRfc3339(a.price_at));
    o.Str("price_source", a.price_source);
  }
  o.Str("price_usd", a.price_usd);
  o.Str("reason", a.reason);
  if (a.release_at != absl::InfinitePast()) {
    o.Str("release_at", FormatRfc3339(a.release_at));
  }
  if (!a.scope_path.empty()) o.Strs("scopes", a.scope_path);
  if (a.settled_amount) {
    o.Str("settled_amount", FormatBaseUnits(*a.settled_amount));
    o.Str("settled_usd", FormatUsdDecimal(a.settled_usd));
  }
  o.Str("status", StatusName(a.status));
  if (!a.traceparent.empty()) o.Str("traceparent", a.traceparent);
  if (a.settled_amount) o.Str("tx_hash", a.tx_hash);
  o.Objects("violations", a.violations, WriteViolation);
  // A DELAYED spend needs no approvers, yet a rejection cancels it: its
  // votes say who did.
  if (a.approvals_required > 0 || !a.votes.empty()) {
    o.Objects("votes", a.votes, WriteVote);
  }
  o.Str("wallet_id", a.wallet_id);
  // x402 payments only, so other records encode as before.
  if (!a.x402_resource.empty()) o.Str("x402_resource", a.x402_resource);
}

// Reads fields out of a JSON object, remembering the first problem.
class Reader {
 public:
  Reader(const Json& j, std::string path) : j_(j), path_(std::move(path)) {}

  std::string Str(const char* key) {
    const Json* v = Find(key);
    if (v == nullptr) return "";
    if (!v->is_string()) return Fail(key, "must be a string"), "";
    return v->get<std::string>();
  }
  int64_t Int(const char* key) {
    const Json* v = Find(key);
    if (v == nullptr) return 0;
    if (!v->is_number_integer()) return Fail(key, "must be an integer"), 0;
    return v->get<int64_t>();
  }
  bool Bool(const char* key) {
    const Json* v = Find(key);
    if (v == nullptr) return false;
    if (!v->is_boolean()) return Fail(key, "must be a boolean"), false;
    return v->get<bool>();
  }
  absl::Time Time(const char* key) {
    const std::string s = Str(key);
    absl::Time t;
    std::string err;
    if (status_.ok() && !absl::ParseTime(kTimeFormat, s, &t, &err)) {
      Fail(key, err);
    }
    return t;
  }
  UsdMicros Usd(const char* key) {
    const std::string s = Str(key);
    if (!status_.ok()) return 0;
    const bool negative = !s.empty() && s[0] == '-';
    absl::StatusOr<UsdMicros> v = ParseUsd(negative ? s.substr(1) : s);
    if (!v.ok()) return Fail(key, v.status().message()), 0;
    return negative ? -*v : *v;
  }
  absl::uint128 Units(const char* key) {
    const std::string s = Str(key);
    if (!status_.ok()) return 0;
    absl::StatusOr<absl::uint128> v = ParseBaseUnits(s);
    if (!v.ok()) return Fail(key, v.status().message()), 0;
    return *v;
  }
  bool Has(const char* key) const { return j_.contains(key); }
  // An array of strings; empty (and a failure) when it is not one.
  std::vector<std::string> Strs(const char* key) {
    std::vector<std::string> out;
    const Json* list = Find(key);
    if (list == nullptr) return out;
    if (!list->is_array()) {
      Fail(key, "must be an array");
      return out;
    }
    for (const Json& item : *list) {
      if (!item.is_string()) {
        Fail(key, "must hold strings");
        return {};
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  const Json* Find(const char* key) {
    if (!status_.ok()) return nullptr;
    auto it = j_.find(key);
    if (it == j_.end()) return Fail(key, "is missing"), nullptr;
    return &*it;
  }
  void Fail(const char* key, absl::string_view problem) {
    if (status_.ok()) {
      status_ =
          absl::InvalidArgumentError(absl::StrCat(path_, key, ": ", problem));
    }
  }
  const absl::Status& status() const { return status_; }
  void Merge(const absl::Status& s) {
    if (status_.ok()) status_ = s;
  }

 private:
  const Json& j_;
  std::string path_;
  absl::Status status_;
};

template <typename Enum, size_t N>
Enum FromName(Reader& r, const char* key, const std::string& name,
              const std::pair<const char*, Enum> (&table)[N]) {
  for (const auto& [n, e] : table) {
    if (name == n) return e;
  }
  r.Fail(key, absl::StrCat("unknown value \"", name, "\""));
  return table[0].second;
}

// Reads a vote through `r`, a reader over the vote's object.
ApprovalVote DecodeVote(Reader& r) {
  ApprovalVote v;
  v.approver = r.Str("approver");
  v.approve = r.Bool("approve");
  v.comment = r.Str("comment");
  v.at = r.Time("at");
  return v;
}

absl::StatusOr<Authorization> AuthorizationFromJson(const Json& j) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError("authorization: must be an object");
  }
  Reader r(j, "authorization.");
  Authorization a;
  a.id = r.Str("id");
  a.org_id = r.Str("org_id");
  a.department_id = r.Str("department_id");
  a.agent_id = r.Str("agent_id");
  a.wallet_id = r.Str("wallet_id");
  a.chain = r.Str("chain");
  a.asset = r.Str("asset");
  a.amount = r.Units("amount");
  a.amount_usd = r.Usd("amount_usd");
  if (r.Has("anomalies")) a.anomalies = r.Strs("anomalies");
  a.price_usd = r.Str("price_usd");
  if (r.Has("price_source")) {
    a.price_source = r.Str("price_source");
    a.price_at = r.Time("price_at");
  }
  a.destination = r.Str("destination");
  if (r.Has("contract")) {
    a.contract = r.Str("contract");
    a.method = r.Str("method");
    a.calldata_hash = r.Str("calldata_hash");
  }
  a.memo = r.Str("memo");
  a.idempotency_key = r.Str("idempotency_key");
  if (r.Has("traceparent")) a.traceparent = r.Str("traceparent");
  if (r.Has("x402_resource")) a.x402_resource = r.Str("x402_resource");
  static constexpr std::pair<const char*, Decision> kDecisions[] = {
      {"UNSPECIFIED", Decision::kUnspecified},
      {"ALLOW", Decision::kAllow},
      {"DENY", Decision::kDeny},
      {"PENDING_APPROVAL", Decision::kPendingApproval},
      {"DELAYED", Decision::kDelayed}};
  a.decision = FromName(r, "decision", r.Str("decision"), kDecisions);
  static constexpr std::pair<const char*, AuthorizationStatus> kStatuses[] = {
      {"DENIED", AuthorizationStatus::kDenied},
      {"HELD", AuthorizationStatus::kHeld},
      {"SETTLED", AuthorizationStatus::kSettled},
      {"VOIDED", AuthorizationStatus::kVoided},
      {"EXPIRED", AuthorizationStatus::kExpired}};
  a.status = FromName(r, "status", r.Str("status"), kStatuses);
  a.reason = r.Str("reason");
  if (const Json* vs = r.Find("violations")) {
    if (!vs->is_array()) r.Fail("violations", "must be an array");
    for (size_t i = 0; r.status().ok() && i < vs->size(); ++i) {
      const Json& vj = (*vs)[i];
      if (!vj.is_object()) {
        r.Fail("violations", "must hold objects");
        break;
      }
      Reader vr(vj, absl::StrCat("authorization.violations[", i, "]."));
      Violation v;
      v.code = vr.Str("code");
      v.scope = vr.Str("scope");
      v.limit = vr.Str("limit");
      v.window = vr.Str("window");
      v.spent = vr.Str("spent");
      v.requested = vr.Str("requested");
      v.remaining = vr.Str("remaining");
      v.message = vr.Str("message");
      if (vr.Has("limit_usd")) v.limit_usd = vr.Usd("limit_usd");
      if (vr.Has("limit_count")) v.limit_count = vr.Int("limit_count");
      if (vr.Has("pending")) v.pending = vr.Str("pending");
      r.Merge(vr.status());
      a.violations.push_back(std::move(v));
    }
  }
  a.policy_version = r.Int("policy_version");
  static constexpr std::pair<const char*, ExpiredHolds> kOnExpiry[] = {
      {"count", ExpiredHolds::kCount}, {"release", ExpiredHolds::kRelease}};
  a.on_expiry = FromName(r, "on_expiry", r.Str("on_expiry"), kOnExpiry);
  a.created_at = r.Time("created_at");
  a.hold_expires_at = r.Time("hold_expires_at");
  a.expired_counted = r.Bool("expired_counted");
  if (r.Has("release_at")) a.release_at = r.Time("release_at");
  if (r.Has("approvals_required")) {
    a.approvals_required = static_cast<int>(r.Int("approvals_required"));
    a.approvers = r.Strs("approvers");
  }
  if (r.Has("scopes")) a.scope_path = r.Strs("scopes");
  if (r.Has("votes")) {
    if (const Json* votes = r.Find("votes")) {
      if (!votes->is_array()) r.Fail("votes", "must be an array");
      for (size_t i = 0; r.status().ok() && i < votes->size(); ++i) {
        if (!(*votes)[i].is_object()) {
          r.Fail("votes", "must hold objects");
          break;
        }
        Reader vr((*votes)[i], absl::StrCat("authorization.votes[", i, "]."));
        a.votes.push_back(DecodeVote(vr));
        r.Merge(vr.status());
      }
    }
  }
  if (r.Has("settled_amount")) {
    a.settled_amount = r.Units("settled_amount");
    a.settled_usd = r.Usd("settled_usd");
    a.tx_hash = r.Str("tx_hash");
  }
  if (!r.status().ok()) return r.status();
  return a;
}

constexpr std::pair<const char*, AuditEvent::Type> kEventTypes[] = {
    {"authorization.decided", AuditEvent::Type::kAuthorizationDecided},
    {"authorization.settled", AuditEvent::Type::kAuthorizationSettled},
    {"authorization.voided", AuditEvent::Type::kAuthorizationVoided},
    {"authorization.expired", AuditEvent::Type::kAuthorizationExpired},
    {"authorization.voted", AuditEvent::Type::kAuthorizationVoted},
    {"bundle.applied", AuditEvent::Type::kBundleApplied},
    {"scope.frozen", AuditEvent::Type::kScopeFrozen},
    {"scope.unfrozen", AuditEvent::Type::kScopeUnfrozen},
    {"access.denied", AuditEvent::Type::kAccessDenied},
    {"token.created", AuditEvent::Type::kTokenCreated},
    {"token.revoked", AuditEvent::Type::kTokenRevoked},
    {"operation.updated", AuditEvent::Type::kOperationUpdated},
    {"wallet.vendor_freeze", AuditEvent::Type::kVendorFreeze},
    {"reconcile.finding", AuditEvent::Type::kReconcileFinding},
    {"bundle.change", AuditEvent::Type::kPolicyChange},
    {"bundle.not_applied", AuditEvent::Type::kBundleNotApplied}};

}  // namespace

std::string ValidUtf8(absl::string_view text) {
  return Json::parse(Dump(Json(std::string(text)))).get<std::string>();
}

std::string EncodeAuthorization(const Authorization& a) {
  std::string out;
  {
    ObjectWriter o(&out);
    WriteAuthorization(o, a);
  }
  return out;
}

absl::StatusOr<Authorization> DecodeAuthorization(absl::string_view json) {
  Json j = Json::parse(json.begin(), json.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError("authorization: not valid JSON");
  }
  return AuthorizationFromJson(j);
}

const char* AuditEventTypeName(AuditEvent::Type type) {
  for (const auto& [name, t] : kEventTypes) {
    if (t == type) return name;
  }
  return "unknown";
}

std::string EncodeNotification(const Notification& n) {
  std::string out;
  {
    ObjectWriter o(&out);
    o.Str("actor", n.actor);
    o.Object("authorization",
             [&](ObjectWriter& a) { WriteAuthorization(a, n.authorization); });
    o.Str("event", n.event);
    const bool breach = n.event == "budget.breach";
    if (breach) o.Int("folded", n.folded);
    o.Str("id", n.id);
    if (n.limit) {
      o.Object("limit", [&](ObjectWriter& v) { WriteViolation(v, *n.limit); });
    }
    o.Str("message", n.message);
    o.Str("org_id", n.org_id);
    if (n.event == "budget.threshold") {
      o.Int("threshold_percent", n.threshold_percent);
    }
    o.Str("time", FormatRfc3339(n.time));
  }
  return out;
}

std::string EncodeApprovalVote(const ApprovalVote& v) {
  std::string out;
  {
    ObjectWriter o(&out);
    WriteVote(o, v);
  }
  return out;
}

absl::StatusOr<ApprovalVote> DecodeApprovalVote(absl::string_view json) {
  Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("vote: not an object");
  Reader r(j, "vote.");
  ApprovalVote v = DecodeVote(r);
  if (!r.status().ok()) return r.status();
  return v;
}

namespace {

// The event types whose only field beyond the common ones is `reason`.
bool HasReasonOnly(AuditEvent::Type type) {
  return type == AuditEvent::Type::kAccessDenied ||
         type == AuditEvent::Type::kTokenCreated ||
         type == AuditEvent::Type::kTokenRevoked ||
         type == AuditEvent::Type::kOperationUpdated ||
         type == AuditEvent::Type::kVendorFreeze ||
         type == AuditEvent::Type::kReconcileFinding ||
         type == AuditEvent::Type::kPolicyChange ||
         type == AuditEvent::Type::kBundleNotApplied;
}

}  // namespace

std::string EncodeAuditEvent(const AuditEvent& event) {
  using Type = AuditEvent::Type;
  const Type type = event.type;
  const bool frozen =
      type == Type::kScopeFrozen || type == Type::kScopeUnfrozen;
  const bool vendor = type == Type::kVendorFreeze;
  std::string out;
  out.reserve(1024);
  {
    ObjectWriter o(&out);
    o.Str("actor", event.actor);
    if (event.authorization) {
      o.Object("authorization", [&](ObjectWriter& a) {
        WriteAuthorization(a, *event.authorization);
      });
    }
    if (frozen) o.Bool("decommissioned", event.decommissioned);
    if (type == Type::kBundleApplied) o.Strs("diff", event.diff);
    o.Str("org_id", event.org_id);
    if (type == Type::kBundleApplied) {
      o.Int("policy_version", event.policy_version);
    }
    if (frozen || HasReasonOnly(type)) o.Str("reason", event.reason);
    if (vendor && !event.vendor_restore.empty()) {
      o.Str("restore", event.vendor_restore);
    }
    if (frozen || (vendor && !event.scope.empty())) {
      o.Str("scope", event.scope);
    }
    o.Str("time", FormatRfc3339(event.time));
    o.Str("type", AuditEventTypeName(type));
    if (vendor && event.vendor_frozen) {
      o.Bool("vendor_frozen", *event.vendor_frozen);
    }
  }
  return out;
}

absl::StatusOr<std::string> EncodeBoundedAuditEvent(const AuditEvent& event) {
  std::string body = EncodeAuditEvent(event);
  if (body.size() > kMaxAuditRecordBytes) {
    return absl::InternalError(absl::StrCat(
        "audit record of ", body.size(), " bytes exceeds the bound of ",
        kMaxAuditRecordBytes, " (", AuditEventTypeName(event.type), ")"));
  }
  return body;
}

absl::StatusOr<AuditEvent> DecodeAuditEvent(absl::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("audit event: not a JSON object");
  }
  Reader r(j, "");
  AuditEvent event;
  event.type = FromName(r, "type", r.Str("type"), kEventTypes);
  event.time = r.Time("time");
  event.org_id = r.Str("org_id");
  event.actor = r.Str("actor");
  if (r.status().ok() && j.contains("authorization")) {
    absl::StatusOr<Authorization> a = AuthorizationFromJson(j["authorization"]);
    if (!a.ok()) return a.status();
    event.authorization = *std::move(a);
  }
  if (event.type == AuditEvent::Type::kBundleApplied) {
    event.policy_version = r.Int("policy_version");
    const Json* diff = r.Find("diff");
    if (diff != nullptr) {
      if (!diff->is_array()) {
        r.Fail("diff", "must be an array");
      } else {
        for (const Json& line : *diff) {
          if (!line.is_string()) {
            r.Fail("diff", "must hold strings");
            break;
          }
          event.diff.push_back(line.get<std::string>());
        }
      }
    }
  }
  if (event.type == AuditEvent::Type::kScopeFrozen ||
      event.type == AuditEvent::Type::kScopeUnfrozen) {
    event.scope = r.Str("scope");
    event.reason = r.Str("reason");
    event.decommissioned = r.Bool("decommissioned");
  }
  if (HasReasonOnly(event.type)) event.reason = r.Str("reason");
  // Optional: records written before wallets' vendor state was kept lack
  // them.
  if (event.type == AuditEvent::Type::kVendorFreeze) {
    if (r.Has("scope")) event.scope = r.Str("scope");
    if (r.Has("vendor_frozen")) event.vendor_frozen = r.Bool("vendor_frozen");
    if (r.Has("restore")) event.vendor_restore = r.Str("restore");
  }
  if (!r.status().ok()) return r.status();
  return event;
}

}  // namespace warden
