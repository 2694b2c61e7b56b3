#include "adapters/local/evm_sender.h"

#include <openssl/rand.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "governance/keccak.h"
#include "governance/status_macros.h"

namespace warden::evm {
namespace {

absl::StatusOr<uint64_t> ToU64(const absl::StatusOr<absl::uint128>& q,
                               absl::string_view what) {
  if (!q.ok()) return q.status();
  if (*q > absl::uint128(UINT64_MAX)) {
    return absl::OutOfRangeError(absl::StrCat(what, " exceeds 64 bits"));
  }
  return absl::Uint128Low64(*q);
}

// The node refused a transaction because its nonce was taken.
bool IsNonceCollision(const absl::Status& st) {
  if (!absl::IsFailedPrecondition(st)) return false;
  const std::string message = absl::AsciiStrToLower(st.message());
  for (const char* m : {"nonce too low", "already imported", "already known",
                        "known transaction", "replacement transaction"}) {
    if (absl::StrContains(message, m)) return true;
  }
  return false;
}

}  // namespace

EvmSender::EvmSender(const PrivateKey* key, uint64_t chain_id,
                     std::unique_ptr<JsonRpcClient> rpc)
    : key_(key),
      chain_id_(chain_id),
      address_(key->address()),
      rpc_(std::move(rpc)) {}

absl::StatusOr<std::unique_ptr<EvmSender>> EvmSender::Create(
    const PrivateKey* key, uint64_t chain_id,
    std::unique_ptr<JsonRpcClient> rpc) {
  WARDEN_ASSIGN_OR_RETURN(nlohmann::json id,
                          rpc->Call("eth_chainId", nlohmann::json::array()));
  WARDEN_ASSIGN_OR_RETURN(uint64_t node_chain,
                          ToU64(ParseQuantity(id), "chain id"));
  if (node_chain != chain_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("chain id: the node serves chain ", node_chain,
                     ", not the wallet's chain ", chain_id));
  }
  return std::unique_ptr<EvmSender>(
      new EvmSender(key, chain_id, std::move(rpc)));
}

absl::StatusOr<uint64_t> EvmSender::TransactionCount(const char* block) {
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json n,
      rpc_->Call("eth_getTransactionCount",
                 nlohmann::json::array({Hex(address_), block})));
  return ToU64(ParseQuantity(n), "nonce");
}

absl::StatusOr<uint64_t> EvmSender::MinedCount() {
  return TransactionCount("latest");
}

absl::StatusOr<EvmSender::Sent> EvmSender::Send(const Address& to,
                                                absl::uint128 value,
                                                const std::string& data) {
  Eip1559Tx tx;
  tx.chain_id = chain_id_;
  tx.to = to;
  tx.value = value;
  tx.data = data;
  nlohmann::json call = {
      {"from", Hex(address_)}, {"to", Hex(to)}, {"value", Quantity(value)}};
  if (!data.empty()) call["data"] = Hex(data);
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json gas,
      rpc_->Call("eth_estimateGas", nlohmann::json::array({call})));
  WARDEN_ASSIGN_OR_RETURN(tx.gas_limit, ToU64(ParseQuantity(gas), "gas"));
  if (!data.empty()) tx.gas_limit += tx.gas_limit / 5;
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json tip,
      rpc_->Call("eth_maxPriorityFeePerGas", nlohmann::json::array()));
  WARDEN_ASSIGN_OR_RETURN(tx.max_priority_fee_per_gas, ParseQuantity(tip));
  WARDEN_ASSIGN_OR_RETURN(nlohmann::json block,
                          rpc_->Call("eth_getBlockByNumber",
                                     nlohmann::json::array({"latest", false})));
  if (!block.is_object() || !block.contains("baseFeePerGas")) {
    return absl::FailedPreconditionError(
        "the node's latest block has no base fee (not an EIP-1559 chain?)");
  }
  WARDEN_ASSIGN_OR_RETURN(absl::uint128 base,
                          ParseQuantity(block["baseFeePerGas"]));
  tx.max_fee_per_gas = 2 * base + tx.max_priority_fee_per_gas;

  absl::MutexLock lock(&mu_);
  absl::StatusOr<Sent> sent = SignAndSend(tx);
  // Another signer of the account (another replica) took the nonce first:
  // SignAndSend resynced it from the node; sign again with the next one.
  for (int i = 0; i < kNonceRetries && IsNonceCollision(sent.status()); ++i) {
    absl::SleepFor(absl::Milliseconds(5) * (i + 1));
    sent = SignAndSend(tx);
  }
  return sent;
}

