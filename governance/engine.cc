#include "governance/engine.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "governance/address.h"
#include "governance/anomalies.h"
#include "governance/calldata.h"
#include "governance/credentials.h"
#include "governance/engine_internal.h"
#include "governance/evaluation.h"
#include "governance/explain.h"
#include "governance/keccak.h"
#include "governance/money.h"
#include "governance/quote.h"
#include "governance/status_macros.h"
#include "governance/x402.h"

namespace warden {
namespace {

bool SameRequest(const Authorization& first, const Authorization& retry) {
  return first.agent_id == retry.agent_id &&
         first.wallet_id == retry.wallet_id && first.asset == retry.asset &&
         first.amount == retry.amount &&
         first.destination == retry.destination &&
         first.contract == retry.contract &&
         first.calldata_hash == retry.calldata_hash &&
         first.x402_resource == retry.x402_resource;
}

// Reads a contract call (see AuthorizeRequest.calldata): what it is, and
// what it moves, checked against the request's asset and amount (`amount`
// is set from the calldata for a token transfer).
absl::StatusOr<abi::Call> ReadCall(const Policy& policy, const Wallet& wallet,
                                   const AuthorizeInput& in,
                                   absl::string_view calldata,
                                   absl::uint128* amount) {
  using engine_internal::FieldError;
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  if (in.destination.empty()) {
    return FieldError(kInvalid, "destination",
                      "is required with calldata: the contract called");
  }
  if (wallet.chain == "solana") {
    return FieldError(kInvalid, "calldata",
                      absl::StrCat("contract calls are for EVM chains; wallet ",
                                   wallet.id, " is on solana"));
  }
  WARDEN_ASSIGN_OR_RETURN(
      abi::Call call,
      abi::Classify(policy, wallet.chain, in.destination, calldata));
  const bool amount_given = !in.amount.empty();
  switch (call.kind) {
    case abi::Call::Kind::kTokenTransfer:
      if (!call.amount.FitsIn128()) {
        return FieldError(
            kInvalid, "calldata",
            absl::StrCat(call.method, " moves more than 2^128-1 base units"));
      }
      if (amount_given && *amount != call.amount.low) {
        return FieldError(
            kInvalid, "amount",
            absl::StrCat(FormatBaseUnits(*amount), ", but the calldata's ",
                         call.method, " moves ",
                         FormatBaseUnits(call.amount.low),
                         " (leave amount empty to take the calldata's)"));
      }
      *amount = call.amount.low;
      break;
    case abi::Call::Kind::kApproval:
      if (*amount != 0) {
        return FieldError(kInvalid, "amount",
                          absl::StrCat(call.method,
                                       " moves nothing now; leave amount "
                                       "empty or 0 (the approved amount is "
                                       "in the calldata)"));
      }
      break;
    case abi::Call::Kind::kOther: {
      auto asset = policy.assets.find(in.asset);
      auto where = asset == policy.assets.end()
                       ? std::map<std::string, std::string>::const_iterator()
                       : asset->second.chains.find(wallet.chain);
      if (asset == policy.assets.end() || where == asset->second.chains.end() ||
          where->second != kNativeAsset) {
        return FieldError(
            kInvalid, "asset",
            absl::StrCat("a call to ", call.contract,
                         " sends the native coin of ", wallet.chain,
                         " (amount may be 0); ", Quote(in.asset),
                         " is not declared as it (chains: {", wallet.chain,
                         ": native})"));
      }
      return call;
    }
  }
  // The token's symbol, when declared (an undeclared Permit2 token is
  // refused by the rules, and recorded under the request's asset).
  if (call.asset != nullptr && in.asset != call.token) {
    return FieldError(
        kInvalid, "asset",
        absl::StrCat(Quote(in.asset), ", but the calldata's ", call.method,
                     " is of ", call.token, " (contract ", call.contract, ")"));
  }
  return call;
}

// The drain_all guard line: reads what the wallet holds of the asset and
// adds a DRAIN_ALL violation to `a` if the spend drains it (or the node
// did not answer), or a note saying why it could not be checked (no node
// for the chain, or no address for the asset there).
void CheckDrain(BalanceSource* balances, const Agent& agent,
                const Wallet& wallet, const Asset& asset, Authorization* a,
                std::vector<std::string>* notes) {
  if (!agent.rules.drain_all_percent || a->amount == 0) return;
  const auto token = asset.chains.find(wallet.chain);
  absl::StatusOr<absl::uint128> units =
      balances == nullptr
          ? absl::NotFoundError("no chain node configured (--chain-rpc)")
      : token == asset.chains.end()
          ? absl::NotFoundError(absl::StrCat("asset ", a->asset,
                                             " has no address on ",
                                             wallet.chain, " in the bundle"))
          : balances->Balance(wallet.chain, wallet.address, token->second);
  if (absl::IsNotFound(units.status())) {
    notes->push_back(
        absl::StrCat("drain_all not checked: ", units.status().message()));
    return;
  }
  eval::WalletBalance balance;
  if (units.ok()) {
    balance.units = *units;
  } else {
    balance.error = std::string(units.status().message());
  }
  if (std::optional<Violation> v =
          eval::DrainViolation(*a, agent, balance, asset.decimals)) {
    a->violations.push_back(*std::move(v));
  }
}

// How far in the future a live price's update time may be (the source's
// clock against ours) before it is refused.
constexpr absl::Duration kMaxPriceClockSkew = absl::Minutes(1);

// The asset valued at its live price as of `now` (`a` records the price,
// its source and time), or why there is none, as a PRICE_STALE reason: the
// feed could not be read, or its price is older than max_age. Never the
// last price known, nor the bundle's.
absl::StatusOr<Asset> LivePriced(PriceSource* prices, const Asset& asset,
                                 absl::Time now, Authorization* a) {
  const PriceFeed& feed = asset.feed;
  absl::StatusOr<PriceReading> reading =
      prices == nullptr
          ? absl::FailedPreconditionError(
                "this wardend reads no live prices (--chain-rpc, --price-file)")
          : prices->Read(asset.symbol, feed);
  auto time = [](absl::Time t) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
  };
  std::string problem;
  if (!reading.ok()) {
    problem = absl::StrCat("could not be read: ", reading.status().message());
  } else if (now - reading->updated_at > feed.max_age) {
    problem = absl::StrCat("is ",
                           absl::FormatDuration(absl::Trunc(
                               now - reading->updated_at, absl::Seconds(1))),
                           " old (updated ", time(reading->updated_at),
                           "), over its max_age of ",
                           absl::FormatDuration(feed.max_age));
  } else if (reading->updated_at - now > kMaxPriceClockSkew) {
    problem = absl::StrCat("says it was updated at ", time(reading->updated_at),
                           ", in the future");
  } else if (absl::Status usable = CheckPrice(reading->price, asset.decimals);
             !usable.ok()) {
    problem = absl::StrCat("reads ", FormatPrice(reading->price), ": ",
                           usable.message());
  }
  if (!problem.empty()) {
    return absl::UnavailableError(absl::StrCat("the price of ", asset.symbol,
                                               " from ", feed.Describe(), " ",
                                               problem));
  }
  Asset priced = asset;
  priced.price_usd = reading->price;
  a->price_source = feed.Describe();
  a->price_at = reading->updated_at;
  return priced;
}

}  // namespace

