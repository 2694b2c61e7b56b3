#include "services/submitter.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "adapters/evm/eip3009.h"
#include "governance/address.h"
#include "governance/calldata.h"
#include "governance/status_macros.h"
#include "spdlog/spdlog.h"

namespace warden {
namespace {

// Who settles, voids and moves operations on the gateway's own account.
constexpr char kActor[] = "system";
// Where `asset` lives on `wallet`'s chain: "" for the native coin, else
// its contract. FAILED_PRECONDITION when the bundle does not say.
absl::StatusOr<std::string> TokenContract(const Policy& policy,
                                          const Wallet& wallet,
                                          const std::string& symbol) {
  auto asset = policy.assets.find(symbol);
  if (asset == policy.assets.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("asset: \"", symbol, "\" is not in the bundle"));
  }
  auto where = asset->second.chains.find(wallet.chain);
  if (where == asset->second.chains.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "asset: ", symbol, " has no address on chain ", wallet.chain,
        " (wallet ", wallet.id, "); give it `chains: {", wallet.chain,
        ": native}` or the token's contract in the bundle"));
  }
  return where->second == kNativeAsset ? std::string() : where->second;
}

std::string Describe(const Operation& op) {
  std::string out =
      absl::StrCat("operation ", op.id, " (authorization ", op.authorization_id,
                   ", agent ", op.agent_id, ", wallet ", op.wallet_id,
                   "): ", OperationStateName(op.state));
  if (!op.tx_hash.empty()) absl::StrAppend(&out, " tx ", op.tx_hash);
  if (evm::IsX402Ref(op.vendor_ref)) {
    // Not the signature: until it expires it is a payment anyone holding
    // it can make, so the trail keeps only what identifies it.
    absl::StatusOr<evm::SignedTransferAuthorization> signed_auth =
        evm::DecodeX402Ref(op.vendor_ref);
    if (signed_auth.ok()) {
      absl::StrAppend(
          &out, " x402 nonce ", evm::Hex(signed_auth->authorization.nonce),
          " valid before ", signed_auth->authorization.valid_before);
    }
  } else if (!op.vendor_ref.empty()) {
    absl::StrAppend(&out, " ref ", op.vendor_ref);
  }
  if (!op.error.empty()) absl::StrAppend(&out, ": ", op.error);
  return out;
}

}  // namespace

absl::StatusOr<SubmitOutput> Submitter::Submit(const SubmitInput& in) {
  if (in.authorize.destination.empty()) {
    return absl::InvalidArgumentError(
        "destination: required (the recipient of the transfer)");
  }
  WARDEN_ASSIGN_OR_RETURN(std::string data,
                          abi::ParseHex("data", in.authorize.calldata));
  WARDEN_ASSIGN_OR_RETURN(std::string org,
                          engine_->ResolveOrg(in.authorize.org_id));
  // Refuse what could not be sent before anything is held. (An unknown
  // wallet is left to Authorize, which names it.)
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          engine_->GetBundle(org, 0));
  if (auto w = policy->wallets.find(in.authorize.wallet_id);
      w != policy->wallets.end() &&
      w->second.agent_id == in.authorize.agent_id) {
    WARDEN_ASSIGN_OR_RETURN(WalletAdapter * adapter,
                            adapters_->For(w->second.vendor));
    WARDEN_RETURN_IF_ERROR(adapter->CheckWallet(w->second));
    WARDEN_RETURN_IF_ERROR(ValidateAddress("destination", w->second.chain,
                                           in.authorize.destination));
    // A call's asset is checked by Authorize (the token it moves).
    if (data.empty()) {
      WARDEN_RETURN_IF_ERROR(
          TokenContract(*policy, w->second, in.authorize.asset).status());
    }
  }
  AuthorizeInput authorize = in.authorize;
  authorize.org_id = org;
  return Start(std::move(authorize), std::move(data), std::nullopt);
}