absl::StatusOr<EvmSender::Sent> EvmSender::SignAndSend(Eip1559Tx tx) {
  if (!next_nonce_) {
    WARDEN_ASSIGN_OR_RETURN(uint64_t pending, TransactionCount("pending"));
    next_nonce_ = pending;
  }
  tx.nonce = *next_nonce_;
  const std::string raw = SignedEnvelope(tx, key_->Sign(SigningHash(tx)));
  const Hash hash = Keccak256(raw);
  const nlohmann::json params = nlohmann::json::array({Hex(raw)});
  absl::Status last;
  bool maybe_sent = false;
  for (int attempt = 0; attempt < kBroadcastAttempts; ++attempt) {
    if (attempt > 0) absl::SleepFor(absl::Milliseconds(100) * attempt);
    absl::StatusOr<nlohmann::json> reply =
        rpc_->Call("eth_sendRawTransaction", params);
    if (reply.ok()) {
      if (!reply->is_string() || reply->get<std::string>() != Hex(hash)) {
        ++*next_nonce_;  // The node took something: the nonce is spent.
        return Sent{hash, tx.nonce, false,
                    absl::StrCat("the node reported transaction hash ",
                                 reply->dump(), ", not ", Hex(hash)),
                    raw};
      }
      ++*next_nonce_;
      return Sent{hash, tx.nonce, true, "", raw};
    }
    last = reply.status();
    if (absl::IsFailedPrecondition(last)) {
      // An earlier attempt that timed out may have got it there after all.
      const std::string message = absl::AsciiStrToLower(last.message());
      if (maybe_sent && (absl::StrContains(message, "already known") ||
                         absl::StrContains(message, "known transaction"))) {
        ++*next_nonce_;
        return Sent{hash, tx.nonce, true, "", raw};
      }
      if (maybe_sent) break;
      // Refused: nothing entered the pool, and the node's count is the
      // truth again.
      next_nonce_.reset();
      return last;
    }
    if (!absl::IsUnavailable(last)) maybe_sent = true;
  }
  if (!maybe_sent) {
    // Never reached the node: nothing sent. Resync, as the node may have
    // restarted.
    next_nonce_.reset();
    return last;
  }
  ++*next_nonce_;
  return Sent{hash, tx.nonce, false, std::string(last.message()), raw};
}

absl::StatusOr<std::optional<bool>> EvmSender::ReceiptStatus(
    const Hash& tx_hash) {
  WARDEN_ASSIGN_OR_RETURN(nlohmann::json r,
                          rpc_->Call("eth_getTransactionReceipt",
                                     nlohmann::json::array({Hex(tx_hash)})));
  if (r.is_null()) return std::optional<bool>();
  if (!r.is_object() || !r.contains("status")) {
    return absl::UnavailableError("eth_getTransactionReceipt: no status");
  }
  WARDEN_ASSIGN_OR_RETURN(absl::uint128 status, ParseQuantity(r["status"]));
  return std::optional<bool>(status == 1);
}

absl::StatusOr<bool> EvmSender::Known(const Hash& tx_hash) {
  WARDEN_ASSIGN_OR_RETURN(nlohmann::json t,
                          rpc_->Call("eth_getTransactionByHash",
                                     nlohmann::json::array({Hex(tx_hash)})));
  return !t.is_null();
}

absl::Status EvmSender::Rebroadcast(const std::string& raw) {
  absl::StatusOr<nlohmann::json> reply =
      rpc_->Call("eth_sendRawTransaction", nlohmann::json::array({Hex(raw)}));
  if (reply.ok()) return absl::OkStatus();
  const std::string message = absl::AsciiStrToLower(reply.status().message());
  if (absl::StrContains(message, "already known") ||
      absl::StrContains(message, "known transaction") ||
      absl::StrContains(message, "already imported")) {
    return absl::OkStatus();
  }
  return reply.status();
}