using engine_internal::CheckId;
using engine_internal::CheckLength;
using engine_internal::FieldError;
using engine_internal::NewId;
using eval::ApplyTier;
using eval::CheckRules;
using eval::CollectLimits;
using eval::CrossedTier;
using eval::CumulativeTierChecks;
using eval::Escalate;
using eval::PathLimits;
using eval::PerTransactionTier;
using eval::RefusalViolations;
using eval::RuleViolation;
using eval::Stricter;
using eval::TierCheck;
using eval::TierChoice;
using eval::WithEscalation;

Engine::Engine(ConfigStore* config, BudgetStore* budgets, AuditLog* audit,
               FreezeStore* freezes, const Clock* clock, EngineHooks hooks)
    : config_(config),
      budgets_(budgets),
      audit_(audit),
      freezes_(freezes),
      hooks_(hooks),
      clock_(clock) {}

Engine::~Engine() {
  std::thread checker;
  {
    absl::MutexLock lock(&check_mu_);
    checks_stopping_ = true;
    checker = std::move(checker_);
  }
  if (checker.joinable()) checker.join();  // It answers what is queued.
}

absl::StatusOr<std::string> Engine::ResolveOrg(const std::string& org_id) {
  if (!org_id.empty()) return org_id;
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  if (orgs.size() == 1) return orgs[0];
  return FieldError(absl::StatusCode::kInvalidArgument, "org_id",
                    orgs.empty() ? "no policy bundle has been applied yet"
                                 : "is required: this server serves several "
                                   "orgs");
}

absl::StatusOr<std::shared_ptr<const Policy>> Engine::ResolvePolicy(
    const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  absl::StatusOr<std::shared_ptr<const Policy>> policy = config_->Active(org);
  if (absl::IsNotFound(policy.status())) {
    return FieldError(absl::StatusCode::kNotFound, "org_id",
                      absl::StrCat("unknown org ", Quote(org)));
  }
  return policy;
}

absl::StatusOr<AuthorizeOutput> Engine::Authorize(const AuthorizeInput& in) {
  absl::StatusOr<AuthorizeOutput> out;
  absl::Notification answered;
  AuthorizeAsync(in, [&](absl::StatusOr<AuthorizeOutput> r) {
    out = std::move(r);
    answered.Notify();
  });
  answered.WaitForNotification();
  return out;
}

