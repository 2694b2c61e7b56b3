#ifndef WARDEN_ADAPTERS_LOCAL_EVM_SENDER_H_
#define WARDEN_ADAPTERS_LOCAL_EVM_SENDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "adapters/evm/eip3009.h"
#include "adapters/evm/evm.h"
#include "adapters/evm/json_rpc.h"

namespace warden::evm {

// Signs and broadcasts EIP-1559 transactions from one wallet through a
// node's JSON-RPC endpoint. Nonces are allocated here, per wallet and
// serialized, starting from the node's pending count, so concurrent sends
// from one wallet land with consecutive nonces. The key is held decrypted
// (by the keystore) and never re-derived per send. Thread-safe.
class EvmSender {
 public:
  // Checks that the node serves `chain_id` (FAILED_PRECONDITION if not).
  // `key` is not owned and must outlive the sender.
  static absl::StatusOr<std::unique_ptr<EvmSender>> Create(
      const PrivateKey* key, uint64_t chain_id,
      std::unique_ptr<JsonRpcClient> rpc);

  struct Sent {
    Hash tx_hash{};
    uint64_t nonce = 0;
    // False when no broadcast attempt was answered but one may have reached
    // the node (a timeout, a broken connection): the transaction may or may
    // not be in the pool, and `error` says why it is not known.
    bool acknowledged = true;
    std::string error;
    // The signed transaction, for a rebroadcast of the very same bytes.
    std::string raw;
  };
  // Estimates gas (plus a fifth, for calls), takes fees from the node
  // (eth_maxPriorityFeePerGas, and twice the latest base fee on top), signs
  // with the next nonce and broadcasts. A broadcast that fails in transit is
  // retried with the very same signed bytes (the same hash), never re-signed,
  // so a retry cannot send twice. When the node refuses it because another
  // signer of the account (another replica) took the nonce, the nonce is
  // resynced from the node and the transaction signed again with the next
  // one, up to kNonceRetries times: the refused one never entered the pool.
  // An error means nothing was sent: the node was not reachable, or refused
  // the transaction.
  absl::StatusOr<Sent> Send(const Address& to, absl::uint128 value,
                            const std::string& data);

  // A mined transaction's status (true: success, false: reverted), or
  // nullopt while it is not mined.
  absl::StatusOr<std::optional<bool>> ReceiptStatus(const Hash& tx_hash);
  // Whether the node knows the transaction at all (in its pool or mined).
  absl::StatusOr<bool> Known(const Hash& tx_hash);
  // How many of the account's transactions are mined: every nonce below it
  // is used for good.
  absl::StatusOr<uint64_t> MinedCount();
  // Broadcasts `raw` (a transaction signed earlier) again: the same bytes,
  // so the same hash; harmless when the node has it already.
  absl::Status Rebroadcast(const std::string& raw);

  // The chain's latest block number.
  absl::StatusOr<uint64_t> BlockNumber();
  // Signs an EIP-3009 TransferWithAuthorization (x402's `exact` payment) of
  // `value` of `token` to `to`, valid from now until `valid_before`, with a
  // fresh random nonce, in the token's EIP-712 domain (`name`, `version`,
  // this chain). No node call: `from_block` (BlockNumber, read before) is
  // where its use will be looked for.
  absl::StatusOr<SignedTransferAuthorization> SignTransferAuthorization(
      const Address& token, absl::string_view name, absl::string_view version,
      const Address& to, absl::uint128 value, absl::Time valid_before,
      uint64_t from_block) const;

  // Where a signed authorization stands on chain, read at one block.
  struct AuthorizationUse {
    // The token says it is used (transferred, or cancelled).
    bool used = false;
    // Unused, at a block whose time is at or past its valid_before: it can
    // never be used.
    bool expired = false;
    // The transaction that used it, when its AuthorizationUsed log is found.
    std::string tx_hash;
  };
  // authorizationState(from, nonce) at the latest block, whose timestamp
  // tells whether an unused one has expired (read at that same block, so a
  // use mined just before it is never called an expiry).
  absl::StatusOr<AuthorizationUse> UseOf(
      const SignedTransferAuthorization& signed_auth);

  // How many times a broadcast is tried before it is given up.
  static constexpr int kBroadcastAttempts = 3;
  // How many times a send whose nonce was taken is signed again.
  static constexpr int kNonceRetries = 8;

  const Address& address() const { return address_; }
  uint64_t chain_id() const { return chain_id_; }

 private:
  EvmSender(const PrivateKey* key, uint64_t chain_id,
            std::unique_ptr<JsonRpcClient> rpc);
  // eth_getTransactionCount at "pending" or "latest".
  absl::StatusOr<uint64_t> TransactionCount(const char* block);
  absl::StatusOr<Sent> SignAndSend(Eip1559Tx tx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PrivateKey* const key_;
  const uint64_t chain_id_;
  const Address address_;
  const std::unique_ptr<JsonRpcClient> rpc_;
  absl::Mutex mu_;
  std::optional<uint64_t> next_nonce_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::evm

#endif  // WARDEN_ADAPTERS_LOCAL_EVM_SENDER_H_
