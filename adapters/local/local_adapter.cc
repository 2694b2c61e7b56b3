#include "adapters/local/local_adapter.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "adapters/evm/chains.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

// vendor_ref of a sent transaction: "nonce:<n> raw:0x<signed bytes>".
constexpr char kNoncePrefix[] = "nonce:";
// How often, and how far apart, a transaction whose nonce is mined is
// looked for again before it is called replaced.
constexpr int kReplacedChecks = 5;
constexpr absl::Duration kReplacedCheckInterval = absl::Milliseconds(250);
constexpr char kRawSeparator[] = " raw:";

std::map<std::string, EvmChain> ByName(std::vector<EvmChain> chains) {
  std::map<std::string, EvmChain> out;
  for (EvmChain& c : chains) out[c.name] = std::move(c);
  return out;
}

}  // namespace

absl::StatusOr<EvmChain> ParseChainRpc(const std::string& spec) {
  const size_t eq = spec.find('=');
  // Errors quote the entry with its URL cut to the origin: the rest may hold
  // the node provider's key.
  const std::string shown =
      eq == std::string::npos
          ? http::UrlOrigin(spec)
          : absl::StrCat(spec.substr(0, eq), "=",
                         http::UrlOrigin(spec.substr(eq + 1)), "/...");
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--chain-rpc \"", shown, "\": expected CHAIN=URL or CHAIN:ID=URL"));
  }
  EvmChain chain;
  chain.rpc_url = spec.substr(eq + 1);
  std::string name = spec.substr(0, eq);
  if (const size_t colon = name.find(':'); colon != std::string::npos) {
    if (!absl::SimpleAtoi(name.substr(colon + 1), &chain.chain_id) ||
        chain.chain_id == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--chain-rpc \"", shown, "\": chain id \"",
                       name.substr(colon + 1), "\" is not a positive number"));
    }
    name.resize(colon);
  } else {
    chain.chain_id = evm::KnownChainId(name).value_or(0);
    if (chain.chain_id == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--chain-rpc \"", shown, "\": chain \"", name,
          "\" is not in the built-in table; give its id as ", name, ":ID=URL"));
    }
  }
  if (chain.rpc_url.rfind("http://", 0) != 0 &&
      chain.rpc_url.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--chain-rpc \"", shown, "\": the URL must be http:// or https://"));
  }
  chain.name = std::move(name);
  return chain;
}

LocalAdapter::LocalAdapter(evm::Keystore keystore, std::vector<EvmChain> chains,
                           absl::Duration rpc_timeout)
    : keystore_(std::move(keystore)),
      chains_(ByName(std::move(chains))),
      rpc_timeout_(rpc_timeout) {}

AdapterInfo LocalAdapter::Describe() const {
  AdapterInfo info{.vendor = "local", .vendor_freeze = true};
  for (const auto& [name, chain] : chains_) info.chains.push_back(name);
  return info;
}

absl::StatusOr<evm::EvmSender*> LocalAdapter::SenderFor(const Wallet& wallet) {
  auto chain = chains_.find(wallet.chain);
  if (chain == chains_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wallet ", wallet.id, ": no JSON-RPC endpoint for chain ", wallet.chain,
        " (start wardend with --chain-rpc ", wallet.chain, "=URL)"));
  }
  absl::StatusOr<evm::Address> address = evm::ParseAddress(wallet.address);
  if (!address.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("wallet ", wallet.id, ": ", address.status().message()));
  }
  const evm::PrivateKey* key = keystore_.Find(*address);
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("wallet ", wallet.id, ": its address ", wallet.address,
                     " has no key in the keystore"));
  }
  const std::pair<std::string, evm::Address> id = {wallet.chain, *address};
  {
    absl::MutexLock lock(&mu_);
    auto it = senders_.find(id);
    if (it != senders_.end()) return it->second.get();
  }
  // Created without the lock: it asks the node its chain id, and one slow
  // node must not hold up the other wallets.
  WARDEN_ASSIGN_OR_RETURN(
      std::unique_ptr<evm::EvmSender> created,
      evm::EvmSender::Create(key, chain->second.chain_id,
                             std::make_unique<evm::JsonRpcClient>(
                                 chain->second.rpc_url, rpc_timeout_)));
  absl::MutexLock lock(&mu_);
  // A concurrent first use may have won; its sender (and nonce count) stays.
  return senders_.try_emplace(id, std::move(created)).first->second.get();
}