void Engine::AuthorizeAsync(
    const AuthorizeInput& in,
    std::function<void(absl::StatusOr<AuthorizeOutput>)> done) {
  absl::StatusOr<Decided> decided = Decide(in);
  if (!decided.ok()) return done(decided.status());
  if (decided->replayed) {
    return AnswerReplay(in, std::move(decided->a), std::move(done));
  }
  const AuditEvent event =
      AuditEvent::ForAuthorization(AuditEvent::Type::kAuthorizationDecided,
                                   decided->now, decided->actor, decided->a);
  // Set while AppendAsync has not returned: a log that answers on the
  // caller's thread (at once) has its hold checked there too.
  auto appending = std::make_shared<std::atomic<bool>>(true);
  audit_->AppendAsync(
      event, [this, d = std::make_shared<Decided>(*std::move(decided)),
              done = std::move(done), appending](absl::Status audited) {
        Answer answer = [this, id = d->a.id, recorded = audited.ok(),
                         done](absl::StatusOr<AuthorizeOutput> out) {
          for (Answer& waiting : Landed(id, recorded)) {
            if (out.ok()) {
              waiting(AuthorizeOutput{out->authorization, true});
            } else {
              waiting(out.status());
            }
          }
          done(std::move(out));
        };
        absl::StatusOr<AuthorizeOutput> out = Conclude(std::move(*d), audited);
        if (!out.ok()) return answer(std::move(out));
        AsItStands(*std::move(out), std::move(answer), !*appending);
      });
  *appending = false;
}

void Engine::AsItStands(AuthorizeOutput out, Answer then, bool batch) {
  if (out.authorization.status != AuthorizationStatus::kHeld) {
    return then(std::move(out));
  }
  if (!batch) {
    std::vector<HoldCheck> one;
    one.push_back({std::move(out), std::move(then)});
    return AnswerChecks(one);
  }
  absl::MutexLock lock(&check_mu_);
  if (!checker_.joinable()) checker_ = std::thread([this] { CheckLoop(); });
  checks_.push_back({std::move(out), std::move(then)});
}

void Engine::CheckLoop() {
  while (true) {
    std::vector<HoldCheck> batch;
    {
      absl::MutexLock lock(&check_mu_);
      check_mu_.Await(absl::Condition(
          +[](Engine* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->check_mu_) {
            return self->checks_stopping_ || !self->checks_.empty();
          },
          this));
      if (checks_.empty()) return;  // Stopping, and nothing is left.
      batch.swap(checks_);
    }
    AnswerChecks(batch);
  }
}

void Engine::AnswerChecks(std::vector<HoldCheck>& batch) {
  std::map<std::string, std::vector<HoldCheck*>> by_org;
  for (HoldCheck& c : batch) {
    by_org[c.out.authorization.org_id].push_back(&c);
  }
  for (auto& [org, checks] : by_org) {
    std::vector<std::string> ids;
    for (const HoldCheck* c : checks) ids.push_back(c->out.authorization.id);
    absl::StatusOr<std::vector<std::optional<AuthorizationStatus>>> now =
        budgets_->StatusesOf(org, ids);
    for (size_t i = 0; i < checks.size(); ++i) {
      HoldCheck& c = *checks[i];
      const Authorization& a = c.out.authorization;
      if (now.ok() && (*now)[i] == AuthorizationStatus::kHeld) {
        c.then(std::move(c.out));
        continue;
      }
      // Voided (a freeze, on any replica) or ended while its record was
      // being written: answered as a replay would, never as a live hold.
      absl::StatusOr<Authorization> ended =
          now.ok() ? budgets_->Get(org, a.id) : now.status();
      if (!ended.ok()) {
        c.then(absl::UnavailableError(absl::StrCat(
            "decision ", a.id,
            " is recorded, but whether its hold still stands cannot be "
            "read (",
            ended.status().message(), "); retry with the same key")));
        continue;
      }
      c.then(AuthorizeOutput{Replay(*std::move(ended)), false});
    }
  }
}

