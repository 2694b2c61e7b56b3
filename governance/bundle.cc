#include "governance/bundle.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "governance/address.h"
#include "governance/audit_chain.h"
#include "governance/calldata.h"
#include "governance/explain.h"
#include "governance/quote.h"
#include "governance/x402.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/parser.h"
#include "yaml-cpp/yaml.h"

namespace warden {

namespace {

constexpr size_t kMaxIdLength = 64;
constexpr size_t kMaxErrors = 50;
const std::set<std::string>& Vendors() {
  static const auto* vendors =
      new std::set<std::string>{"local", "metamask", "cdp", "privy"};
  return *vendors;
}

// The bundle's YAML, event by event: refuses anchors and aliases (a policy
// needs none, and aliases expand exponentially: a 2 KB "billion laughs"
// pins a core), duplicate keys (YAML tools disagree on which one wins, so a
// reviewer could read a different policy from the one enforced), a second
// document (it would be ignored), keys that are not plain scalars, nesting
// deeper than kMaxBundleDepth and more than kMaxBundleNodes nodes.
class YamlShape final : public YAML::EventHandler {
 public:
  absl::Status status() const { return status_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) Fail(mark, "a second YAML document is not allowed");
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Node(mark, anchor, nullptr);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    Fail(mark, "aliases (*name) are not allowed");
  }
  void OnScalar(const YAML::Mark& mark, const std::string&,
                YAML::anchor_t anchor, const std::string& value) override {
    Node(mark, anchor, &value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&,
                       YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Node(mark, anchor, nullptr);
    Open(mark, false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&,
                  YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    Node(mark, anchor, nullptr);
    Open(mark, true);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Level {
    bool map;
    bool expect_key;  // For a map: the next node is a key.
    std::set<std::string> keys;
  };

  void Fail(const YAML::Mark& mark, absl::string_view problem) {
    if (!status_.ok()) return;
    status_ = absl::InvalidArgumentError(
        absl::StrCat("bundle: line ", mark.line + 1, ", column ",
                     mark.column + 1, ": ", problem));
  }
  // Every node; `scalar` is its text when it is one.
  void Node(const YAML::Mark& mark, YAML::anchor_t anchor,
            const std::string* scalar) {
    if (anchor != YAML::NullAnchor) {
      Fail(mark, "anchors (&name) are not allowed");
    }
    if (++nodes_ > kMaxBundleNodes) {
      Fail(mark, absl::StrCat("more than ", kMaxBundleNodes, " nodes"));
    }
    if (levels_.empty() || !levels_.back().map) return;
    Level& level = levels_.back();
    const bool key = level.expect_key;
    level.expect_key = !key;
    if (!key) return;
    if (scalar == nullptr) {
      Fail(mark, "a key must be a plain value");
    } else if (!level.keys.insert(*scalar).second) {
      Fail(mark, absl::StrCat("duplicate key ", Quote(*scalar)));
    }
  }
  void Open(const YAML::Mark& mark, bool map) {
    if (static_cast<int>(levels_.size()) >= kMaxBundleDepth) {
      Fail(mark,
           absl::StrCat("nested deeper than ", kMaxBundleDepth, " levels"));
    }
    levels_.push_back({map, true, {}});
  }
  void Close() {
    if (!levels_.empty()) levels_.pop_back();
  }

  absl::Status status_;
  int documents_ = 0;
  int64_t nodes_ = 0;
  std::vector<Level> levels_;
};

absl::Status CheckYamlShape(absl::string_view text) {
  std::istringstream in{std::string(text)};
  YamlShape shape;
  try {
    YAML::Parser parser(in);
    while (shape.status().ok() && parser.HandleNextDocument(shape)) {
    }
  } catch (const YAML::DeepRecursion&) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bundle: nested deeper than ", kMaxBundleDepth, " levels"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle: not valid YAML at line ", e.mark.line + 1,
                     ", column ", e.mark.column + 1, ": ", e.msg));
  }
  return shape.status();
}

// Whether `name` is shaped like an IANA zone name ("UTC",
// "America/New_York", "Etc/GMT+5"), so that loading it reads only the zone
// database: absl::LoadTimeZone would also open any path it is given (a
// FIFO there blocked a worker for good) and "localtime", which differs from
// host to host.
bool IsZoneName(absl::string_view name) {
  if (name.empty() || name.size() > 64 || name == "localtime" ||
      name.front() == '/' || name.back() == '/' ||
      absl::StrContains(name, "..") || absl::StrContains(name, "//")) {
    return false;
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '/' &&
        c != '_' && c != '-' && c != '+') {
      return false;
    }
  }
  return true;
}