absl::StatusOr<SubmitOutput> Submitter::Pay(const PayInput& in) {
  WARDEN_ASSIGN_OR_RETURN(std::string org,
                          engine_->ResolveOrg(in.authorize.org_id));
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          engine_->GetBundle(org, 0));
  if (!policy->agents.contains(in.authorize.agent_id)) {
    return absl::NotFoundError(absl::StrCat("agent_id: unknown agent \"",
                                            in.authorize.agent_id.substr(0, 64),
                                            "\" in org ", org));
  }
  auto w = policy->wallets.find(in.authorize.wallet_id);
  if (w == policy->wallets.end()) {
    return absl::NotFoundError(
        absl::StrCat("wallet_id: unknown wallet \"",
                     in.authorize.wallet_id.substr(0, 64), "\" in org ", org));
  }
  if (!durable_operations_ &&
      policy->org.expired_holds == ExpiredHolds::kRelease) {
    return absl::FailedPreconditionError(absl::StrCat(
        "org ", org,
        " releases expired holds, and this gateway keeps operations in "
        "memory only (no Postgres): a payment used after a restart would go "
        "uncharged. x402 payments need Postgres, or expired_holds: count"));
  }
  const Wallet& wallet = w->second;
  if (wallet.agent_id != in.authorize.agent_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("wallet_id: wallet ", wallet.id, " belongs to agent ",
                     wallet.agent_id, ", not ", in.authorize.agent_id));
  }
  WARDEN_ASSIGN_OR_RETURN(WalletAdapter * adapter,
                          adapters_->For(wallet.vendor));
  WARDEN_RETURN_IF_ERROR(adapter->CheckX402(wallet, in.terms.chain_id));
  WARDEN_RETURN_IF_ERROR(ValidateAddress("requirements.pay_to", wallet.chain,
                                         in.authorize.destination));
  // The asset is the declared one with this contract on the wallet's chain.
  const std::string contract = NormalizeDestination(in.token_contract);
  AuthorizeInput authorize = in.authorize;
  authorize.org_id = org;
  for (const auto& [symbol, asset] : policy->assets) {
    auto where = asset.chains.find(wallet.chain);
    if (where != asset.chains.end() &&
        NormalizeDestination(where->second) == contract) {
      authorize.asset = symbol;
    }
  }
  if (authorize.asset.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "requirements.asset: token ", in.token_contract,
        " is not a declared asset on chain ", wallet.chain, " in org ", org,
        "'s bundle (assets.<symbol>.chains.", wallet.chain, ")"));
  }
  WARDEN_ASSIGN_OR_RETURN(SubmitOutput out,
                          Start(std::move(authorize), "", in.terms));
  if (!out.operation) return out;
  if (out.operation->state == OperationState::kPending &&
      !out.operation->error.empty()) {
    // The node could not be reached: nothing signed, the hold kept.
    return absl::UnavailableError(absl::StrCat(
        out.operation->error, "; nothing was signed and authorization ",
        out.operation->authorization_id,
        " is still held: retry with the same idempotency key"));
  }
  // The record now (a freeze may have voided it while it was signed), as a
  // replay would answer it.
  WARDEN_ASSIGN_OR_RETURN(
      out.authorized.authorization,
      engine_->GetAsReplay(org, out.authorized.authorization.id));
  return out;
}

absl::StatusOr<SubmitOutput> Submitter::Start(AuthorizeInput authorize,
                                              std::string data,
                                              std::optional<X402Terms> x402) {
  const std::string org = authorize.org_id;
  SubmitOutput out;
  absl::StatusOr<AuthorizeOutput> authorized = engine_->Authorize(authorize);
  if (!authorized.ok()) {
    // Authorize names the calldata `calldata`; here the field is `data`.
    absl::string_view message = authorized.status().message();
    if (absl::ConsumePrefix(&message, "calldata:")) {
      return absl::Status(authorized.status().code(),
                          absl::StrCat("data:", message));
    }
    return authorized.status();
  }
  out.authorized = *std::move(authorized);
  const Authorization& a = out.authorized.authorization;
  // A replay of a hold that has since closed answers DENY, but its operation
  // (the first call's) still tells the caller what happened to the send.
  if (a.status == AuthorizationStatus::kDenied ||
      (a.decision == Decision::kDeny && !out.authorized.replayed)) {
    return out;
  }
  const absl::Time now = clock_->Now();
  Operation op{.id = OperationIdFor(a.id),
               .org_id = org,
               .authorization_id = a.id,
               .agent_id = a.agent_id,
               .wallet_id = a.wallet_id,
               .data = std::move(data),
               .x402 = std::move(x402),
               .state = OperationState::kPending,
               .created_at = now,
               .updated_at = now};
  if (!out.authorized.replayed) {
    absl::Status created = operations_->Create(op);
    if (created.ok()) {
      AuditOperation(op);
      WARDEN_ASSIGN_OR_RETURN(Operation advanced, Advance(std::move(op)));
      WARDEN_ASSIGN_OR_RETURN(out.operation, AwaitSend(std::move(advanced)));
      return out;
    }
    if (!absl::IsAlreadyExists(created)) {
      // Nothing was sent: release the hold rather than strand it.
      (void)engine_->Void(org, a.id, kActor);
      return created;
    }
  }
  // A replay: the first call's operation, which that call may still be
  // recording.
  const absl::Time until = absl::Now() + kReplayWait;
  for (;;) {
    absl::StatusOr<Operation> first = operations_->Get(org, op.id);
    if (first.ok() && first->x402 != op.x402) {
      return absl::FailedPreconditionError(
          absl::StrCat("idempotency_key: authorization ", a.id, " was first ",
                       first->x402 ? "an x402 payment with other terms"
                                   : "a SubmitTransaction",
                       " (", first->id, ")"));
    }
    if (first.ok()) {
      WARDEN_ASSIGN_OR_RETURN(Operation advanced, Advance(*std::move(first)));
      WARDEN_ASSIGN_OR_RETURN(out.operation, AwaitSend(std::move(advanced)));
      return out;
    }
    if (!absl::IsNotFound(first.status())) return first.status();
    if (absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "idempotency_key: authorization ", a.id,
      " has no operation this gateway can see: it was made by Authorize, or "
      "by a Submit still recording its send or on a replica without shared "
      "operations (no Postgres). This call sent nothing; check the "
      "authorization and its operation (op_",
      a.id, ") before trying again"));
}