void Engine::AnswerReplay(const AuthorizeInput& in, Authorization a,
                          Answer done) {
  std::string refused;
  {
    absl::MutexLock lock(&flight_mu_);
    auto it = recording_.find(a.id);
    if (it != recording_.end()) {
      it->second.push_back(std::move(done));
      return;  // Answered when the first request is.
    }
    if (unrecorded_.contains(a.id)) {
      refused = "its audit record could not be written, so it was undone";
    }
  }
  if (refused.empty()) {
    absl::StatusOr<AuditLog::Recording> recorded =
        audit_->Recorded(a.org_id, a.id, a.created_at);
    if (!recorded.ok()) {
      refused =
          absl::StrCat("the audit log cannot say whether it is recorded (",
                       recorded.status().message(), ")");
    } else if (*recorded == AuditLog::Recording::kInFlight) {
      refused =
          "it is not recorded yet (its first request is still being "
          "recorded by another replica, or failed)";
    } else if (*recorded == AuditLog::Recording::kNever) {
      // Its writer failed or died before it was recorded: nobody was told
      // of it. Release its hold and decide afresh.
      absl::Status undone = budgets_->Abandon(a.org_id, a.id);
      if (undone.ok()) return AuthorizeAsync(in, std::move(done));
      refused =
          absl::StrCat("it was never recorded, and releasing its hold failed (",
                       undone.message(), ")");
    }
  }
  if (!refused.empty()) {
    return done(absl::UnavailableError(absl::StrCat(
        "idempotency_key ", Quote(a.idempotency_key),
        ": the first request's decision ", a.id,
        " cannot be replayed: ", refused, "; retry with the same key")));
  }
  done(AuthorizeOutput{std::move(a), true});
}

std::vector<Engine::Answer> Engine::Landed(const std::string& id,
                                           bool recorded) {
  absl::MutexLock lock(&flight_mu_);
  auto it = recording_.find(id);
  if (it == recording_.end()) return {};
  std::vector<Answer> waiting = std::move(it->second);
  recording_.erase(it);
  if (!recorded) {
    if (unrecorded_order_.size() >= kMaxUnrecorded) {
      unrecorded_.erase(unrecorded_order_.front());
      unrecorded_order_.pop_front();
    }
    unrecorded_.insert(id);
    unrecorded_order_.push_back(id);
  }
  return waiting;
}