// Walks the YAML tree, collecting every problem with its path.
class BundleParser {
 public:
  absl::StatusOr<Policy> Parse(absl::string_view text) {
    if (text.size() > kMaxBundleBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("bundle: ", text.size(), " bytes exceeds the limit of ",
                       kMaxBundleBytes));
    }
    // A first pass over the parser's events refuses what a policy has no
    // need of and a reviewer could be misled by, in time linear in the text,
    // before any tree is built.
    if (absl::Status st = CheckYamlShape(text); !st.ok()) return st;
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::DeepRecursion&) {
      return TooDeep();
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("bundle: not valid YAML at line ", e.mark.line + 1,
                       ", column ", e.mark.column + 1, ": ", e.msg));
    }
    Policy policy;
    if (!root.IsMap()) {
      Error("bundle",
            "must be a mapping with org, departments, agents and "
            "assets");
    } else {
      // yaml-cpp throws on some misuses of a node; none may escape as a
      // crash of whoever applies a bundle.
      try {
        CheckKeys(root, "", {"org", "departments", "agents", "assets"});
        ParseOrg(root["org"], &policy);
        ParseAssets(root["assets"], &policy);
        ParseScopeLimits(root["org"], &policy);
        ParseDepartments(root["departments"], &policy);
        CheckDepartmentParents(policy);
        ParseAgents(root["agents"], &policy);
        CheckAgentApprovers(policy);
        CheckScopeChains(policy);
      } catch (const YAML::Exception& e) {
        Error("bundle", absl::StrCat("could not be read: ", e.msg));
      }
    }
    if (!errors_.empty()) {
      if (errors_.size() >= kMaxErrors) {
        errors_.push_back("(further errors not shown)");
      }
      return absl::InvalidArgumentError(absl::StrJoin(errors_, "; "));
    }
    return policy;
  }

 private:
  static absl::Status TooDeep() {
    return absl::InvalidArgumentError(absl::StrCat(
        "bundle: nested deeper than ", kMaxBundleDepth, " levels"));
  }

  // Each entry of a destination list must be an address some chain can
  // have, validated as a request's destination is: an entry that is not
  // could never match, so a deny list holding it would block nothing.
  void CheckAddresses(const std::vector<std::string>& list,
                      const std::string& path) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (!ValidateAddress("", "ethereum", list[i]).ok() &&
          !ValidateAddress("", "solana", list[i]).ok()) {
        Error(Index(path, i),
              absl::StrCat(Quote(list[i]),
                           " is not an address (0x and 40 hex digits, "
                           "EIP-55 checksummed if in mixed case; or base58 of "
                           "32 bytes on solana)"));
      }
    }
  }

  void Error(const std::string& path, absl::string_view problem) {
    if (errors_.size() < kMaxErrors) {
      errors_.push_back(absl::StrCat(path, ": ", problem));
    }
  }

  static std::string Join(const std::string& path, absl::string_view key) {
    return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
  }
  static std::string Index(const std::string& path, size_t i) {
    return absl::StrCat(path, "[", i, "]");
  }

  void CheckKeys(const YAML::Node& map, const std::string& path,
                 std::initializer_list<absl::string_view> allowed) {
    for (const auto& kv : map) {
      const std::string key = kv.first.Scalar();
      bool known = false;
      for (absl::string_view a : allowed) known = known || key == a;
      if (!known) {
        Error(Join(path, key), absl::StrCat("unknown key (allowed: ",
                                            absl::StrJoin(allowed, ", "), ")"));
      }
    }
  }

  // A required or optional scalar. Returns nullopt (after recording an error
  // when required or malformed) if absent or not a scalar.
  std::optional<std::string> Scalar(const YAML::Node& map,
                                    const std::string& path,
                                    absl::string_view key, bool required) {
    const YAML::Node node = map[std::string(key)];
    const std::string p = Join(path, key);
    if (!node.IsDefined()) {
      if (required) Error(p, "is required");
      return std::nullopt;
    }
    // A key given with no value (`usd:`, `usd: ~`) is a mistake, not an
    // absent key: reading it as absent once dropped a limit silently.
    if (node.IsNull()) {
      Error(p, required ? "is required"
                        : "is empty: give a value, or leave the key out");
      return std::nullopt;
    }
    if (!node.IsScalar()) {
      Error(p, "must be a single value");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<std::string> Id(const YAML::Node& map, const std::string& path,
                                absl::string_view key) {
    std::optional<std::string> id = Scalar(map, path, key, true);
    if (!id) return std::nullopt;
    if (!IsValidId(*id)) {
      Error(Join(path, key),
            absl::StrCat(Quote(*id), " is not a valid id (1-", kMaxIdLength,
                         " characters of A-Z, a-z, 0-9, _, - and .)"));
      return std::nullopt;
    }
    return id;
  }

  // Whether `list` holds at most `max` entries; else an error.
  bool WithinBound(const YAML::Node& list, const std::string& path,
                   size_t max) {
    if (list.size() <= max) return true;
    Error(path,
          absl::StrCat("holds ", list.size(), " entries; the limit is ", max));
    return false;
  }

  // A list of at most `max` scalars; nullopt when absent.
  std::optional<std::vector<std::string>> StringList(
      const YAML::Node& map, const std::string& path, absl::string_view key,
      size_t max = kMaxBundleList) {
    const YAML::Node node = map[std::string(key)];
    const std::string p = Join(path, key);
    if (!node.IsDefined() || node.IsNull()) return std::nullopt;
    if (!node.IsSequence()) {
      Error(p, "must be a list");
      return std::nullopt;
    }
    if (!WithinBound(node, p, max)) return std::nullopt;
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar() || node[i].Scalar().empty()) {
        Error(Index(p, i), "must be a non-empty value");
        continue;
      }
      if (!seen.insert(node[i].Scalar()).second) {
        Error(Index(p, i), absl::StrCat("duplicate ", Quote(node[i].Scalar())));
        continue;
      }
      out.push_back(node[i].Scalar());
    }
    return out;
  }

  // Iterates a list of at most `max` mappings, calling fn(node, path) for
  // each.
  template <typename Fn>
  void ForEachMap(const YAML::Node& list, const std::string& path,
                  bool required, Fn fn, size_t max = kMaxBundleList) {
    if (!list.IsDefined() || list.IsNull()) {
      if (required) Error(path, "is required");
      return;
    }
    if (!list.IsSequence()) {
      Error(path, "must be a list");
      return;
    }
    if (!WithinBound(list, path, max)) return;
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].IsMap()) {
        Error(Index(path, i), "must be a mapping");
        continue;
      }
      fn(list[i], Index(path, i));
    }
  }

  std::optional<UsdMicros> Usd(const YAML::Node& map, const std::string& path,
                               absl::string_view key) {
    std::optional<std::string> text = Scalar(map, path, key, false);
    if (!text) return std::nullopt;
    absl::StatusOr<UsdMicros> usd = ParseUsd(*text);
    if (!usd.ok()) {
      Error(Join(path, key), usd.status().message());
      return std::nullopt;
    }
    return *usd;
  }

  // A list of limits; with `escalates`, each may say `on_violation`.
  std::vector<Limit> ParseLimits(const YAML::Node& list,
                                 const std::string& path,
                                 bool escalates = false) {
    std::vector<Limit> limits;
    std::set<std::string> names;
    ForEachMap(
        list, path, false,
        [&](const YAML::Node& n, const std::string& p) {
          if (escalates) {
            CheckKeys(n, p, {"name", "usd", "count", "window", "on_violation"});
          } else {
            CheckKeys(n, p, {"name", "usd", "count", "window"});
          }
          OnViolation escalation = OnViolation::kDeny;
          if (std::optional<std::string> what =
                  escalates ? Scalar(n, p, "on_violation", false)
                            : std::nullopt) {
            std::optional<OnViolation> v = OnViolationOf(*what);
            if (!v) {
              Error(Join(p, "on_violation"),
                    absl::StrCat(Quote(*what),
                                 " must be deny, approve or notify"));
            }
            escalation = v.value_or(OnViolation::kDeny);
          }
          Limit limit;
          bool ok = true;
          std::optional<std::string> window = Scalar(n, p, "window", true);
          if (window) {
            absl::StatusOr<Window> w = ParseWindow(*window);
            if (w.ok()) {
              limit.window = *w;
            } else {
              Error(Join(p, "window"), w.status().message());
              ok = false;
            }
          } else {
            ok = false;
          }
          const bool has_usd = n["usd"].IsDefined();
          const bool has_count = n["count"].IsDefined();
          if (has_usd == has_count) {
            Error(p, "needs exactly one of usd or count");
            ok = false;
          } else if (has_usd) {
            limit.kind = Limit::Kind::kUsd;
            std::optional<UsdMicros> usd = Usd(n, p, "usd");
            ok = ok && usd.has_value();
            limit.usd = usd.value_or(0);
          } else {
            limit.kind = Limit::Kind::kCount;
            std::optional<std::string> count = Scalar(n, p, "count", true);
            if (count &&
                !(absl::SimpleAtoi(*count, &limit.count) && limit.count > 0)) {
              Error(Join(p, "count"),
                    absl::StrCat("", Quote(*count),
                                 " is not a positive whole number"));
              ok = false;
            }
          }
          if (n["name"].IsDefined()) {
            std::optional<std::string> name = Id(n, p, "name");
            ok = ok && name.has_value();
            limit.name = name.value_or("");
          } else if (ok) {
            // Default: "usd_rolling_24h", "count_calendar_day".
            std::string w = limit.window.spec;
            for (char& c : w) c = c == ':' ? '_' : c;
            limit.name = absl::StrCat(
                limit.kind == Limit::Kind::kUsd ? "usd_" : "count_", w);
          }
          if (!ok) return;
          limit.on_violation = escalation;
          if (!names.insert(limit.name).second) {
            Error(p, absl::StrCat("duplicate limit name ", Quote(limit.name),
                                  " in this scope"));
            return;
          }
          limits.push_back(std::move(limit));
        },
        kMaxLimitsPerScope);
    return limits;
  }

  // A duration such as "10m" or "1h": the grammar of a rolling window's
  // length, at most 7 days.
  std::optional<absl::Duration> Duration(const YAML::Node& map,
                                         const std::string& path,
                                         absl::string_view key) {
    std::optional<std::string> text = Scalar(map, path, key, false);
    if (!text) return std::nullopt;
    absl::StatusOr<Window> w = ParseWindow(absl::StrCat("rolling:", *text));
    if (!w.ok() || w->length > absl::Hours(24 * 7)) {
      Error(Join(path, key),
            w.ok() ? "must be at most 7d" : w.status().message());
      return std::nullopt;
    }
    return w->length;
  }

  void ParseThresholds(const YAML::Node& n, const std::string& p,
                       TierThresholds* t) {
    t->notify_above_usd = Usd(n, p, "notify_above_usd");
    t->delay_above_usd = Usd(n, p, "delay_above_usd");
    t->approval_above_usd = Usd(n, p, "approval_above_usd");
  }

  std::optional<PolicyChangeRule> ParsePolicyChanges(const YAML::Node& n,
                                                     const std::string& p) {
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    if (!n.IsMap()) {
      Error(p, "must be a mapping");
      return std::nullopt;
    }
    CheckKeys(n, p, {"approvals_required", "approvers", "expires_after"});
    PolicyChangeRule rule;
    rule.approvers = StringList(n, p, "approvers", kMaxApprovers)
                         .value_or(std::vector<std::string>{});
    if (rule.approvers.empty()) {
      Error(Join(p, "approvers"), "is required: who approves a loosening");
    }
    for (size_t i = 0; i < rule.approvers.size(); ++i) {
      const std::string& a = rule.approvers[i];
      if (!absl::StartsWith(a, "user/") || !IsValidId(a.substr(5))) {
        Error(Index(Join(p, "approvers"), i),
              absl::StrCat(Quote(a), " must be user/<id>"));
      }
    }
    if (std::optional<std::string> q =
            Scalar(n, p, "approvals_required", false)) {
      if (!absl::SimpleAtoi(*q, &rule.approvals_required) ||
          rule.approvals_required < 1 || rule.approvals_required > 10) {
        Error(Join(p, "approvals_required"),
              absl::StrCat(Quote(*q), " must be a whole number from 1 to 10"));
      }
    }
    if (!rule.approvers.empty() &&
        rule.approvals_required > static_cast<int>(rule.approvers.size())) {
      Error(Join(p, "approvals_required"),
            absl::StrCat(rule.approvals_required,
                         " exceeds the number of approvers, ",
                         rule.approvers.size()));
    }
    rule.expires_after =
        Duration(n, p, "expires_after").value_or(absl::Hours(72));
    if (rule.expires_after <= absl::ZeroDuration()) {
      Error(Join(p, "expires_after"), "must be above 0");
    }
    return rule;
  }

  // `budget_alerts: {thresholds: [80, 95]}`: whole percentages, sorted.
  std::vector<int> ParseAlertThresholds(const YAML::Node& n,
                                        const std::string& p) {
    std::vector<int> out;
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsMap()) {
      Error(p, "must be a mapping with thresholds");
      return out;
    }
    CheckKeys(n, p, {"thresholds"});
    const std::optional<std::vector<std::string>> list =
        StringList(n, p, "thresholds", kMaxAlertThresholds);
    for (size_t i = 0; list && i < list->size(); ++i) {
      int percent = 0;
      if (!absl::SimpleAtoi((*list)[i], &percent) || percent < 1 ||
          percent > 100) {
        Error(Index(Join(p, "thresholds"), i),
              absl::StrCat(Quote((*list)[i]),
                           " must be a whole percentage from 1 to 100"));
        continue;
      }
      out.push_back(percent);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  Anomalies ParseAnomalies(const YAML::Node& n, const std::string& p) {
    Anomalies out;
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsMap()) {
      Error(p, "must be a mapping of split, volume_spike, new_destinations");
      return out;
    }
    CheckKeys(n, p, {"split", "volume_spike", "new_destinations"});
    // One detector: a mapping of its keys and `on`, each optional.
    auto detector = [&](const char* name,
                        OnViolation* on) -> std::optional<std::string> {
      const YAML::Node d = n[name];
      if (!d.IsDefined() || d.IsNull()) return std::nullopt;
      const std::string dp = Join(p, name);
      if (!d.IsMap()) {
        Error(dp, "must be a mapping");
        return std::nullopt;
      }
      if (std::optional<std::string> o = Scalar(d, dp, "on", false)) {
        if (*o == "approve" || *o == "notify") {
          *on = *o == "approve" ? OnViolation::kApprove : OnViolation::kNotify;
        } else {
          Error(Join(dp, "on"),
                absl::StrCat(Quote(*o), " must be approve or notify"));
        }
      }
      return dp;
    };
    // A whole number from `low` to `high` under `key`, if given.
    auto number = [&](const YAML::Node& d, const std::string& dp,
                      const char* key, int64_t low, int64_t high,
                      int64_t* value) {
      std::optional<std::string> text = Scalar(d, dp, key, false);
      if (text && !(absl::SimpleAtoi(*text, value) && *value >= low &&
                    *value <= high)) {
        Error(Join(dp, key),
              absl::StrCat(Quote(*text), " must be a whole number from ", low,
                           " to ", high));
      }
    };
    Anomalies::Split split;
    if (std::optional<std::string> dp = detector("split", &split.on)) {
      CheckKeys(n["split"], *dp, {"spends", "within", "on"});
      number(n["split"], *dp, "spends", 2, 1000, &split.spends);
      split.within = Duration(n["split"], *dp, "within").value_or(split.within);
      out.split = split;
    }
    Anomalies::VolumeSpike spike;
    if (std::optional<std::string> dp = detector("volume_spike", &spike.on)) {
      CheckKeys(n["volume_spike"], *dp, {"times", "on"});
      number(n["volume_spike"], *dp, "times", 2, 1000, &spike.times);
      out.volume_spike = spike;
    }
    Anomalies::NewDestinations fresh;
    if (std::optional<std::string> dp =
            detector("new_destinations", &fresh.on)) {
      CheckKeys(n["new_destinations"], *dp, {"count", "within", "on"});
      number(n["new_destinations"], *dp, "count", 1, 1000, &fresh.count);
      fresh.within =
          Duration(n["new_destinations"], *dp, "within").value_or(fresh.within);
      out.new_destinations = fresh;
    }
    return out;
  }

  std::optional<ApprovalTiers> ParseApprovals(const YAML::Node& n,
                                              const std::string& p) {
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    if (!n.IsMap()) {
      Error(p, "must be a mapping");
      return std::nullopt;
    }
    CheckKeys(
        n, p,
        {"notify_above_usd", "delay_above_usd", "delay", "approval_above_usd",
         "approvers", "approvals_required", "approval_timeout", "cumulative"});
    ApprovalTiers tiers;
    ParseThresholds(n, p, &tiers.per_tx);
    const YAML::Node cumulative = n["cumulative"];
    const std::string cp = Join(p, "cumulative");
    if (cumulative.IsDefined() && !cumulative.IsNull()) {
      if (!cumulative.IsMap()) {
        Error(cp, "must be a mapping");
      } else {
        CheckKeys(cumulative, cp,
                  {"window", "notify_above_usd", "delay_above_usd",
                   "approval_above_usd"});
        ParseThresholds(cumulative, cp, &tiers.cumulative);
        if (std::optional<std::string> w =
                Scalar(cumulative, cp, "window", true)) {
          absl::StatusOr<Window> window = ParseWindow(*w);
          if (window.ok()) {
            tiers.window = *window;
          } else {
            Error(Join(cp, "window"), window.status().message());
          }
        }
      }
    }
    const bool delays = tiers.per_tx.delay_above_usd.has_value() ||
                        tiers.cumulative.delay_above_usd.has_value();
    const bool approves = tiers.per_tx.approval_above_usd.has_value() ||
                          tiers.cumulative.approval_above_usd.has_value();
    tiers.delay = Duration(n, p, "delay").value_or(absl::ZeroDuration());
    if (delays && tiers.delay <= absl::ZeroDuration()) {
      Error(Join(p, "delay"), "is required (and above 0) with delay_above_usd");
    }
    tiers.approval_timeout =
        Duration(n, p, "approval_timeout").value_or(absl::Hours(1));
    if (tiers.approval_timeout <= absl::ZeroDuration()) {
      Error(Join(p, "approval_timeout"), "must be above 0");
    }
    tiers.approvers = StringList(n, p, "approvers", kMaxApprovers)
                          .value_or(std::vector<std::string>{});
    for (size_t i = 0; i < tiers.approvers.size(); ++i) {
      const std::string& a = tiers.approvers[i];
      const std::string ap = Index(Join(p, "approvers"), i);
      const size_t slash = a.find('/');
      const std::string kind = a.substr(0, slash);
      if (a == kSecondAgent) continue;
      if (slash == std::string::npos || (kind != "user" && kind != "agent") ||
          !IsValidId(a.substr(slash + 1))) {
        Error(ap, absl::StrCat("", Quote(a),
                               " must be second_agent, user/<id> or "
                               "agent/<id>"));
      } else if (kind == "agent") {
        agent_approvers_.emplace_back(ap, a.substr(slash + 1));
      }
    }
    if (approves && tiers.approvers.empty()) {
      Error(Join(p, "approvers"), "is required with approval_above_usd");
    }
    if (std::optional<std::string> q =
            Scalar(n, p, "approvals_required", false)) {
      if (!absl::SimpleAtoi(*q, &tiers.approvals_required) ||
          tiers.approvals_required < 1 || tiers.approvals_required > 10) {
        Error(Join(p, "approvals_required"),
              absl::StrCat(Quote(*q), " must be a whole number from 1 to 10"));
      }
    }
    const bool any_agent =
        std::find(tiers.approvers.begin(), tiers.approvers.end(),
                  kSecondAgent) != tiers.approvers.end();
    if (!any_agent && !tiers.approvers.empty() &&
        tiers.approvals_required > static_cast<int>(tiers.approvers.size())) {
      Error(Join(p, "approvals_required"),
            absl::StrCat(tiers.approvals_required,
                         " exceeds the number of approvers, ",
                         tiers.approvers.size()));
    }
    return tiers;
  }

  // Approvers named "agent/<id>" must be agents of the bundle.
  void CheckAgentApprovers(const Policy& policy) {
    for (const auto& [path, id] : agent_approvers_) {
      if (!policy.agents.contains(id)) {
        Error(path, absl::StrCat("unknown agent ", Quote(id)));
      }
    }
  }

  // `schedule: {days: [...], hours: "HH:MM-HH:MM"}` under `map`, if any.
  std::optional<Schedule> ParseScheduleAt(const YAML::Node& map,
                                          const std::string& path) {
    const YAML::Node n = map["schedule"];
    const std::string p = Join(path, "schedule");
    if (!n.IsDefined()) return std::nullopt;
    if (!n.IsMap()) {
      Error(p, "must be a mapping of days and hours");
      return std::nullopt;
    }
    CheckKeys(n, p, {"days", "hours"});
    if (n["days"].IsDefined() && n["days"].IsNull()) {
      Error(Join(p, "days"), "is empty: give a list, or leave the key out");
      return std::nullopt;
    }
    const size_t errors = errors_.size();
    std::optional<std::vector<std::string>> days = StringList(n, p, "days", 7);
    std::optional<std::string> hours = Scalar(n, p, "hours", false);
    if (errors_.size() != errors) return std::nullopt;
    absl::StatusOr<Schedule> s = ParseSchedule(days, hours);
    if (!s.ok()) {
      // "days[1]: ..." or "hours: ..." joined onto the path.
      const std::string message(s.status().message());
      const bool part = absl::StartsWith(message, "days") ||
                        absl::StartsWith(message, "hours");
      Error(part ? absl::StrCat(p, ".", message.substr(0, message.find(": ")))
                 : p,
            part ? message.substr(message.find(": ") + 2) : message);
      return std::nullopt;
    }
    return *s;
  }

  void ParseOrg(const YAML::Node& n, Policy* policy) {
    const std::string p = "org";
    if (!n.IsDefined() || n.IsNull()) {
      Error(p, "is required");
      return;
    }
    if (!n.IsMap()) {
      Error(p, "must be a mapping");
      return;
    }
    CheckKeys(
        n, p,
        {"id", "timezone", "expired_holds", "hold_ttl", "limits",
         "chain_limits", "asset_limits", "destination_limits",
         "destinations_deny", "rules", "chain_rules", "asset_rules", "schedule",
         "default", "policy_changes", "anomalies", "budget_alerts"});
    Org& org = policy->org;
    org.id = Id(n, p, "id").value_or("");
    if (std::optional<std::string> tz = Scalar(n, p, "timezone", false)) {
      if (IsZoneName(*tz) && absl::LoadTimeZone(*tz, &org.timezone)) {
        org.timezone_name = *tz;
      } else {
        Error("org.timezone", absl::StrCat("unknown time zone ", Quote(*tz)));
      }
    }
    if (std::optional<std::string> eh = Scalar(n, p, "expired_holds", false)) {
      if (*eh == "count") {
        org.expired_holds = ExpiredHolds::kCount;
      } else if (*eh == "release") {
        org.expired_holds = ExpiredHolds::kRelease;
      } else {
        Error("org.expired_holds",
              absl::StrCat(Quote(*eh), " must be count or release"));
      }
    }
    if (std::optional<std::string> ttl = Scalar(n, p, "hold_ttl", false)) {
      // Same grammar as a rolling window's length.
      absl::StatusOr<Window> w = ParseWindow(absl::StrCat("rolling:", *ttl));
      if (w.ok() && w->length <= absl::Hours(24 * 7)) {
        org.hold_ttl = w->length;
      } else {
        Error("org.hold_ttl",
              w.ok() ? "must be at most 7d" : w.status().message());
      }
    }
    if (std::optional<std::string> d = Scalar(n, p, "default", false)) {
      if (*d == "allow" || *d == "deny") {
        org.default_deny = *d == "deny";
      } else {
        Error("org.default", absl::StrCat(Quote(*d), " must be allow or deny"));
      }
    }
    org.policy_changes =
        ParsePolicyChanges(n["policy_changes"], Join(p, "policy_changes"));
    org.anomalies = ParseAnomalies(n["anomalies"], Join(p, "anomalies"));
    org.alert_thresholds =
        ParseAlertThresholds(n["budget_alerts"], Join(p, "budget_alerts"));
    org.schedule = ParseScheduleAt(n, p);
    org.limits = ParseLimits(n["limits"], "org.limits");
    org.destination_limits =
        ParseLimits(n["destination_limits"], "org.destination_limits");
    if (auto deny = StringList(n, p, "destinations_deny")) {
      CheckAddresses(*deny, Join(p, "destinations_deny"));
      org.destinations_deny = std::move(*deny);
    }
  }

  // `chain_limits: {<chain>: [limits]}`, `asset_limits: {<declared
  // asset>: [limits]}` and the same keys' `chain_rules` and `asset_rules`
  // of the org, once the assets are known.
  void ParseScopeLimits(const YAML::Node& org, Policy* policy) {
    if (!org.IsMap()) return;
    ParseRules(org["rules"], "org.rules", *policy, &policy->org.rules,
               RulesOf::kScope);
    for (const char* key :
         {"chain_limits", "asset_limits", "chain_rules", "asset_rules"}) {
      const YAML::Node n = org[key];
      const std::string p = Join("org", key);
      const bool assets = absl::StartsWith(key, "asset");
      const bool rules = absl::EndsWith(key, "rules");
      if (!n.IsDefined()) continue;
      if (!n.IsMap()) {
        Error(p,
              absl::StrCat("must be a mapping of ", assets ? "asset" : "chain",
                           " to ", rules ? "rules" : "a list of limits"));
        continue;
      }
      for (const auto& kv : n) {
        const std::string name = kv.first.Scalar();
        const std::string np = Join(p, name);
        if (!IsValidId(name)) {
          Error(np, absl::StrCat(Quote(name), " is not a valid id"));
          continue;
        }
        if (assets && !policy->assets.contains(name)) {
          Error(np, absl::StrCat("unknown asset ", Quote(name),
                                 " (not declared under assets)"));
          continue;
        }
        if (kv.second.IsNull() || kv.second.size() == 0) {
          Error(np, rules ? "must be a non-empty mapping of rules"
                          : "must be a non-empty list of limits");
          continue;
        }
        if (rules) {
          ParseRules(kv.second, np, *policy,
                     &(assets ? policy->org.asset_rules
                              : policy->org.chain_rules)[name],
                     assets ? RulesOf::kAsset : RulesOf::kChain);
          continue;
        }
        std::vector<Limit> limits = ParseLimits(kv.second, np);
        (assets ? policy->org.asset_limits : policy->org.chain_limits)[name] =
            std::move(limits);
      }
    }
  }

  // Every chain named by chain_limits or chain_rules is one a wallet is on
  // or an asset is declared on: a misspelt chain ("BASE") would otherwise
  // be a limit or rule that never binds. (A `chains` allowlist may name a
  // chain no wallet is on yet: a misspelt one allows nothing.)
  void CheckScopeChains(const Policy& policy) {
    std::set<std::string> known;
    for (const auto& [id, w] : policy.wallets) known.insert(w.chain);
    for (const auto& [symbol, asset] : policy.assets) {
      for (const auto& [chain, where] : asset.chains) known.insert(chain);
    }
    auto check = [&](const char* key, const std::string& chain) {
      if (known.contains(chain)) return;
      Error(absl::StrCat("org.", key, ".", chain),
            absl::StrCat("no wallet or asset is on chain ", Quote(chain),
                         " (chains: ", absl::StrJoin(known, ", "), ")"));
    };
    for (const auto& [chain, limits] : policy.org.chain_limits) {
      check("chain_limits", chain);
    }
    for (const auto& [chain, rules] : policy.org.chain_rules) {
      check("chain_rules", chain);
    }
  }

  // Every `parent` names a department, and no chain of parents loops or
  // runs deeper than kMaxDepartmentDepth.
  void CheckDepartmentParents(const Policy& policy) {
    for (const auto& [id, dept] : policy.departments) {
      if (dept.parent.empty()) continue;
      const std::string p = absl::StrCat("departments.", id, ".parent");
      if (!policy.departments.contains(dept.parent)) {
        Error(p, absl::StrCat("unknown department ", Quote(dept.parent)));
        continue;
      }
      std::set<std::string> seen = {id};
      for (std::string up = dept.parent; !up.empty();
           up = policy.departments.at(up).parent) {
        if (!seen.insert(up).second) {
          // Reported for each department on the loop, not for those below.
          if (up == id) {
            Error(p, absl::StrCat("department ", Quote(id),
                                  " is its own ancestor (through ",
                                  Quote(dept.parent), ")"));
          }
          break;
        }
        if (seen.size() > kMaxDepartmentDepth) {
          Error(p, absl::StrCat("department ", Quote(id), " nests deeper than ",
                                kMaxDepartmentDepth, " levels"));
          break;
        }
        if (!policy.departments.contains(up)) break;  // Reported for `up`.
      }
    }
  }

  // chain: native | contract address.
  bool ParseAssetChains(const YAML::Node& map, const std::string& path,
                        Asset* asset) {
    if (!map.IsDefined() || map.IsNull()) return true;
    if (!map.IsMap()) {
      Error(path,
            "must be a mapping of chain to \"native\" or a contract "
            "address");
      return false;
    }
    bool ok = true;
    for (const auto& entry : map) {
      const std::string chain = entry.first.as<std::string>();
      const std::string p = Join(path, chain);
      if (!IsValidId(chain)) {
        Error(p, absl::StrCat(Quote(chain), " is not a valid chain id"));
        ok = false;
        continue;
      }
      if (!entry.second.IsScalar()) {
        Error(p, "must be \"native\" or a contract address");
        ok = false;
        continue;
      }
      const std::string where = entry.second.as<std::string>();
      if (where != kNativeAsset) {
        if (absl::Status st = ValidateAddress(p, chain, where); !st.ok()) {
          Error(p, absl::StrCat(absl::StripPrefix(st.message(), p + ": "),
                                "; write \"native\" for the chain's own coin"));
          ok = false;
          continue;
        }
        if (NormalizeDestination(where) == abi::kPermit2) {
          Error(p, "is Permit2's contract, not a token's");
          ok = false;
          continue;
        }
      }
      // One contract (or native coin), one asset: a second symbol for the
      // same token could value its transfers at another price.
      const auto [it, fresh] = asset_at_.emplace(
          absl::StrCat(chain, ":", NormalizeDestination(where)), path);
      if (!fresh) {
        Error(p, absl::StrCat(where == kNativeAsset ? "the native coin of "
                                                    : "this contract on ",
                              chain, " is already declared by ", it->second));
        ok = false;
        continue;
      }
      asset->chains[chain] = where;
    }
    return ok;
  }

  // A fixed price under `key`, if present. With decimals known
  // (`decimals_ok`), refuses a price that values nothing (0) or cannot
  // value every amount without overflow.
  bool FixedPrice(const YAML::Node& n, const std::string& p,
                  absl::string_view key, bool decimals_ok, Asset* asset) {
    std::optional<std::string> price = Scalar(n, p, key, false);
    if (!price) return true;
    absl::StatusOr<Price> parsed = ParsePrice(*price);
    absl::Status usable = parsed.status();
    if (usable.ok() && decimals_ok) {
      usable = CheckPrice(*parsed, asset->decimals);
    }
    if (!usable.ok()) {
      Error(Join(p, key), usable.message());
      return false;
    }
    asset->price_usd = *parsed;
    return true;
  }

  // price: {source: fixed, usd} | {source: chainlink, chain, aggregator,
  // max_age} | {source: file, public_key, max_age}.
  bool ParsePriceFeed(const YAML::Node& n, const std::string& p,
                      bool decimals_ok, Asset* asset) {
    if (!n.IsMap()) {
      Error(p, "must be a mapping with a source (fixed, chainlink or file)");
      return false;
    }
    std::optional<std::string> source = Scalar(n, p, "source", true);
    if (!source) return false;
    PriceFeed& feed = asset->feed;
    if (*source == "fixed") {
      CheckKeys(n, p, {"source", "usd"});
      if (!n["usd"].IsDefined()) {
        Error(Join(p, "usd"), "is required for a fixed price");
        return false;
      }
      return FixedPrice(n, p, "usd", decimals_ok, asset);
    }
    const size_t errors = errors_.size();
    if (*source == "chainlink") {
      CheckKeys(n, p, {"source", "chain", "aggregator", "max_age"});
      feed.kind = PriceFeed::Kind::kChainlink;
      feed.chain = Id(n, p, "chain").value_or("");
      feed.aggregator = EvmAddress(n, p, "aggregator").value_or("");
    } else if (*source == "file") {
      CheckKeys(n, p, {"source", "public_key", "max_age"});
      feed.kind = PriceFeed::Kind::kFile;
      std::optional<std::string> key = Scalar(n, p, "public_key", true);
      if (key && !IsUsableEd25519Key(*key)) {
        Error(Join(p, "public_key"),
              "must be an Ed25519 public key as 64 hex digits (wardenctl "
              "prices key --key FILE prints it), not a point of small order "
              "anyone could sign for");
      } else if (key) {
        feed.public_key = absl::AsciiStrToLower(*key);
      }
    } else {
      Error(Join(p, "source"),
            absl::StrCat(Quote(*source), " must be fixed, chainlink or file"));
      return false;
    }
    if (!n["max_age"].IsDefined()) {
      Error(Join(p, "max_age"),
            "is required: how old a live price may be before spends of the "
            "asset are denied (e.g. 1h)");
    } else {
      feed.max_age = Duration(n, p, "max_age").value_or(absl::ZeroDuration());
    }
    return errors_.size() == errors;
  }

  void ParseAssets(const YAML::Node& list, Policy* policy) {
    ForEachMap(
        list, "assets", false, [&](const YAML::Node& n, const std::string& p) {
          CheckKeys(n, p,
                    {"symbol", "decimals", "price_usd", "price", "chains"});
          Asset asset;
          std::optional<std::string> symbol = Id(n, p, "symbol");
          std::optional<std::string> decimals = Scalar(n, p, "decimals", true);
          bool ok = symbol.has_value() && decimals.has_value();
          if (decimals &&
              !(absl::SimpleAtoi(*decimals, &asset.decimals) &&
                asset.decimals >= 0 && asset.decimals <= kMaxTokenDecimals)) {
            Error(Join(p, "decimals"),
                  absl::StrCat("", Quote(*decimals),
                               " must be a whole number from 0 "
                               "to ",
                               kMaxTokenDecimals));
            ok = false;
          }
          if (n["price_usd"].IsDefined() && n["price"].IsDefined()) {
            Error(Join(p, "price"),
                  "give price_usd (a fixed price) or price (a source), not "
                  "both");
            ok = false;
          } else if (n["price"].IsDefined()) {
            ok = ParsePriceFeed(n["price"], Join(p, "price"), ok, &asset) && ok;
          } else {
            ok = FixedPrice(n, p, "price_usd", ok, &asset) && ok;
          }
          ok = ParseAssetChains(n["chains"], Join(p, "chains"), &asset) && ok;
          if (!ok) return;
          asset.symbol = *symbol;
          if (!policy->assets.emplace(asset.symbol, asset).second) {
            Error(Join(p, "symbol"),
                  absl::StrCat("duplicate asset ", Quote(asset.symbol)));
          }
        });
  }

  void ParseDepartments(const YAML::Node& list, Policy* policy) {
    ForEachMap(
        list, "departments", false,
        [&](const YAML::Node& n, const std::string& p) {
          CheckKeys(
              n, p,
              {"id", "parent", "limits", "rules", "approvals", "schedule"});
          Department dept;
          std::optional<std::string> id = Id(n, p, "id");
          if (n["parent"].IsDefined()) {
            dept.parent = Id(n, p, "parent").value_or("");
          }
          dept.schedule = ParseScheduleAt(n, p);
          dept.limits = ParseLimits(n["limits"], Join(p, "limits"));
          ParseRules(n["rules"], Join(p, "rules"), *policy, &dept.rules,
                     RulesOf::kScope);
          dept.approvals = ParseApprovals(n["approvals"], Join(p, "approvals"));
          if (!id) return;
          dept.id = *id;
          if (!policy->departments.emplace(dept.id, std::move(dept)).second) {
            Error(Join(p, "id"),
                  absl::StrCat("duplicate department ", Quote(*id)));
          }
        });
  }

  // Whose rules: an agent's take every key; the org's and a department's
  // the caps and lists; a wallet's and a chain's the same but chains (a
  // wallet is on one chain), an asset's the same but assets.
  enum class RulesOf { kAgent, kScope, kWallet, kChain, kAsset };

  void ParseRules(const YAML::Node& n, const std::string& p,
                  const Policy& policy, AgentRules* rules, RulesOf of) {
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsMap()) {
      Error(p, "must be a mapping");
      return;
    }
    switch (of) {
      case RulesOf::kAgent:
        CheckKeys(
            n, p,
            {"per_tx_max_usd", "chains", "assets", "destinations_allow",
             "destinations_deny", "schedule", "contracts", "approved_spenders",
             "new_address", "drain_all", "x402_domains", "on_violation"});
        break;
      case RulesOf::kScope:
        CheckKeys(n, p,
                  {"per_tx_max_usd", "chains", "assets", "destinations_allow",
                   "destinations_deny", "x402_domains"});
        break;
      case RulesOf::kWallet:
      case RulesOf::kChain:
        CheckKeys(n, p,
                  {"per_tx_max_usd", "assets", "destinations_allow",
                   "destinations_deny"});
        break;
      case RulesOf::kAsset:
        CheckKeys(n, p,
                  {"per_tx_max_usd", "chains", "destinations_allow",
                   "destinations_deny"});
        break;
    }
    rules->per_tx_max_usd = Usd(n, p, "per_tx_max_usd");
    rules->schedule = ParseScheduleAt(n, p);
    rules->chains = StringList(n, p, "chains");
    rules->assets = StringList(n, p, "assets");
    if (rules->assets) {
      for (size_t i = 0; i < rules->assets->size(); ++i) {
        const std::string& symbol = (*rules->assets)[i];
        if (!policy.assets.contains(symbol)) {
          Error(Index(Join(p, "assets"), i),
                absl::StrCat("unknown asset ", Quote(symbol),
                             " (not declared under assets)"));
        }
      }
    }
    ParseOnViolation(n, p, rules);
    if (std::optional<std::string> w = Scalar(n, p, "new_address", false)) {
      absl::StatusOr<Window> window = ParseWindow(*w);
      auto what = rules->on_violation.find("new_address");
      if (!window.ok()) {
        Error(Join(p, "new_address"), window.status().message());
      } else if (what == rules->on_violation.end() ||
                 what->second == OnViolation::kDeny) {
        Error(Join(p, "new_address"),
              "set on_violation.new_address to approve or notify (to refuse "
              "addresses not listed, use destinations_allow)");
      } else {
        rules->new_address = *window;
      }
    }
    if (std::optional<std::string> d = Scalar(n, p, "drain_all", false)) {
      const absl::string_view digits =
          absl::StripSuffix(absl::string_view(*d), "%");
      int percent = 0;
      if (digits.size() < d->size() && !digits.empty() && digits.size() <= 3 &&
          digits[0] != '0' &&
          std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) &&
          absl::SimpleAtoi(digits, &percent) && percent >= 1 &&
          percent <= 100) {
        rules->drain_all_percent = percent;
      } else {
        Error(Join(p, "drain_all"),
              absl::StrCat(Quote(*d),
                           " must be a whole percent of the wallet's balance "
                           "from 1% to 100%, such as \"90%\""));
      }
    }
    rules->contracts =
        ParseContracts(n["contracts"], Join(p, "contracts"), policy);
    rules->approved_spenders = ParseSpenders(
        n["approved_spenders"], Join(p, "approved_spenders"), policy);
    rules->destinations_allow = StringList(n, p, "destinations_allow");
    if (rules->destinations_allow) {
      CheckAddresses(*rules->destinations_allow, Join(p, "destinations_allow"));
      for (std::string& d : *rules->destinations_allow) {
        d = NormalizeDestination(d);
      }
    }
    if (auto deny = StringList(n, p, "destinations_deny")) {
      CheckAddresses(*deny, Join(p, "destinations_deny"));
      for (const std::string& d : *deny) {
        rules->destinations_deny.push_back(NormalizeDestination(d));
      }
    }
    rules->x402_domains = StringList(n, p, "x402_domains");
    if (rules->x402_domains) {
      for (size_t i = 0; i < rules->x402_domains->size(); ++i) {
        std::string& entry = (*rules->x402_domains)[i];
        absl::StatusOr<std::string> pattern =
            x402::NormalizeDomainPattern(entry);
        if (pattern.ok()) {
          entry = *std::move(pattern);
        } else {
          Error(Index(Join(p, "x402_domains"), i), pattern.status().message());
        }
      }
    }
  }

  // An EVM address under `key`, normalized; nullopt (after an error) if
  // absent or not one.
  std::optional<std::string> EvmAddress(const YAML::Node& map,
                                        const std::string& path,
                                        absl::string_view key) {
    std::optional<std::string> text = Scalar(map, path, key, true);
    if (!text) return std::nullopt;
    if (!ValidateAddress("", "ethereum", *text).ok()) {
      Error(Join(path, key),
            absl::StrCat(Quote(*text),
                         " is not an EVM address (0x and 40 hex digits, "
                         "EIP-55 checksummed if in mixed case)"));
      return std::nullopt;
    }
    return NormalizeDestination(*text);
  }

  // A uint argument's value: base units ("1000000"), or an amount of a
  // declared asset in whole tokens ("1000 USDC").
  std::optional<absl::uint128> UintValue(const std::string& text,
                                         const std::string& path,
                                         const Policy& policy) {
    std::vector<std::string> parts =
        absl::StrSplit(text, ' ', absl::SkipEmpty());
    absl::StatusOr<absl::uint128> v = absl::InvalidArgumentError("");
    if (parts.size() == 2) {
      auto asset = policy.assets.find(parts[1]);
      if (asset == policy.assets.end()) {
        Error(path,
              absl::StrCat(Quote(text), ": unknown asset ", Quote(parts[1]),
                           " (not declared under assets)"));
        return std::nullopt;
      }
      v = ParseTokenAmount(parts[0], asset->second.decimals);
    } else if (parts.size() == 1) {
      v = ParseBaseUnits(parts[0]);
    }
    if (!v.ok()) {
      Error(path, absl::StrCat(Quote(text),
                               " must be base units (\"1000000\") or an "
                               "amount of a declared asset (\"1 USDC\")",
                               v.status().message().empty()
                                   ? ""
                                   : absl::StrCat(": ", v.status().message())));
      return std::nullopt;
    }
    return *v;
  }

  // `where: {<param>: {eq | one_of | min | max}}` of a method.
  std::vector<ArgCondition> ParseWhere(const YAML::Node& n,
                                       const std::string& p,
                                       const abi::Method& method,
                                       const Policy& policy) {
    std::vector<ArgCondition> out;
    if (!n.IsMap() || n.size() == 0) {
      Error(p, "must be a non-empty mapping of argument name to condition");
      return out;
    }
    for (const auto& kv : n) {
      const std::string param = kv.first.Scalar();
      const std::string cp = Join(p, param);
      auto at = std::find(method.params.begin(), method.params.end(), param);
      if (param.empty() || at == method.params.end()) {
        Error(cp, absl::StrCat("no argument named ", Quote(param), " in ",
                               method.canonical,
                               " (name it in the signature: "
                               "\"transfer(address to, uint256 amount)\")"));
        continue;
      }
      ArgCondition c;
      c.param = param;
      c.index = static_cast<size_t>(at - method.params.begin());
      const std::string& type = method.types[c.index];
      c.address = type == "address";
      if (!c.address && !absl::StartsWith(type, "uint")) {
        Error(cp, absl::StrCat("conditions apply to address and uint "
                               "arguments; ",
                               param, " is ", type));
        continue;
      }
      const YAML::Node cond = kv.second;
      if (!cond.IsMap() || cond.size() == 0) {
        Error(cp, c.address ? "must be a mapping of eq or one_of"
                            : "must be a mapping of eq, one_of, min or max");
        continue;
      }
      if (c.address) {
        CheckKeys(cond, cp, {"eq", "one_of"});
      } else {
        CheckKeys(cond, cp, {"eq", "one_of", "min", "max"});
      }
      // All of a condition's keys must hold; eq and one_of together would
      // read as either, so one of them only.
      if (cond["eq"].IsDefined() && cond["one_of"].IsDefined()) {
        Error(cp, "give eq or one_of, not both");
        continue;
      }
      std::vector<std::string> listed;
      if (std::optional<std::string> eq = Scalar(cond, cp, "eq", false)) {
        listed.push_back(*eq);
      }
      if (cond["one_of"].IsDefined()) {
        std::optional<std::vector<std::string>> one_of =
            StringList(cond, cp, "one_of");
        if (!one_of || one_of->empty()) {
          // An empty list would allow nothing, or be read as no condition.
          Error(Join(cp, "one_of"), "must be a non-empty list");
          continue;
        }
        listed.insert(listed.end(), one_of->begin(), one_of->end());
      }
      std::vector<std::string> texts;
      if (c.address) {
        CheckAddresses(listed, Join(cp, "one_of"));
        std::set<std::string> seen;
        for (const std::string& a : listed) {
          if (!seen.insert(NormalizeDestination(a)).second) {
            Error(Join(cp, "one_of"), absl::StrCat("duplicate ", Quote(a)));
          }
          c.addresses.push_back(NormalizeDestination(a));
        }
        if (!listed.empty()) {
          texts.push_back(absl::StrCat(param, " one of ", ListText(listed)));
        }
      } else {
        for (const std::string& v : listed) {
          if (auto value = UintValue(v, Join(cp, "one_of"), policy)) {
            c.values.push_back(*value);
          }
        }
        if (!listed.empty()) {
          texts.push_back(absl::StrCat(param, " one of ", ListText(listed)));
        }
        for (const char* bound : {"min", "max"}) {
          std::optional<std::string> text = Scalar(cond, cp, bound, false);
          if (!text) continue;
          std::optional<absl::uint128> v =
              UintValue(*text, Join(cp, bound), policy);
          (std::string(bound) == "min" ? c.min : c.max) = v;
          texts.push_back(absl::StrCat(
              param, std::string(bound) == "min" ? " >= " : " <= ", *text));
        }
      }
      if (texts.empty()) {
        Error(cp, "needs a value: eq, one_of, min or max");
        continue;
      }
      // A bound past the type's width, or min above max, could never be
      // met: a rule that silently allows nothing.
      int bits = 256;
      if (!c.address) (void)absl::SimpleAtoi(type.substr(4), &bits);
      const absl::uint128 widest =
          bits >= 128 ? absl::Uint128Max() : (absl::uint128(1) << bits) - 1;
      for (const std::optional<absl::uint128>& bound : {c.min, c.max}) {
        if (bound && *bound > widest) {
          Error(cp, absl::StrCat("a bound above ", type, "'s largest value, ",
                                 FormatBaseUnits(widest)));
        }
      }
      if (c.min && c.max && *c.min > *c.max) {
        Error(cp, "min is above max");
      }
      c.text = absl::StrJoin(texts, " and ");
      out.push_back(std::move(c));
    }
    return out;
  }

  // `contracts: [{chain, address, methods: [...]}]`: the calls an agent may
  // make. A method is a signature or a 4-byte selector, or a mapping of
  // one of them and `where` conditions on the arguments.
  std::vector<ContractRule> ParseContracts(const YAML::Node& list,
                                           const std::string& path,
                                           const Policy& policy) {
    std::vector<ContractRule> out;
    std::set<std::string> seen;
    ForEachMap(
        list, path, false, [&](const YAML::Node& n, const std::string& p) {
          CheckKeys(n, p, {"chain", "address", "methods"});
          ContractRule rule;
          std::optional<std::string> chain = Id(n, p, "chain");
          std::optional<std::string> address = EvmAddress(n, p, "address");
          if (chain && *chain == "solana") {
            Error(Join(p, "chain"), "contract calls are for EVM chains");
            chain.reset();
          }
          const YAML::Node methods = n["methods"];
          const std::string mp = Join(p, "methods");
          if (!methods.IsSequence() || methods.size() == 0) {
            Error(mp, "must be a non-empty list of methods");
          } else if (WithinBound(methods, mp, kMaxBundleList)) {
            std::set<std::string> selectors;
            for (size_t i = 0; i < methods.size(); ++i) {
              std::optional<MethodRule> m =
                  ParseMethodRule(methods[i], Index(mp, i), policy);
              if (!m) continue;
              if (chain && address) {
                if (std::optional<std::string> elsewhere =
                        abi::GovernedElsewhere(policy, *chain, *address,
                                               m->selector)) {
                  Error(Index(mp, i), *elsewhere);
                  continue;
                }
              }
              if (!selectors.insert(m->selector).second) {
                Error(Index(mp, i),
                      absl::StrCat("duplicate method ", m->signature));
                continue;
              }
              rule.methods.push_back(*std::move(m));
            }
          }
          if (!chain || !address) return;
          rule.chain = *chain;
          rule.address = *address;
          if (!seen.insert(absl::StrCat(*chain, ":", *address)).second) {
            Error(p, absl::StrCat("duplicate contract ", *address, " on ",
                                  *chain));
            return;
          }
          out.push_back(std::move(rule));
        });
    return out;
  }

  std::optional<MethodRule> ParseMethodRule(const YAML::Node& n,
                                            const std::string& p,
                                            const Policy& policy) {
    // Only a mapping has a `where`; n["where"] is read only then (yaml-cpp
    // throws on assigning a missing node).
    const bool has_where = n.IsMap() && n["where"].IsDefined();
    std::optional<std::string> text;
    if (n.IsScalar()) {
      text = n.Scalar();
    } else if (n.IsMap()) {
      CheckKeys(n, p, {"signature", "selector", "where"});
      if (n["signature"].IsDefined() == n["selector"].IsDefined()) {
        Error(p, "needs exactly one of signature or selector");
        return std::nullopt;
      }
      text = Scalar(n, p, n["signature"].IsDefined() ? "signature" : "selector",
                    true);
    } else {
      Error(p,
            "must be a signature, a selector, or a mapping of signature "
            "and where");
    }
    if (!text) return std::nullopt;
    MethodRule rule;
    absl::string_view hex = *text;
    if (absl::ConsumePrefix(&hex, "0x")) {
      absl::StatusOr<std::string> selector = abi::ParseHex("", *text);
      if (hex.size() != 8 || !selector.ok()) {
        Error(p, absl::StrCat(Quote(*text),
                              " is not a 4-byte selector (0x and 8 hex "
                              "digits)"));
        return std::nullopt;
      }
      if (has_where) {
        Error(Join(p, "where"),
              "needs the method's signature, to know its arguments");
        return std::nullopt;
      }
      rule.selector = *selector;
      rule.signature = abi::SelectorHex(rule.selector);
      return rule;
    }
    absl::StatusOr<abi::Method> method = abi::ParseSignature(*text);
    if (!method.ok()) {
      Error(p, method.status().message());
      return std::nullopt;
    }
    rule.selector = method->selector;
    rule.signature = method->canonical;
    if (has_where) {
      rule.where = ParseWhere(n["where"], Join(p, "where"), *method, policy);
    }
    return rule;
  }

  // `approved_spenders: [{spender, asset, max | max_usd | unlimited}]`.
  std::vector<SpenderRule> ParseSpenders(const YAML::Node& list,
                                         const std::string& path,
                                         const Policy& policy) {
    std::vector<SpenderRule> out;
    std::set<std::string> seen;
    ForEachMap(
        list, path, false, [&](const YAML::Node& n, const std::string& p) {
          CheckKeys(n, p, {"spender", "asset", "max", "max_usd", "unlimited"});
          SpenderRule rule;
          std::optional<std::string> spender = EvmAddress(n, p, "spender");
          rule.asset = Scalar(n, p, "asset", false);
          const Asset* asset = nullptr;
          if (rule.asset) {
            auto it = policy.assets.find(*rule.asset);
            if (it == policy.assets.end()) {
              Error(Join(p, "asset"),
                    absl::StrCat("unknown asset ", Quote(*rule.asset),
                                 " (not declared under assets)"));
            } else if (std::none_of(it->second.chains.begin(),
                                    it->second.chains.end(),
                                    [](const auto& where) {
                                      return where.second != kNativeAsset;
                                    })) {
              Error(Join(p, "asset"),
                    absl::StrCat(Quote(*rule.asset),
                                 " has no token contract (chains), so "
                                 "nothing approves it"));
            } else {
              asset = &it->second;
            }
          }
          if (std::optional<std::string> max = Scalar(n, p, "max", false)) {
            if (!rule.asset) {
              Error(Join(p, "max"),
                    "is in whole tokens of `asset`: name the asset, or use "
                    "max_usd");
            } else if (asset != nullptr) {
              absl::StatusOr<absl::uint128> units =
                  ParseTokenAmount(*max, asset->decimals);
              if (units.ok()) {
                rule.max_units = *units;
              } else {
                Error(Join(p, "max"), units.status().message());
              }
            }
          }
          rule.max_usd = Usd(n, p, "max_usd");
          if (std::optional<std::string> u = Scalar(n, p, "unlimited", false)) {
            if (*u != "true" && *u != "false") {
              Error(Join(p, "unlimited"), "must be true or false");
            }
            rule.unlimited = *u == "true";
          }
          const int caps =
              n["max"].IsDefined() + n["max_usd"].IsDefined() + rule.unlimited;
          if (caps != 1) {
            Error(p,
                  "needs exactly one of max, max_usd or unlimited: true "
                  "(an approval is capped, or explicitly unlimited)");
          }
          if (!spender) return;
          rule.spender = *spender;
          if (!seen.insert(
                       absl::StrCat(*spender, ":", rule.asset.value_or("*")))
                   .second) {
            Error(p,
                  absl::StrCat("duplicate spender ", *spender,
                               rule.asset ? absl::StrCat(" for ", *rule.asset)
                                          : std::string()));
            return;
          }
          out.push_back(std::move(rule));
        });
    return out;
  }

  static std::optional<OnViolation> OnViolationOf(const std::string& what) {
    if (what == "deny") return OnViolation::kDeny;
    if (what == "approve") return OnViolation::kApprove;
    if (what == "notify") return OnViolation::kNotify;
    return std::nullopt;
  }

  // `on_violation: {<rule>: deny | approve | notify}`, for rules set in
  // the same block.
  void ParseOnViolation(const YAML::Node& rules_node, const std::string& path,
                        AgentRules* rules) {
    const YAML::Node n = rules_node["on_violation"];
    const std::string p = Join(path, "on_violation");
    if (!n.IsDefined()) return;
    if (!n.IsMap()) {
      Error(p, "must be a mapping of rule to deny, approve or notify");
      return;
    }
    CheckKeys(n, p,
              {"per_tx_max_usd", "chains", "assets", "destinations_allow",
               "schedule", "contracts", "approved_spenders", "new_address",
               "drain_all", "x402_domains"});
    for (const auto& kv : n) {
      const std::string rule = kv.first.Scalar();
      std::optional<std::string> what = Scalar(n, p, rule, true);
      if (!what) continue;
      const std::string rp = Join(p, rule);
      if (!rules_node[rule].IsDefined() || rules_node[rule].IsNull()) {
        Error(rp, absl::StrCat("the rule ", rule,
                               " is not set in these rules, so it never "
                               "breaks"));
      } else if (std::optional<OnViolation> v = OnViolationOf(*what)) {
        rules->on_violation[rule] = *v;
      } else {
        Error(rp,
              absl::StrCat(Quote(*what), " must be deny, approve or notify"));
      }
    }
  }

  void ParseAgents(const YAML::Node& list, Policy* policy) {
    ForEachMap(
        list, "agents", false, [&](const YAML::Node& n, const std::string& p) {
          CheckKeys(n, p,
                    {"id", "department", "limits", "destination_limits",
                     "rules", "approvals", "wallets"});
          Agent agent;
          std::optional<std::string> id = Id(n, p, "id");
          std::optional<std::string> dept = Id(n, p, "department");
          if (dept && !policy->departments.contains(*dept)) {
            Error(Join(p, "department"),
                  absl::StrCat("unknown department ", Quote(*dept)));
          }
          agent.limits =
              ParseLimits(n["limits"], Join(p, "limits"), /*escalates=*/true);
          agent.destination_limits = ParseLimits(n["destination_limits"],
                                                 Join(p, "destination_limits"),
                                                 /*escalates=*/true);
          ParseRules(n["rules"], Join(p, "rules"), *policy, &agent.rules,
                     RulesOf::kAgent);
          agent.approvals =
              ParseApprovals(n["approvals"], Join(p, "approvals"));
          // An escalation to approval needs someone to approve.
          auto d = dept ? policy->departments.find(*dept)
                        : policy->departments.end();
          const bool approvers =
              EscalationApprovers(agent, d == policy->departments.end()
                                             ? nullptr
                                             : &d->second) != nullptr;
          auto need_approvers = [&](const std::string& at) {
            Error(at,
                  "approve needs approvers: set approvals.approvers on the "
                  "agent or its department");
          };
          // And so does an anomaly detector that escalates.
          for (const char* name : policy->org.anomalies.Approving()) {
            if (!approvers) {
              Error(absl::StrCat("org.anomalies.", name, ".on"),
                    absl::StrCat("approve needs approvers for agent ",
                                 id.value_or(p),
                                 ": set approvals.approvers on the agent or "
                                 "its department"));
            }
          }
          for (const auto& [rule, what] : agent.rules.on_violation) {
            if (what == OnViolation::kApprove && !approvers) {
              need_approvers(
                  Join(Join(Join(p, "rules"), "on_violation"), rule));
            }
          }
          for (const char* key : {"limits", "destination_limits"}) {
            const std::vector<Limit>& limits = std::string(key) == "limits"
                                                   ? agent.limits
                                                   : agent.destination_limits;
            for (size_t i = 0; i < limits.size(); ++i) {
              if (limits[i].on_violation == OnViolation::kApprove &&
                  !approvers) {
                need_approvers(Join(Index(Join(p, key), i), "on_violation"));
              }
            }
          }
          ForEachMap(
              n["wallets"], Join(p, "wallets"), false,
              [&](const YAML::Node& w, const std::string& wp) {
                CheckKeys(w, wp,
                          {"id", "vendor", "chain", "address", "vendor_id",
                           "limits", "rules"});
                Wallet wallet;
                std::optional<std::string> wid = Id(w, wp, "id");
                std::optional<std::string> vendor =
                    Scalar(w, wp, "vendor", true);
                std::optional<std::string> chain = Id(w, wp, "chain");
                std::optional<std::string> address =
                    Scalar(w, wp, "address", true);
                if (vendor && !Vendors().contains(*vendor)) {
                  Error(Join(wp, "vendor"),
                        absl::StrCat("unknown vendor ", Quote(*vendor),
                                     " (use local, metamask, cdp or privy)"));
                  vendor.reset();
                }
                if (address && address->empty()) {
                  Error(Join(wp, "address"), "must not be empty");
                  address.reset();
                }
                std::optional<std::string> vendor_id =
                    Scalar(w, wp, "vendor_id", false);
                if (!wid || !vendor || !chain || !address || !id) return;
                wallet = {*wid,
                          *id,
                          *vendor,
                          *chain,
                          *address,
                          vendor_id.value_or(""),
                          ParseLimits(w["limits"], Join(wp, "limits"))};
                ParseRules(w["rules"], Join(wp, "rules"), *policy,
                           &wallet.rules, RulesOf::kWallet);
                if (!policy->wallets.emplace(*wid, wallet).second) {
                  Error(Join(wp, "id"),
                        absl::StrCat("duplicate wallet ", Quote(*wid)));
                  return;
                }
                // One key, one wallet: two ids for one address would be two
                // sets of limits (and freezes) for the same money.
                const auto [it, fresh] = wallet_by_address_.emplace(
                    RetiredAddressScope(*chain, *address), *wid);
                if (!fresh) {
                  Error(Join(wp, "address"),
                        absl::StrCat("is already wallet ", Quote(it->second),
                                     "'s address on ", *chain,
                                     " (one address, one wallet)"));
                }
                agent.wallet_ids.push_back(*wid);
              });
          if (!id || !dept) return;
          agent.id = *id;
          agent.department = *dept;
          if (!policy->agents.emplace(agent.id, std::move(agent)).second) {
            Error(Join(p, "id"), absl::StrCat("duplicate agent ", Quote(*id)));
          }
        });
  }

  std::vector<std::string> errors_;
  // "<chain>:<contract or native>" → the path of the asset declaring it.
  absl::flat_hash_map<std::string, std::string> asset_at_;
  // RetiredAddressScope(chain, address) → wallet id.
  absl::flat_hash_map<std::string, std::string> wallet_by_address_;
  // (path, agent id) of every "agent/<id>" approver, checked at the end.
  std::vector<std::pair<std::string, std::string>> agent_approvers_;
};