absl::Status LocalAdapter::CheckX402(const Wallet& wallet,
                                     uint64_t chain_id) const {
  auto chain = chains_.find(wallet.chain);
  if (chain == chains_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wallet_id: wallet ", wallet.id, ": no JSON-RPC endpoint for chain ",
        wallet.chain, " (start wardend with --chain-rpc ", wallet.chain,
        "=URL)"));
  }
  if (chain->second.chain_id != chain_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("requirements.network: chain id ", chain_id,
                     " is not wallet ", wallet.id, "'s chain ", wallet.chain,
                     " (id ", chain->second.chain_id, ")"));
  }
  absl::StatusOr<evm::Address> address = evm::ParseAddress(wallet.address);
  if (!address.ok() || keystore_.Find(*address) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("wallet_id: wallet ", wallet.id, "'s address ",
                     wallet.address, " has no key in the keystore"));
  }
  return absl::OkStatus();
}

absl::StatusOr<VendorStatus> LocalAdapter::SignX402(
    evm::EvmSender* sender, const TransferIntent& intent) {
  const X402Terms& terms = *intent.x402;
  if (sender->chain_id() != terms.chain_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "x402: the payment is on chain id ", terms.chain_id, ", wallet ",
        intent.wallet.id, " on ", sender->chain_id()));
  }
  WARDEN_ASSIGN_OR_RETURN(const evm::Address token,
                          evm::ParseAddress(intent.token_contract));
  WARDEN_ASSIGN_OR_RETURN(const evm::Address to,
                          evm::ParseAddress(intent.destination));
  WARDEN_ASSIGN_OR_RETURN(const uint64_t block, sender->BlockNumber());
  // The freeze check and the signing in one step, without a node call in
  // between: a freeze that returned before it is never signed through.
  absl::MutexLock lock(&mu_);
  if (frozen_.contains(intent.wallet.id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("wallet ", intent.wallet.id, " is frozen"));
  }
  WARDEN_ASSIGN_OR_RETURN(const evm::SignedTransferAuthorization signed_auth,
                          sender->SignTransferAuthorization(
                              token, terms.token_name, terms.token_version, to,
                              intent.amount, intent.valid_before, block));
  return VendorStatus{.state = OperationState::kSubmitted,
                      .vendor_ref = evm::EncodeX402Ref(signed_auth)};
}

absl::StatusOr<VendorStatus> LocalAdapter::PollX402(const Wallet& wallet,
                                                    const VendorStatus& last) {
  if (IsFinal(last.state)) return last;
  WARDEN_ASSIGN_OR_RETURN(const evm::SignedTransferAuthorization signed_auth,
                          evm::DecodeX402Ref(last.vendor_ref));
  WARDEN_ASSIGN_OR_RETURN(evm::EvmSender * sender, SenderFor(wallet));
  WARDEN_ASSIGN_OR_RETURN(const evm::EvmSender::AuthorizationUse use,
                          sender->UseOf(signed_auth));
  VendorStatus out = last;
  if (use.used) {
    out.state = OperationState::kConfirmed;
    out.tx_hash = use.tx_hash;
    out.error.clear();
  } else if (use.expired) {
    out.state = OperationState::kFailed;
    out.error = absl::StrCat(
        "the x402 authorization expired unused at ",
        absl::FormatTime(absl::RFC3339_full,
                         absl::FromUnixSeconds(static_cast<int64_t>(
                             signed_auth.authorization.valid_before)),
                         absl::UTCTimeZone()),
        ": nothing was paid");
  }
  return out;
}

absl::StatusOr<VendorStatus> LocalAdapter::Send(const TransferIntent& intent) {
  {
    absl::MutexLock lock(&mu_);
    if (frozen_.contains(intent.wallet.id)) {
      return absl::FailedPreconditionError(
          absl::StrCat("wallet ", intent.wallet.id, " is frozen"));
    }
  }
  WARDEN_ASSIGN_OR_RETURN(evm::EvmSender * sender, SenderFor(intent.wallet));
  if (intent.x402) return SignX402(sender, intent);
  WARDEN_ASSIGN_OR_RETURN(
      const evm::Call call,
      evm::ResolveTransfer(intent.destination, intent.token_contract,
                           intent.amount, intent.data));
  WARDEN_ASSIGN_OR_RETURN(evm::EvmSender::Sent sent,
                          sender->Send(call.to, call.value, call.data));
  VendorStatus out;
  out.tx_hash = evm::Hex(sent.tx_hash);
  out.vendor_ref =
      absl::StrCat(kNoncePrefix, sent.nonce, kRawSeparator, evm::Hex(sent.raw));
  if (sent.acknowledged) {
    out.state = OperationState::kSubmitted;
  } else {
    out.state = OperationState::kUnknown;
    out.error = absl::StrCat("broadcast of nonce ", sent.nonce,
                             " not acknowledged: ", sent.error);
  }
  return out;
}