absl::StatusOr<Engine::Decided> Engine::Decide(const AuthorizeInput& in) {
  const absl::Time now = clock_->Now();
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(in.org_id));
  const Org& org = policy->org;

  WARDEN_RETURN_IF_ERROR(CheckId("agent_id", in.agent_id));
  WARDEN_RETURN_IF_ERROR(CheckId("wallet_id", in.wallet_id));
  WARDEN_RETURN_IF_ERROR(CheckId("asset", in.asset));
  auto agent_it = policy->agents.find(in.agent_id);
  if (agent_it == policy->agents.end()) {
    return FieldError(
        absl::StatusCode::kNotFound, "agent_id",
        absl::StrCat("unknown agent ", Quote(in.agent_id), " in org ", org.id));
  }
  const Agent& agent = agent_it->second;
  if (in.wallet_id.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "wallet_id",
                      "is required");
  }
  auto wallet_it = policy->wallets.find(in.wallet_id);
  if (wallet_it == policy->wallets.end()) {
    return FieldError(absl::StatusCode::kNotFound, "wallet_id",
                      absl::StrCat("unknown wallet ", Quote(in.wallet_id),
                                   " in org ", org.id));
  }
  const Wallet& wallet = wallet_it->second;
  if (wallet.agent_id != agent.id) {
    return FieldError(
        absl::StatusCode::kInvalidArgument, "wallet_id",
        absl::StrCat("wallet ", Quote(wallet.id), " belongs to agent ",
                     Quote(wallet.agent_id), ", not ", Quote(agent.id)));
  }
  // A contract call may leave `amount` empty: the calldata says it.
  absl::StatusOr<absl::uint128> amount =
      in.amount.empty() && !in.calldata.empty() ? absl::uint128(0)
                                                : ParseBaseUnits(in.amount);
  if (!amount.ok()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                      amount.status().message());
  }
  if (*amount == 0 && in.calldata.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                      "must be greater than zero");
  }
  WARDEN_RETURN_IF_ERROR(CheckLength("idempotency_key", in.idempotency_key,
                                     kMaxIdempotencyKeyBytes));
  WARDEN_RETURN_IF_ERROR(CheckLength("memo", in.memo, kMaxMemoBytes));
  if (!in.destination.empty()) {
    WARDEN_RETURN_IF_ERROR(
        ValidateAddress("destination", wallet.chain, in.destination));
  }
  if (!in.x402_resource.empty()) {
    if (!in.calldata.empty()) {
      return FieldError(absl::StatusCode::kInvalidArgument, "calldata",
                        "an x402 payment carries no calldata");
    }
    WARDEN_RETURN_IF_ERROR(
        x402::ResourceHost("resource", in.x402_resource).status());
  }
  WARDEN_ASSIGN_OR_RETURN(const std::string calldata,
                          abi::ParseHex("calldata", in.calldata));
  if (calldata.empty() && !in.calldata.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "calldata",
                      "0 bytes; a call starts with a 4-byte method selector");
  }
  std::optional<abi::Call> call;
  if (!calldata.empty()) {
    WARDEN_ASSIGN_OR_RETURN(call,
                            ReadCall(*policy, wallet, in, calldata, &*amount));
  }

  // The record is built in the request, so that reserving it copies
  // nothing.
  ReserveRequest request;
  request.zone = org.timezone;
  request.not_after = in.deadline;
  Authorization& a = request.authorization;
  a.id = NewId("az_");
  a.org_id = org.id;
  a.department_id = agent.department;
  a.agent_id = agent.id;
  a.wallet_id = wallet.id;
  a.chain = wallet.chain;
  a.asset = in.asset;
  a.amount = *amount;
  a.destination = in.destination;
  if (call) {
    a.contract = call->contract;
    a.method = call->method;
    a.calldata_hash = absl::BytesToHexString(absl::string_view(
        reinterpret_cast<const char*>(Keccak256(calldata).data()), 32));
    if (call->kind == abi::Call::Kind::kOther) {
      a.destination = call->contract;
      if (const MethodRule* m = eval::AllowedMethod(agent, wallet.chain, *call))
        a.method = m->signature;
    } else {
      a.destination = call->counterparty;
    }
  }
  a.x402_resource = in.x402_resource;
  a.memo = in.memo;
  a.idempotency_key = in.idempotency_key;
  if (IsValidTraceparent(in.traceparent)) a.traceparent = in.traceparent;
  a.policy_version = policy->version;
  a.on_expiry = org.expired_holds;
  a.created_at = now;

  auto asset_it = policy->assets.find(in.asset);
  const Asset* asset =
      asset_it == policy->assets.end() ? nullptr : &asset_it->second;
  // An asset with a live feed is valued at this decision's price, and so
  // are the approvals of it the calldata makes.
  std::optional<Asset> live;
  absl::Status stale;  // Why a live feed gave no price.
  if (asset != nullptr && asset->feed.kind != PriceFeed::Kind::kFixed) {
    absl::StatusOr<Asset> priced = LivePriced(hooks_.prices, *asset, now, &a);
    if (priced.ok()) {
      asset = &live.emplace(*std::move(priced));
      if (call && call->asset != nullptr) call->asset = asset;
    } else {
      stale = priced.status();
    }
  }
  const bool priced = asset != nullptr && asset->price_usd;
  if (priced) {
    absl::StatusOr<UsdMicros> usd =
        ValueInUsdMicros(a.amount, asset->decimals, *asset->price_usd);
    if (!usd.ok()) {
      return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                        usd.status().message());
    }
    a.amount_usd = *usd;
    a.price_usd = FormatPrice(*asset->price_usd);
  }

  PathLimits path =
      CollectLimits(*policy, agent, wallet, a.asset, a.destination, now);
  // Records of the plain org-department-agent-wallet path carry no list.
  if (path.scopes != ScopePath(a)) a.scope_path = path.scopes;
  a.violations =
      CheckRules(a, agent, *policy, priced, now, call ? &*call : nullptr);
  if (!stale.ok()) {
    a.violations.push_back(eval::RuleViolation(a, "PRICE_STALE", "price",
                                               std::string(stale.message())));
  }
  // What an approval exposes goes in its reason, whatever its tier, and so
  // does a guard line that could not be checked.
  std::vector<std::string> notes;
  if (call && call->kind == abi::Call::Kind::kApproval) {
    notes.push_back(eval::Exposure(*call));
  }
  if (asset != nullptr) {
    CheckDrain(hooks_.balances, agent, wallet, *asset, &a, &notes);
  }
  auto apply_tier = [&](const TierChoice& t) {
    ApplyTier(t, org, path.checks.size(), now, &a);
    for (const std::string& note : notes)
      absl::StrAppend(&a.reason, "; ", note);
  };
  // Rules whose on_violation escalates leave no violation but a tier.
  const std::optional<TierChoice> escalated =
      Escalate(&a.violations, agent, *policy);
  TierChoice tier;
  // Cumulative tier thresholds, checked with the limits; index i is
  // request.limits[path.checks.size() + i].
  std::vector<TierCheck> tier_checks;
  if (a.violations.empty()) {
    tier = WithEscalation(PerTransactionTier(a, *policy, agent), escalated);
    if (policy->org.anomalies.Any()) {
      WARDEN_ASSIGN_OR_RETURN(
          anomaly::Detection found,
          anomaly::Detect(*policy, agent, wallet, a, now,
                          [&](const std::vector<UsageQuery>& queries) {
                            return budgets_->Usage(org.id, queries, now);
                          }));
      for (anomaly::Finding& f : found.findings) {
        a.anomalies.push_back(f.code);
        if (Stricter(f.tier, tier)) {
          std::swap(f.tier, tier);
          if (f.tier.tier == Tier::kInstant) continue;
        }
        notes.push_back(std::move(f.tier.why));
      }
      if (found.new_destination) {
        path.scopes.push_back(anomaly::NewDestinationsScope(agent.id));
        a.scope_path = path.scopes;
      }
    }
    tier_checks = CumulativeTierChecks(*policy, agent, tier.tier, now);
    // Guard lines on the agent's limits, where they could raise the tier.
    for (const TierCheck& t : path.escalations) {
      if (t.tier > tier.tier) tier_checks.push_back(t);
    }
    apply_tier(tier);
  } else {
    a.decision = Decision::kDeny;
    a.status = AuthorizationStatus::kDenied;
    a.reason = DenyReason(a, &a.violations);
  }

  // In flight from before the record can be seen in the store until its
  // audit append lands (AuthorizeAsync), so that a same-key retry never
  // replays it before it is durable; taken out again here unless stored.
  {
    absl::MutexLock lock(&flight_mu_);
    recording_[a.id];
  }
  ReserveResult result;
  absl::Cleanup unless_stored = [&] {
    if (result.outcome != ReserveResult::Outcome::kReserved &&
        result.outcome != ReserveResult::Outcome::kRecorded) {
      absl::MutexLock lock(&flight_mu_);
      recording_.erase(a.id);
    }
  };
  // Each pass either reserves, or denies, or finds a stricter tier (at most
  // three times): a cumulative threshold counts as passed only when the
  // store, atomically with the reservation, says so.
  while (true) {
    request.retain_until =
        std::max(now + path.longest, a.hold_expires_at + org.hold_ttl) +
        kIdempotencyRetention;
    request.limits.clear();
    if (a.status == AuthorizationStatus::kHeld) {
      request.limits = path.checks;
      for (const TierCheck& t : tier_checks) request.limits.push_back(t.check);
    }
    WARDEN_ASSIGN_OR_RETURN(result, budgets_->Reserve(request));
    if (result.outcome != ReserveResult::Outcome::kOverLimit) break;
    std::optional<TierChoice> stricter;
    bool over_limit = false;
    for (const LimitUsage& usage : result.exceeded) {
      if (usage.limit_index < path.checks.size()) {
        over_limit = true;
        continue;
      }
      const TierCheck& t = tier_checks[usage.limit_index - path.checks.size()];
      TierChoice crossed = CrossedTier(t, usage.used, a.amount_usd);
      if (!stricter || Stricter(crossed, *stricter)) stricter = crossed;
    }
    if (over_limit || !stricter) break;
    tier = WithEscalation(*stricter, escalated);
    std::erase_if(tier_checks,
                  [&](const TierCheck& t) { return t.tier <= tier.tier; });
    apply_tier(tier);
  }
  if (result.outcome == ReserveResult::Outcome::kFrozen ||
      result.outcome == ReserveResult::Outcome::kOverLimit) {
    std::erase_if(result.exceeded, [&](const LimitUsage& u) {
      return u.limit_index >= path.checks.size();
    });
    a.violations = RefusalViolations(result, path, a, *policy);
    // Record the denial so that a retry with the same key gets it. A denied
    // spend sets off no anomaly.
    a.anomalies.clear();
    a.decision = Decision::kDeny;
    a.status = AuthorizationStatus::kDenied;
    a.hold_expires_at = absl::Time();
    a.release_at = absl::InfinitePast();
    a.approvals_required = 0;
    a.approvers.clear();
    a.reason = DenyReason(a, &a.violations);
    request.limits.clear();
    WARDEN_ASSIGN_OR_RETURN(result, budgets_->Reserve(request));
  }
  if (result.outcome == ReserveResult::Outcome::kDuplicate) {
    if (!SameRequest(result.authorization, a)) {
      return FieldError(
          absl::StatusCode::kFailedPrecondition, "idempotency_key",
          absl::StrCat(Quote(a.idempotency_key),
                       " was first used for a different request (",
                       result.authorization.id, ")"));
    }
    return Decided{.a = Replay(std::move(result.authorization)),
                   .replayed = true};
  }

  // Stored as `a` is (kReserved or kRecorded).
  std::vector<ThresholdCrossing> crossed;
  if (result.outcome == ReserveResult::Outcome::kReserved) {
    crossed = CrossedThresholds(*policy, path, result.used_before, a);
  }
  return Decided{.a = std::move(a),
                 .now = now,
                 .actor = in.actor,
                 .tier = tier.tier,
                 .crossed = std::move(crossed)};
}