std::string DescribeLimit(const Limit& l) {
  static constexpr const char* kEscalations[] = {"", ", on_violation approve",
                                                 ", on_violation notify"};
  return absl::StrCat(
      l.kind == Limit::Kind::kUsd
          ? absl::StrCat("usd ", FormatUsdDecimal(l.usd), " per ",
                         l.window.spec)
          : absl::StrCat("count ", l.count, " per ", l.window.spec),
      kEscalations[static_cast<int>(l.on_violation)]);
}

void FlattenLimits(const std::string& prefix, const std::vector<Limit>& limits,
                   std::map<std::string, std::string>* out,
                   const std::string& key = "limits") {
  for (const Limit& l : limits) {
    (*out)[absl::StrCat(prefix, ".", key, ".", l.name)] = DescribeLimit(l);
  }
}

void FlattenApprovals(const std::string& prefix,
                      const std::optional<ApprovalTiers>& tiers,
                      std::map<std::string, std::string>* out) {
  if (!tiers) return;
  const std::string p = absl::StrCat(prefix, ".approvals");
  auto thresholds = [&](const std::string& q, const TierThresholds& t) {
    for (Tier tier : {Tier::kNotify, Tier::kDelay, Tier::kApproval}) {
      if (std::optional<UsdMicros> usd = t.Of(tier)) {
        (*out)[absl::StrCat(q, ".", TierName(tier), "_above_usd")] =
            FormatUsdDecimal(*usd);
      }
    }
  };
  thresholds(p, tiers->per_tx);
  if (tiers->window) {
    const std::string c = absl::StrCat(p, ".cumulative");
    (*out)[c + ".window"] = tiers->window->spec;
    thresholds(c, tiers->cumulative);
  }
  (*out)[p + ".delay"] = absl::FormatDuration(tiers->delay);
  (*out)[p + ".approvers"] =
      absl::StrCat("[", absl::StrJoin(tiers->approvers, ", "), "]");
  (*out)[p + ".approvals_required"] = absl::StrCat(tiers->approvals_required);
  (*out)[p + ".approval_timeout"] =
      absl::FormatDuration(tiers->approval_timeout);
}