absl::StatusOr<VendorStatus> LocalAdapter::Poll(const Wallet& wallet,
                                                const VendorStatus& last) {
  if (evm::IsX402Ref(last.vendor_ref)) return PollX402(wallet, last);
  if (last.tx_hash.empty()) return last;
  WARDEN_ASSIGN_OR_RETURN(evm::EvmSender * sender, SenderFor(wallet));
  const absl::string_view digits = absl::StripPrefix(last.tx_hash, "0x");
  if (digits.size() != 64 || !evm::IsHexDigits(digits)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tx_hash: \"", last.tx_hash, "\" is not a hash"));
  }
  evm::Hash hash{};
  const std::string bytes = absl::HexStringToBytes(digits);
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  VendorStatus out = last;
  // A receipt is final: confirmed, or reverted.
  auto settled = [&out](bool succeeded) {
    out.state =
        succeeded ? OperationState::kConfirmed : OperationState::kFailed;
    out.error = succeeded ? "" : "the transaction reverted";
    return out;
  };
  WARDEN_ASSIGN_OR_RETURN(std::optional<bool> mined,
                          sender->ReceiptStatus(hash));
  if (mined.has_value()) return settled(*mined);
  WARDEN_ASSIGN_OR_RETURN(bool known, sender->Known(hash));
  if (known) {
    out.state = OperationState::kSubmitted;
    out.error.clear();
    return out;
  }
  // Not mined and not in the pool. Once its nonce is mined by another
  // transaction (a replacement) it can never be mined, and nothing of it was
  // spent. Until then the node may simply not have it (it never arrived, or
  // the node restarted): broadcast the same signed bytes again.
  absl::string_view ref = last.vendor_ref;
  uint64_t nonce = 0;
  if (!absl::ConsumePrefix(&ref, kNoncePrefix)) return out;
  const size_t raw_at = ref.find(kRawSeparator);
  if (!absl::SimpleAtoi(ref.substr(0, raw_at), &nonce)) return out;
  WARDEN_ASSIGN_OR_RETURN(uint64_t used, sender->MinedCount());
  if (used > nonce) {
    // The nonce is mined. This transaction may be what mined it, between
    // the receipt check above and the count (a node answers neither while
    // it moves a transaction from its pool into a block, and may count the
    // nonce before it serves the receipt): look again, a few times over a
    // second, before calling it replaced, which is final.
    for (int attempt = 0; attempt < kReplacedChecks; ++attempt) {
      if (attempt > 0) absl::SleepFor(kReplacedCheckInterval);
      WARDEN_ASSIGN_OR_RETURN(mined, sender->ReceiptStatus(hash));
      if (mined.has_value()) return settled(*mined);
    }
    out.state = OperationState::kFailed;
    out.error = absl::StrCat("nonce ", nonce,
                             " was used by another transaction; this one "
                             "was replaced or dropped and can never be mined");
    return out;
  }
  if (raw_at == absl::string_view::npos) return out;
  absl::string_view raw = ref.substr(raw_at + strlen(kRawSeparator));
  if (!absl::ConsumePrefix(&raw, "0x")) return out;
  if (absl::Status st = sender->Rebroadcast(absl::HexStringToBytes(raw));
      !st.ok()) {
    return st;  // Unreachable node: ask again later.
  }
  out.state = OperationState::kSubmitted;
  out.error.clear();
  return out;
}

absl::Status LocalAdapter::SetFrozen(const Wallet& wallet, bool frozen,
                                     const std::string& reason) {
  absl::MutexLock lock(&mu_);
  if (frozen) {
    frozen_.insert(wallet.id);
  } else {
    frozen_.erase(wallet.id);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<VendorTransaction>> LocalAdapter::ListTransactions(
    const Wallet& wallet, absl::Time since) {
  return absl::UnimplementedError(
      "the local adapter cannot list transactions: a JSON-RPC node keeps no "
      "index of an account's transactions");
}

}  // namespace warden