absl::StatusOr<AuthorizeOutput> Engine::Conclude(Decided d,
                                                 const absl::Status& audited) {
  Authorization& a = d.a;
  if (!audited.ok()) {
    absl::Status undo = budgets_->Abandon(a.org_id, a.id);
    return absl::UnavailableError(absl::StrCat(
        "audit log unavailable, so no decision was made: ", audited.message(),
        undo.ok() ? ""
                  : absl::StrCat(" (and releasing the hold failed: ",
                                 undo.message(), "; it expires at its TTL)")));
  }
  if (a.decision != Decision::kDeny && d.tier != Tier::kInstant) {
    static constexpr const char* kEvents[] = {
        "", "spend.notify", "spend.delayed", "approval.requested"};
    Notify(kEvents[static_cast<int>(d.tier)], a, d.actor, a.reason);
  }
  if (!a.anomalies.empty()) Notify("anomaly.detected", a, d.actor, a.reason);
  if (hooks_.notifications != nullptr) {
    for (const Violation& v : a.violations) {
      if (!IsBreach(v)) continue;
      Notification n = MakeNotification(
          "budget.breach", a, d.actor,
          absl::StrCat("agent ", a.agent_id, " refused: ", v.message));
      n.limit = v;
      if (breaches_.Admit(n)) hooks_.notifications->Notify(n);
    }
    for (const ThresholdCrossing& c : d.crossed) {
      Notification n =
          MakeNotification("budget.threshold", a, d.actor, c.limit.message);
      n.limit = c.limit;
      n.threshold_percent = c.percent;
      hooks_.notifications->Notify(n);
    }
  }
  return AuthorizeOutput{std::move(a), false};
}