void FlattenSchedule(const std::string& p,
                     const std::optional<Schedule>& schedule,
                     std::map<std::string, std::string>* out) {
  if (schedule) (*out)[p + ".schedule"] = schedule->Describe();
}

std::string DescribeList(const std::optional<std::vector<std::string>>& list) {
  if (!list) return "any";
  return absl::StrCat("[", absl::StrJoin(*list, ", "), "]");
}

// The caps and lists of an org's, department's, wallet's, chain's or
// asset's rules at path `p`: only what is set.
void FlattenScopeRules(const std::string& p, const AgentRules& r,
                       std::map<std::string, std::string>* out) {
  if (r.per_tx_max_usd) {
    (*out)[p + ".per_tx_max_usd"] = FormatUsdDecimal(*r.per_tx_max_usd);
  }
  if (r.chains) (*out)[p + ".chains"] = DescribeList(r.chains);
  if (r.assets) (*out)[p + ".assets"] = DescribeList(r.assets);
  if (r.destinations_allow) {
    (*out)[p + ".destinations_allow"] = DescribeList(r.destinations_allow);
  }
  for (const std::string& d : r.destinations_deny) {
    (*out)[absl::StrCat(p, ".destinations_deny.", d)] = "denied";
  }
  if (r.x402_domains)
    (*out)[p + ".x402_domains"] = DescribeList(r.x402_domains);
}