absl::StatusOr<Operation> Submitter::AwaitSend(Operation op) {
  const absl::Time until = absl::Now() + kSendWait;
  while (op.state == OperationState::kSending && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(50));
    WARDEN_ASSIGN_OR_RETURN(op, operations_->Get(op.org_id, op.id));
  }
  return op;
}

absl::Status Submitter::CheckNotSubmitted(const std::string& org_id,
                                          const std::string& authorization_id) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, engine_->ResolveOrg(org_id));
  absl::StatusOr<Operation> op =
      operations_->Get(org, OperationIdFor(authorization_id));
  if (absl::IsNotFound(op.status())) return absl::OkStatus();
  if (!op.ok()) return op.status();
  return absl::FailedPreconditionError(absl::StrCat(
      "authorization_id: ", authorization_id, " is being sent by Warden (",
      op->id, ", ", OperationStateName(op->state),
      "); it is settled or voided when the vendor reports the outcome"));
}

absl::StatusOr<Operation> Submitter::Get(const std::string& org_id,
                                         const std::string& operation_id,
                                         const std::string& owner,
                                         bool advance) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, engine_->ResolveOrg(org_id));
  WARDEN_ASSIGN_OR_RETURN(Operation op, operations_->Get(org, operation_id));
  if (!owner.empty() && op.agent_id != owner) {
    return absl::PermissionDeniedError(absl::StrCat(
        "operation_id: ", operation_id, " belongs to another agent"));
  }
  if (!advance) return op;
  return Advance(std::move(op));
}

absl::StatusOr<size_t> Submitter::AdvanceOpen(size_t limit,
                                              const absl::Notification* stop) {
  WARDEN_ASSIGN_OR_RETURN(std::vector<Operation> open,
                          operations_->ListOpen(limit));
  size_t changed = 0;
  for (Operation& op : open) {
    if (stop != nullptr && stop->HasBeenNotified()) break;
    const OperationState was = op.state;
    absl::StatusOr<Operation> now = Advance(op);
    if (!now.ok()) {
      spdlog::warn("advancing an operation failed: {}",
                   now.status().ToString());
    } else if (now->state != was) {
      ++changed;
      continue;
    }
    // Unchanged: to the back of the line (a SENDING one keeps its time,
    // which tells when its sender stopped).
    if (was != OperationState::kSending) {
      Operation touched = now.ok() ? *now : op;
      touched.updated_at = clock_->Now();
      (void)operations_->Update(touched, was);
    }
  }
  return changed;
}