absl::Status Engine::AuditTransition(AuditEvent::Type type,
                                     const Authorization& a,
                                     const std::string& actor) {
  absl::Status st = audit_->Append(
      AuditEvent::ForAuthorization(type, clock_->Now(), actor, a));
  if (st.ok()) return st;
  return absl::UnavailableError(
      absl::StrCat("audit log unavailable: ", st.message(),
                   "; the change is made, retry to record it"));
}

absl::StatusOr<Authorization> Engine::Settle(const SettleInput& in) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(in.org_id));
  WARDEN_ASSIGN_OR_RETURN(Authorization held,
                          Get(org, in.authorization_id, in.owner));
  if (held.status == AuthorizationStatus::kHeld &&
      held.decision == Decision::kPendingApproval) {
    return FieldError(
        absl::StatusCode::kFailedPrecondition, "authorization_id",
        absl::StrCat(held.id, " is awaiting approval (", held.Approvals(),
                     " of ", held.approvals_required,
                     "); settle once it is ALLOW"));
  }
  if (held.status == AuthorizationStatus::kHeld &&
      held.decision == Decision::kDelayed) {
    return FieldError(absl::StatusCode::kFailedPrecondition, "authorization_id",
                      absl::StrCat(held.id, " is delayed until ",
                                   FormatInstant(held.release_at),
                                   "; settle after that, unless cancelled"));
  }
  absl::uint128 amount = held.amount;
  if (!in.amount.empty()) {
    absl::StatusOr<absl::uint128> parsed = ParseBaseUnits(in.amount);
    if (!parsed.ok()) {
      return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                        parsed.status().message());
    }
    if (*parsed > held.amount) {
      return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                        absl::StrCat(in.amount, " exceeds the held amount ",
                                     FormatBaseUnits(held.amount)));
    }
    amount = *parsed;
  }
  WARDEN_RETURN_IF_ERROR(CheckLength("tx_hash", in.tx_hash, 256));
  // The final value uses the price of the hold, scaled down and rounded up,
  // so settling never costs more than what was reserved. (A call that
  // moved nothing, an approval, held 0 and settles 0.)
  absl::StatusOr<absl::uint128> usd =
      held.amount == 0
          ? absl::uint128(0)
          : MulDivRoundUp(amount, absl::uint128(held.amount_usd), held.amount);
  if (!usd.ok()) return absl::InternalError("settled value out of range");
  WARDEN_ASSIGN_OR_RETURN(
      Authorization settled,
      budgets_->Settle(org, held.id, amount, static_cast<UsdMicros>(*usd),
                       in.tx_hash, clock_->Now()));
  WARDEN_RETURN_IF_ERROR(AuditTransition(
      AuditEvent::Type::kAuthorizationSettled, settled, in.actor));
  return Present(std::move(settled));
}

absl::StatusOr<Authorization> Engine::Void(const std::string& org_id,
                                           const std::string& authorization_id,
                                           const std::string& actor,
                                           const std::string& owner) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  WARDEN_RETURN_IF_ERROR(Get(org, authorization_id, owner).status());
  WARDEN_ASSIGN_OR_RETURN(Authorization voided,
                          budgets_->Void(org, authorization_id, clock_->Now()));
  WARDEN_RETURN_IF_ERROR(
      AuditTransition(AuditEvent::Type::kAuthorizationVoided, voided, actor));
  return Present(std::move(voided));
}

absl::StatusOr<Authorization> Engine::Get(const std::string& org_id,
                                          const std::string& authorization_id,
                                          const std::string& owner) {
  WARDEN_RETURN_IF_ERROR(CheckId("authorization_id", authorization_id));
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  absl::StatusOr<Authorization> a = budgets_->Get(org, authorization_id);
  if (absl::IsNotFound(a.status())) {
    return FieldError(absl::StatusCode::kNotFound, "authorization_id",
                      absl::StrCat("no authorization ", Quote(authorization_id),
                                   " in org ", org));
  }
  if (!a.ok()) return a.status();
  if (!owner.empty() && a->agent_id != owner) {
    return FieldError(absl::StatusCode::kPermissionDenied, "authorization_id",
                      absl::StrCat(authorization_id, " belongs to agent ",
                                   a->agent_id, ", not agent ", owner));
  }
  return Present(*std::move(a));
}