// Every setting of a policy as "path" -> "value", keyed by ids rather than
// list positions so that reordering a bundle is not a change.
std::map<std::string, std::string> Flatten(const Policy& p) {
  std::map<std::string, std::string> out;
  out["org.id"] = p.org.id;
  out["org.timezone"] = p.org.timezone_name;
  out["org.expired_holds"] =
      p.org.expired_holds == ExpiredHolds::kCount ? "count" : "release";
  out["org.hold_ttl"] = absl::FormatDuration(p.org.hold_ttl);
  FlattenLimits("org", p.org.limits, &out);
  for (const auto& [chain, limits] : p.org.chain_limits) {
    FlattenLimits("org", limits, &out, absl::StrCat("chain_limits.", chain));
  }
  for (const auto& [asset, limits] : p.org.asset_limits) {
    FlattenLimits("org", limits, &out, absl::StrCat("asset_limits.", asset));
  }
  FlattenLimits("org", p.org.destination_limits, &out, "destination_limits");
  for (const std::string& d : p.org.destinations_deny) {
    out[absl::StrCat("org.destinations_deny.", d)] = "denied";
  }
  if (p.org.default_deny) out["org.default"] = "deny";
  if (const std::optional<PolicyChangeRule>& pc = p.org.policy_changes) {
    out["org.policy_changes.approvers"] =
        absl::StrCat("[", absl::StrJoin(pc->approvers, ", "), "]");
    out["org.policy_changes.approvals_required"] =
        absl::StrCat(pc->approvals_required);
    out["org.policy_changes.expires_after"] =
        absl::FormatDuration(pc->expires_after);
  }
  if (const auto& s = p.org.anomalies.split) {
    out["org.anomalies.split"] = absl::StrCat(s->spends, " spends within ",
                                              absl::FormatDuration(s->within),
                                              ", on ", OnViolationName(s->on));
  }
  if (const auto& v = p.org.anomalies.volume_spike) {
    out["org.anomalies.volume_spike"] = absl::StrCat(
        v->times, "x the daily average, on ", OnViolationName(v->on));
  }
  if (const auto& n = p.org.anomalies.new_destinations) {
    out["org.anomalies.new_destinations"] = absl::StrCat(
        "over ", n->count, " within ", absl::FormatDuration(n->within), ", on ",
        OnViolationName(n->on));
  }
  if (!p.org.alert_thresholds.empty()) {
    out["org.budget_alerts.thresholds"] =
        absl::StrCat("[", absl::StrJoin(p.org.alert_thresholds, ", "), "]");
  }
  FlattenScopeRules("org.rules", p.org.rules, &out);
  for (const auto& [chain, rules] : p.org.chain_rules) {
    FlattenScopeRules(absl::StrCat("org.chain_rules.", chain), rules, &out);
  }
  for (const auto& [asset, rules] : p.org.asset_rules) {
    FlattenScopeRules(absl::StrCat("org.asset_rules.", asset), rules, &out);
  }
  FlattenSchedule("org", p.org.schedule, &out);
  for (const auto& [id, dept] : p.departments) {
    out[absl::StrCat("departments.", id)] =
        dept.parent.empty() ? "department"
                            : absl::StrCat("department of ", dept.parent);
    FlattenLimits(absl::StrCat("departments.", id), dept.limits, &out);
    FlattenApprovals(absl::StrCat("departments.", id), dept.approvals, &out);
    FlattenSchedule(absl::StrCat("departments.", id), dept.schedule, &out);
    FlattenScopeRules(absl::StrCat("departments.", id, ".rules"), dept.rules,
                      &out);
  }
  for (const auto& [id, agent] : p.agents) {
    const std::string a = absl::StrCat("agents.", id);
    out[a + ".department"] = agent.department;
    FlattenLimits(a, agent.limits, &out);
    FlattenLimits(a, agent.destination_limits, &out, "destination_limits");
    FlattenApprovals(a, agent.approvals, &out);
    const AgentRules& r = agent.rules;
    if (r.per_tx_max_usd) {
      out[a + ".rules.per_tx_max_usd"] = FormatUsdDecimal(*r.per_tx_max_usd);
    }
    out[a + ".rules.chains"] = DescribeList(r.chains);
    out[a + ".rules.assets"] = DescribeList(r.assets);
    out[a + ".rules.destinations_allow"] = DescribeList(r.destinations_allow);
    for (const std::string& d : r.destinations_deny) {
      out[absl::StrCat(a, ".rules.destinations_deny.", d)] = "denied";
    }
    FlattenSchedule(a + ".rules", r.schedule, &out);
    if (r.new_address) out[a + ".rules.new_address"] = r.new_address->spec;
    if (r.drain_all_percent) {
      out[a + ".rules.drain_all"] = absl::StrCat(*r.drain_all_percent, "%");
    }
    if (r.x402_domains) {
      out[a + ".rules.x402_domains"] = DescribeList(r.x402_domains);
    }
    for (const ContractRule& c : r.contracts) {
      for (const MethodRule& m : c.methods) {
        std::vector<std::string> where;
        for (const ArgCondition& w : m.where) where.push_back(w.text);
        out[absl::StrCat(a, ".rules.contracts.", c.chain, ":", c.address, ".",
                         m.signature)] =
            where.empty() ? "allowed"
                          : absl::StrCat("where ", absl::StrJoin(where, "; "));
      }
    }
    for (const SpenderRule& sp : r.approved_spenders) {
      out[absl::StrCat(a, ".rules.approved_spenders.", sp.spender, ":",
                       sp.asset.value_or("*"))] =
          sp.unlimited ? "unlimited"
          : sp.max_usd
              ? absl::StrCat("max_usd ", FormatUsdDecimal(*sp.max_usd))
              : absl::StrCat(
                    "max ", FormatTokenAmount(sp.max_units.value_or(0),
                                              p.assets.at(*sp.asset).decimals));
    }
    for (const auto& [rule, what] : r.on_violation) {
      static constexpr const char* kNames[] = {"deny", "approve", "notify"};
      out[absl::StrCat(a, ".rules.on_violation.", rule)] =
          kNames[static_cast<int>(what)];
    }
  }
  for (const auto& [id, w] : p.wallets) {
    out[absl::StrCat("wallets.", id)] = absl::StrCat(
        "agent ", w.agent_id, ", ", w.vendor, " on ", w.chain, ", ", w.address,
        w.vendor_id.empty() ? "" : absl::StrCat(" (", w.vendor_id, ")"));
    FlattenLimits(absl::StrCat("wallets.", id), w.limits, &out);
    FlattenScopeRules(absl::StrCat("wallets.", id, ".rules"), w.rules, &out);
  }
  for (const auto& [symbol, asset] : p.assets) {
    out[absl::StrCat("assets.", symbol)] = absl::StrCat(
        "decimals ", asset.decimals,
        asset.feed.kind != PriceFeed::Kind::kFixed
            ? absl::StrCat(", price from ", asset.feed.Describe(), ", max_age ",
                           absl::FormatDuration(asset.feed.max_age))
            : absl::StrCat(", price_usd ", asset.price_usd
                                               ? FormatPrice(*asset.price_usd)
                                               : "unset"),
        asset.chains.empty() ? "" : ", on ",
        absl::StrJoin(asset.chains, ", ", absl::PairFormatter(" ")));
  }
  return out;
}

}  // namespace