absl::StatusOr<Operation> Submitter::Advance(Operation op) {
  if (IsFinal(op.state)) return op;
  const absl::Time now = clock_->Now();
  if (op.state == OperationState::kSending) {
    if (now - op.updated_at < kSendingStale) return op;
    Operation next = op;
    next.state = OperationState::kUnknown;
    next.error =
        "the gateway sending it stopped before recording the outcome; the "
        "hold is kept until the wallet's history shows what happened";
    next.updated_at = now;
    WARDEN_ASSIGN_OR_RETURN(bool moved, Move(next, op.state));
    if (!moved) return operations_->Get(op.org_id, op.id);
    return next;
  }
  WARDEN_ASSIGN_OR_RETURN(Authorization a,
                          engine_->Get(op.org_id, op.authorization_id));
  const bool unsent = op.tx_hash.empty() && op.vendor_ref.empty();
  if (op.state == OperationState::kPending && unsent) {
    if (a.status == AuthorizationStatus::kHeld &&
        a.decision == Decision::kAllow) {
      return Send(std::move(op), a);
    }
    if (a.status == AuthorizationStatus::kHeld) return op;  // Still waiting.
    Operation next = op;
    next.state = OperationState::kFailed;
    next.error = absl::StrCat("not sent: authorization ", a.id, " is ",
                              StatusName(a.status));
    next.updated_at = now;
    WARDEN_ASSIGN_OR_RETURN(bool moved, Move(next, op.state));
    if (!moved) return operations_->Get(op.org_id, op.id);
    return next;
  }
  // Sent: ask the vendor.
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          engine_->GetBundle(op.org_id, 0));
  auto wallet = policy->wallets.find(op.wallet_id);
  if (wallet == policy->wallets.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wallet ", op.wallet_id, " of operation ", op.id,
        " is no longer in the bundle; its vendor cannot be asked"));
  }
  WARDEN_ASSIGN_OR_RETURN(WalletAdapter * adapter,
                          adapters_->For(wallet->second.vendor));
  absl::StatusOr<VendorStatus> polled = adapter->Poll(
      wallet->second,
      VendorStatus{op.state, op.tx_hash, op.vendor_ref, op.error});
  if (!polled.ok()) {
    // The vendor is unreachable: what was known stands; ask again later.
    spdlog::info("polling operation {}: {}", op.id, polled.status().ToString());
    return op;
  }
  if (polled->state == op.state && polled->tx_hash == op.tx_hash &&
      polled->vendor_ref == op.vendor_ref) {
    return op;
  }
  Operation next = op;
  next.state = polled->state;
  next.tx_hash = polled->tx_hash;
  next.vendor_ref = polled->vendor_ref;
  next.error = polled->error;
  next.updated_at = now;
  if (IsFinal(next.state)) WARDEN_RETURN_IF_ERROR(Finish(&next, a));
  WARDEN_ASSIGN_OR_RETURN(bool moved, Move(next, op.state));
  if (!moved) return operations_->Get(op.org_id, op.id);
  return next;
}

absl::StatusOr<Operation> Submitter::Send(Operation op,
                                          const Authorization& a) {
  Operation sending = op;
  sending.state = OperationState::kSending;
  sending.updated_at = clock_->Now();
  WARDEN_ASSIGN_OR_RETURN(bool claimed, Move(sending, op.state));
  if (!claimed) return operations_->Get(op.org_id, op.id);

  absl::StatusOr<VendorStatus> sent = [&]() -> absl::StatusOr<VendorStatus> {
    WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                            engine_->GetBundle(op.org_id, 0));
    auto wallet = policy->wallets.find(op.wallet_id);
    if (wallet == policy->wallets.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("wallet ", op.wallet_id, " is not in the bundle"));
    }
    WARDEN_ASSIGN_OR_RETURN(WalletAdapter * adapter,
                            adapters_->For(wallet->second.vendor));
    TransferIntent intent{.operation_id = op.id,
                          .wallet = wallet->second,
                          .asset = a.asset,
                          .amount = a.amount,
                          .destination = a.destination,
                          .data = op.data,
                          .x402 = op.x402};
    WARDEN_ASSIGN_OR_RETURN(intent.token_contract,
                            TokenContract(*policy, wallet->second, a.asset));
    if (op.x402) {
      // Valid for what the payment asked, and never past the hold.
      const absl::Time now =
          absl::FromUnixSeconds(absl::ToUnixSeconds(clock_->Now()));
      intent.valid_before = std::min(now + op.x402->valid_for,
                                     a.hold_expires_at - kX402HoldMargin);
      if (intent.valid_before <= now) {
        return absl::FailedPreconditionError(
            absl::StrCat("x402: authorization ", a.id, "'s hold expires at ",
                         absl::FormatTime(a.hold_expires_at),
                         ", too soon to sign a payment it can cover"));
      }
    }
    if (!a.contract.empty()) {
      // A contract call: the calldata goes to the contract, with the native
      // coin it moves (a token's transfer or approval sends none).
      if (!intent.token_contract.empty()) intent.amount = 0;
      intent.token_contract.clear();
      intent.destination = a.contract;
    }
    absl::StatusOr<VendorStatus> result = adapter->Send(intent);
    return result;
  }();
  Operation next = sending;
  next.updated_at = clock_->Now();
  if (sent.ok()) {
    next.state = sent->state;
    next.tx_hash = sent->tx_hash;
    next.vendor_ref = sent->vendor_ref;
    next.error = sent->error;
    if (op.x402) WARDEN_RETURN_IF_ERROR(KeepIfStillHeld(&next));
  } else if (op.x402 && (absl::IsUnavailable(sent.status()) ||
                         absl::IsDeadlineExceeded(sent.status()))) {
    // The node could not be reached: nothing was signed. The hold stays;
    // the next call or sweep signs it.
    next.state = OperationState::kPending;
    next.error = absl::StrCat("the chain's node could not be reached: ",
                              sent.status().message());
  } else {
    // Nothing was sent.
    next.state = OperationState::kFailed;
    next.error = std::string(sent.status().message());
  }
  if (IsFinal(next.state)) {
    if (absl::Status st = Finish(&next, a); !st.ok()) {
      // The hold then ends as its TTL says (counted, by default).
      spdlog::error("{}: releasing authorization {} failed: {}", op.id, a.id,
                    st.ToString());
    }
  }
  if (!next.tx_hash.empty()) {
    spdlog::info("{} {} tx {}", op.id, OperationStateName(next.state),
                 next.tx_hash);
  }
  absl::StatusOr<bool> moved = Move(next, OperationState::kSending);
  if (moved.ok() && !*moved) {
    // Marked UNKNOWN as stale while this send ran: what the vendor said
    // is the better record.
    moved = Move(next, OperationState::kUnknown);
  }
  if (!moved.ok()) {
    spdlog::error("{}: recording {} failed: {}", op.id, Describe(next),
                  moved.status().ToString());
    return moved.status();
  }
  if (!*moved) return operations_->Get(op.org_id, op.id);
  return next;
}