absl::StatusOr<Authorization> Engine::GetAsReplay(
    const std::string& org_id, const std::string& authorization_id) {
  WARDEN_ASSIGN_OR_RETURN(Authorization a, Get(org_id, authorization_id));
  return Replay(std::move(a));
}

absl::StatusOr<BudgetReport> Engine::BudgetStatus(const std::string& org_id,
                                                  const std::string& scope,
                                                  bool below,
                                                  const std::string& owner) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(org_id));
  if (!owner.empty()) {
    auto agent = policy->agents.find(owner);
    auto wallet = scope.rfind("wallet/", 0) == 0
                      ? policy->wallets.find(scope.substr(7))
                      : policy->wallets.end();
    const bool own =
        scope == absl::StrCat("agent/", owner) ||
        (wallet != policy->wallets.end() && wallet->second.agent_id == owner);
    if (agent == policy->agents.end() || !own) {
      return FieldError(
          absl::StatusCode::kPermissionDenied, "scope",
          absl::StrCat("agent ", owner, " may read only its own budget (agent/",
                       owner, ") and its wallets', not ", Quote(scope)));
    }
  }
  return warden::BudgetStatus(
      *policy, *budgets_,
      scope.empty() ? absl::StrCat("org/", policy->org.id) : scope, below,
      clock_->Now());
}

Authorization Engine::Present(Authorization a) const {
  a.decision = a.DecisionAt(clock_->Now());
  return a;
}

Authorization Engine::Replay(Authorization a) {
  const absl::Time now = clock_->Now();
  a = Present(std::move(a));
  if (a.status == AuthorizationStatus::kDenied ||
      (a.status == AuthorizationStatus::kHeld && now < a.hold_expires_at)) {
    return a;  // A denial, or a hold that is still live.
  }
  // Nothing is reserved under it any more: a caller that signed on this
  // answer would spend what no budget counts.
  std::string code, what;
  switch (a.status) {
    case AuthorizationStatus::kSettled:
      code = "ALREADY_SETTLED";
      what = absl::StrCat("was settled", a.tx_hash.empty() ? "" : " with tx ",
                          a.tx_hash, " for ", FormatUsd(a.settled_usd),
                          "; a replay never authorizes a second spend");
      break;
    case AuthorizationStatus::kVoided:
      code = "HOLD_VOIDED";
      what = absl::StrCat("was voided (", VoidCause(a), ")");
      break;
    default:  // EXPIRED, or HELD past its expiry and not swept yet.
      code = "HOLD_EXPIRED";
      what = absl::StrCat("expired at ", FormatInstant(a.hold_expires_at));
      break;
  }
  Violation v = RuleViolation(a, code, "idempotency_key",
                              absl::StrCat("replay of ", a.id, ": it ", what,
                                           "; nothing is reserved for it now"));
  a.decision = Decision::kDeny;
  a.violations = {std::move(v)};
  a.reason = DenyReason(a, &a.violations);
  return a;
}

std::string Engine::VoidCause(const Authorization& a) {
  for (const ApprovalVote& v : a.votes) {
    if (!v.approve) return absl::StrCat("rejected by ", v.approver);
  }
  if (absl::StatusOr<std::vector<FrozenScope>> frozen =
          freezes_->List(a.org_id);
      frozen.ok()) {
    const std::vector<std::string> path = ScopePath(a);
    for (const FrozenScope& f : *frozen) {
      if (std::find(path.begin(), path.end(), f.scope) != path.end()) {
        return absl::StrCat(f.scope, " is frozen: ", f.reason);
      }
    }
  }
  return "by its caller, or by a freeze since lifted";
}

Notification Engine::MakeNotification(const std::string& event,
                                      const Authorization& a,
                                      const std::string& actor,
                                      const std::string& message) const {
  Notification n;
  n.id = NewId("nt_");
  n.event = event;
  n.time = clock_->Now();
  n.org_id = a.org_id;
  n.actor = actor;
  n.message = message;
  n.authorization = a;
  return n;
}

void Engine::Notify(const std::string& event, const Authorization& a,
                    const std::string& actor, const std::string& message) {
  if (hooks_.notifications == nullptr) return;
  hooks_.notifications->Notify(MakeNotification(event, a, actor, message));
}

void Engine::FlushBreachAlerts() {
  for (const Notification& n : breaches_.Flush(clock_->Now())) {
    if (hooks_.notifications != nullptr) hooks_.notifications->Notify(n);
  }
}

}  // namespace warden