absl::StatusOr<Policy> ParseBundle(absl::string_view yaml) {
  return BundleParser().Parse(yaml);
}

std::vector<ComparedCap> ComparedCaps(const Policy& p) {
  std::vector<ComparedCap> out;
  auto limits = [&](const std::string& prefix, const std::vector<Limit>& ls) {
    for (const Limit& l : ls) {
      const bool usd = l.kind == Limit::Kind::kUsd;
      out.push_back({absl::StrCat(prefix, ".", l.name, usd ? ".usd" : ".count"),
                     usd, usd ? l.usd : l.count});
    }
  };
  auto tiers = [&](const std::string& prefix,
                   const std::optional<ApprovalTiers>& t) {
    if (!t || !t->window) return;
    for (Tier tier : {Tier::kNotify, Tier::kDelay, Tier::kApproval}) {
      if (std::optional<UsdMicros> usd = t->cumulative.Of(tier)) {
        out.push_back({absl::StrCat(prefix, ".approvals.cumulative.",
                                    TierName(tier), "_above_usd"),
                       true, *usd});
      }
    }
  };
  limits("org.limits", p.org.limits);
  for (const auto& [chain, ls] : p.org.chain_limits) {
    limits(absl::StrCat("org.chain_limits.", chain), ls);
  }
  for (const auto& [asset, ls] : p.org.asset_limits) {
    limits(absl::StrCat("org.asset_limits.", asset), ls);
  }
  limits("org.destination_limits", p.org.destination_limits);
  for (const auto& [id, dept] : p.departments) {
    limits(absl::StrCat("departments.", id, ".limits"), dept.limits);
    tiers(absl::StrCat("departments.", id), dept.approvals);
  }
  for (const auto& [id, agent] : p.agents) {
    limits(absl::StrCat("agents.", id, ".limits"), agent.limits);
    limits(absl::StrCat("agents.", id, ".destination_limits"),
           agent.destination_limits);
    tiers(absl::StrCat("agents.", id), agent.approvals);
  }
  for (const auto& [id, w] : p.wallets) {
    limits(absl::StrCat("wallets.", id, ".limits"), w.limits);
  }
  return out;
}