absl::Status Submitter::KeepIfStillHeld(Operation* signed_op) {
  WARDEN_ASSIGN_OR_RETURN(
      Authorization now,
      engine_->Get(signed_op->org_id, signed_op->authorization_id));
  if (now.status == AuthorizationStatus::kHeld &&
      now.decision == Decision::kAllow) {
    return absl::OkStatus();
  }
  signed_op->state = OperationState::kFailed;
  signed_op->vendor_ref.clear();
  signed_op->error = absl::StrCat(
      "authorization ", now.id, " was ", StatusName(now.status),
      " while the payment was signed: the signature was discarded, never "
      "handed out");
  return absl::OkStatus();
}

absl::StatusOr<bool> Submitter::Move(const Operation& next,
                                     OperationState from) {
  WARDEN_ASSIGN_OR_RETURN(bool moved, operations_->Update(next, from));
  if (moved) AuditOperation(next);
  return moved;
}

void Submitter::AuditOperation(const Operation& op) {
  const AuditEvent event =
      AuditEvent::ForReason(AuditEvent::Type::kOperationUpdated, op.updated_at,
                            op.org_id, kActor, Describe(op));
  if (absl::Status st = audit_->Append(event); !st.ok()) {
    // The operation's own record stands; the trail misses this step.
    spdlog::error("auditing {}: {}", event.reason, st.ToString());
  }
}

absl::Status Submitter::Finish(Operation* op, const Authorization& a) {
  WARDEN_ASSIGN_OR_RETURN(Authorization now,
                          engine_->Get(op->org_id, op->authorization_id));
  if (now.status != AuthorizationStatus::kHeld) {
    if (op->state == OperationState::kConfirmed &&
        now.status != AuthorizationStatus::kSettled) {
      // Voided by a freeze, or expired and released, while on its way: the
      // spend happened but no budget holds it. Say so, loudly.
      op->error = absl::StrCat("authorization ", now.id, " was ",
                               StatusName(now.status),
                               " before this confirmed: the spend is not "
                               "charged to any budget");
      spdlog::error("{} tx {}: {}", op->id, op->tx_hash, op->error);
    }
    return absl::OkStatus();
  }
  if (op->state == OperationState::kConfirmed) {
    return engine_
        ->Settle(SettleInput{.org_id = op->org_id,
                             .authorization_id = a.id,
                             .tx_hash = op->tx_hash,
                             .actor = kActor})
        .status();
  }
  return engine_->Void(op->org_id, a.id, kActor).status();
}

}  // namespace warden