absl::StatusOr<uint64_t> EvmSender::BlockNumber() {
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json latest,
      rpc_->Call("eth_blockNumber", nlohmann::json::array()));
  WARDEN_ASSIGN_OR_RETURN(absl::uint128 block, ParseQuantity(latest));
  return absl::Uint128Low64(block);
}

absl::StatusOr<SignedTransferAuthorization>
EvmSender::SignTransferAuthorization(const Address& token,
                                     absl::string_view name,
                                     absl::string_view version,
                                     const Address& to, absl::uint128 value,
                                     absl::Time valid_before,
                                     uint64_t from_block) const {
  SignedTransferAuthorization out;
  out.token = token;
  out.from_block = from_block;
  TransferAuthorization& a = out.authorization;
  a.from = address_;
  a.to = to;
  a.value = value;
  a.valid_after = 0;
  a.valid_before = static_cast<uint64_t>(absl::ToUnixSeconds(valid_before));
  if (RAND_bytes(a.nonce.data(), static_cast<int>(a.nonce.size())) != 1) {
    return absl::InternalError("no random bytes for an EIP-3009 nonce");
  }
  const Hash digest = TransferAuthorizationDigest(
      Eip712DomainSeparator(name, version, chain_id_, token), a);
  out.signature = SignatureHex(key_->Sign(digest));
  return out;
}

absl::StatusOr<EvmSender::AuthorizationUse> EvmSender::UseOf(
    const SignedTransferAuthorization& s) {
  WARDEN_ASSIGN_OR_RETURN(nlohmann::json block,
                          rpc_->Call("eth_getBlockByNumber",
                                     nlohmann::json::array({"latest", false})));
  if (!block.is_object() || !block.contains("number") ||
      !block.contains("timestamp")) {
    return absl::UnavailableError("eth_getBlockByNumber: no latest block");
  }
  WARDEN_ASSIGN_OR_RETURN(absl::uint128 number, ParseQuantity(block["number"]));
  WARDEN_ASSIGN_OR_RETURN(absl::uint128 time,
                          ParseQuantity(block["timestamp"]));
  const TransferAuthorization& a = s.authorization;
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json state,
      rpc_->Call(
          "eth_call",
          nlohmann::json::array(
              {{{"to", Hex(s.token)},
                {"data", Hex(AuthorizationStateCalldata(a.from, a.nonce))}},
               Quantity(number)})));
  // An ABI-encoded bool: one 32-byte word, 0 or 1.
  static const std::string kFalse = "0x" + std::string(64, '0');
  static const std::string kTrue = "0x" + std::string(63, '0') + "1";
  if (!state.is_string() || (state.get<std::string>() != kFalse &&
                             state.get<std::string>() != kTrue)) {
    return absl::UnavailableError(absl::StrCat(
        "authorizationState: the node answered ", state.dump().substr(0, 80),
        ", not a bool (is ", Hex(s.token), " an EIP-3009 token?)"));
  }
  AuthorizationUse out;
  out.used = state.get<std::string>() == kTrue;
  if (!out.used) {
    out.expired = time >= a.valid_before;
    return out;
  }
  // Which transaction: its AuthorizationUsed(authorizer, nonce) log since
  // the signing. Not finding it (a node that prunes logs) leaves the hash
  // empty; the token's state is what counts.
  std::string authorizer(12, '\0');
  authorizer.append(reinterpret_cast<const char*>(a.from.data()),
                    a.from.size());
  absl::StatusOr<nlohmann::json> logs =
      rpc_->Call("eth_getLogs",
                 nlohmann::json::array({{{"address", Hex(s.token)},
                                         {"fromBlock", Quantity(s.from_block)},
                                         {"toBlock", Quantity(number)},
                                         {"topics",
                                          {Hex(AuthorizationUsedTopic()),
                                           Hex(authorizer), Hex(a.nonce)}}}}));
  if (logs.ok() && logs->is_array() && !logs->empty() &&
      (*logs)[0].is_object() && (*logs)[0].contains("transactionHash") &&
      (*logs)[0]["transactionHash"].is_string()) {
    const std::string hash = (*logs)[0]["transactionHash"].get<std::string>();
    absl::string_view digits = hash;
    if (absl::ConsumePrefix(&digits, "0x") && digits.size() == 64 &&
        IsHexDigits(digits)) {
      out.tx_hash = absl::AsciiStrToLower(hash);
    }
  }
  return out;
}

}  // namespace warden::evm