std::vector<std::string> DiffPolicies(const Policy& before,
                                      const Policy& after) {
  const std::map<std::string, std::string> a = Flatten(before);
  const std::map<std::string, std::string> b = Flatten(after);
  std::vector<std::string> diff;
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      diff.push_back(absl::StrCat("- ", ia->first, ": ", ia->second));
      ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      diff.push_back(absl::StrCat("+ ", ib->first, ": ", ib->second));
      ++ib;
    } else {
      if (ia->second != ib->second) {
        diff.push_back(absl::StrCat("~ ", ia->first, ": ", ia->second, " -> ",
                                    ib->second));
      }
      ++ia;
      ++ib;
    }
  }
  return diff;
}

std::vector<std::string> BoundedDiff(std::vector<std::string> diff) {
  const size_t total = diff.size();
  if (total > kMaxDiffLines) diff.resize(kMaxDiffLines);
  for (std::string& line : diff) {
    if (line.size() > kMaxDiffLineBytes) {
      // Cut on a UTF-8 character boundary: the line goes out in protobuf.
      size_t cut = kMaxDiffLineBytes - 3;
      while (cut > 0 &&
             (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) {
        --cut;
      }
      line.resize(cut);
      line += "...";
    }
  }
  if (total > kMaxDiffLines) {
    diff.push_back(absl::StrCat("... and ", total - kMaxDiffLines,
                                " more changes (get-bundle shows the whole "
                                "version)"));
  }
  return diff;
}

}  // namespace warden
