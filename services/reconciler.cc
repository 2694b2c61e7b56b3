#include "services/reconciler.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "governance/audit_codec.h"
#include "governance/money.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

// The bundle's symbol for what a vendor transaction moved on `chain`.
std::string AssetSymbol(const Policy& policy, const std::string& chain,
                        const std::string& contract) {
  for (const auto& [symbol, asset] : policy.assets) {
    auto where = asset.chains.find(chain);
    if (where == asset.chains.end()) continue;
    if (contract.empty() ? where->second == kNativeAsset
                         : absl::EqualsIgnoreCase(where->second, contract)) {
      return symbol;
    }
  }
  return contract.empty() ? "the native coin" : contract;
}

// What identifies a finding across runs; each audit record starts with it.
std::string Key(ReconcileFinding::Kind kind, const std::string& wallet,
                const std::string& tx_hash) {
  return absl::StrCat(ReconcileFindingKindName(kind), " wallet/", wallet,
                      " tx ", tx_hash);
}

}  // namespace

const char* ReconcileFindingKindName(ReconcileFinding::Kind kind) {
  switch (kind) {
    case ReconcileFinding::Kind::kShadowSpend:
      return "shadow_spend";
    case ReconcileFinding::Kind::kMissingSettlement:
      return "missing_settlement";
  }
  return "unknown";
}

absl::StatusOr<ReconcileReport> Reconciler::Run(
    const std::string& org_id, absl::Time since, const std::string& actor,
    const absl::Notification* stop) {
  if (history_ == nullptr) {
    return absl::FailedPreconditionError(
        "reconciliation reads Warden's side from the audit trail, which "
        "needs Postgres");
  }
  WARDEN_ASSIGN_OR_RETURN(std::string org, engine_->ResolveOrg(org_id));
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          engine_->GetBundle(org, 0));
  ReconcileReport report{.org_id = org, .since = since};

  // The vendors' side, wallet by wallet.
  std::vector<std::pair<const Wallet*, VendorTransaction>> seen;
  for (const auto& [id, wallet] : policy->wallets) {
    if (stop != nullptr && stop->HasBeenNotified()) {
      return absl::CancelledError("reconciliation stopped: shutting down");
    }
    const std::string where =
        absl::StrCat("wallet/", id, " at ", wallet.vendor);
    absl::StatusOr<WalletAdapter*> adapter = adapters_->For(wallet.vendor);
    if (!adapter.ok()) {
      report.unchecked.push_back(
          absl::StrCat(where, ": no adapter for the vendor on this server"));
      continue;
    }
    if (!(*adapter)->Describe().list_transactions) {
      report.unchecked.push_back(
          absl::StrCat(where, ": the vendor cannot list transactions"));
      continue;
    }
    absl::StatusOr<std::vector<VendorTransaction>> txs =
        (*adapter)->ListTransactions(wallet, since);
    if (!txs.ok()) {
      report.unchecked.push_back(
          absl::StrCat(where, ": ", txs.status().ToString()));
      continue;
    }
    ++report.wallets_checked;
    for (VendorTransaction& tx : *txs) {
      if (tx.time < since) continue;
      ++report.vendor_transactions;
      seen.emplace_back(&wallet, std::move(tx));
    }
  }

  // Warden's side: every authorization that may account for them, by the
  // hash it settled with or its operation sent.
  std::map<std::string, Authorization> by_hash;
  WARDEN_RETURN_IF_ERROR(history_->LatestAuthorizations(
      org, since - kMatchWindow, [&](const Authorization& a) -> absl::Status {
        std::string hash = a.tx_hash;
        if (hash.empty() && a.status != AuthorizationStatus::kDenied) {
          absl::StatusOr<Operation> op =
              operations_->Get(org, OperationIdFor(a.id));
          if (op.ok()) hash = op->tx_hash;
        }
        if (!hash.empty()) by_hash[absl::AsciiStrToLower(hash)] = a;
        return absl::OkStatus();
      }));

  for (auto& [wallet, tx] : seen) {
    ReconcileFinding f{.wallet_id = wallet->id,
                       .vendor = wallet->vendor,
                       .transaction = tx,
                       .asset = AssetSymbol(*policy, wallet->chain, tx.asset)};
    auto match = by_hash.find(absl::AsciiStrToLower(tx.tx_hash));
    std::string why;
    if (match == by_hash.end()) {
      f.kind = ReconcileFinding::Kind::kShadowSpend;
      why = "no Warden authorization has this transaction";
    } else if (match->second.status != AuthorizationStatus::kSettled) {
      f.kind = ReconcileFinding::Kind::kMissingSettlement;
      f.authorization_id = match->second.id;
      f.authorization_status = StatusName(match->second.status);
      why = absl::StrCat("authorization ", f.authorization_id, " is ",
                         f.authorization_status, ", not SETTLED");
    } else {
      continue;
    }
    f.description = absl::StrCat(
        Key(f.kind, f.wallet_id, tx.tx_hash), " at ", f.vendor, ": ",
        FormatBaseUnits(tx.amount), " ", f.asset, " to ", tx.to, " at ",
        absl::FormatTime(absl::RFC3339_sec, tx.time, absl::UTCTimeZone()), ": ",
        why);
    report.findings.push_back(std::move(f));
  }
  if (report.findings.empty()) return report;

  // Each in the audit trail once.
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> recorded,
                          RecordedKeys(org, since));
  for (const ReconcileFinding& f : report.findings) {
    const std::string key = Key(f.kind, f.wallet_id, f.transaction.tx_hash);
    if (std::any_of(
            recorded.begin(), recorded.end(),
            [&](const std::string& r) { return absl::StartsWith(r, key); })) {
      continue;
    }
    WARDEN_RETURN_IF_ERROR(audit_->Append(
        AuditEvent::ForReason(AuditEvent::Type::kReconcileFinding,
                              clock_->Now(), org, actor, f.description)));
    ++report.audited;
  }
  return report;
}

absl::StatusOr<std::vector<std::string>> Reconciler::RecordedKeys(
    const std::string& org, absl::Time since) {
  std::vector<std::string> out;
  AuditQuery q{.org_id = org, .from = since, .limit = kMaxAuditPage};
  for (;;) {
    size_t n = 0;
    WARDEN_RETURN_IF_ERROR(history_->Query(q, [&](const AuditRecord& r) {
      ++n;
      q.after_seq = r.seq;
      if (r.type == AuditEventTypeName(AuditEvent::Type::kReconcileFinding)) {
        absl::StatusOr<AuditEvent> e = DecodeAuditEvent(r.body);
        if (e.ok()) out.push_back(e->reason);
      }
      return true;
    }));
    if (n < q.limit) return out;
  }
}

}  // namespace warden
