#ifndef WARDEN_ADAPTERS_EVM_EIP3009_H_
#define WARDEN_ADAPTERS_EVM_EIP3009_H_

#include <cstdint>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adapters/evm/evm.h"

// EIP-3009 transferWithAuthorization, as x402's `exact` EVM scheme uses it:
// the EIP-712 digest of a TransferWithAuthorization in a token's domain,
// its signature, and the record of one signed payment that the local
// adapter keeps as an operation's vendor_ref (to poll the token for it).
namespace warden::evm {

// EIP-712 domain separator of a token: keccak256(abi.encode(
// keccak256("EIP712Domain(string name,string version,uint256 chainId,
// address verifyingContract)"), keccak256(name), keccak256(version),
// chainId, verifyingContract)).
Hash Eip712DomainSeparator(absl::string_view name, absl::string_view version,
                           uint64_t chain_id,
                           const Address& verifying_contract);

struct TransferAuthorization {
  Address from{};
  Address to{};
  absl::uint128 value = 0;
  uint64_t valid_after = 0;   // Unix seconds.
  uint64_t valid_before = 0;  // Unix seconds.
  Hash nonce{};
};

// keccak256(0x1901 || domain_separator || keccak256(abi.encode(
// TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter,
// validBefore, nonce))).
Hash TransferAuthorizationDigest(const Hash& domain_separator,
                                 const TransferAuthorization& auth);

// 0x || r || s || v (65 bytes, v = 27 + y_parity): the signature x402
// payloads carry.
std::string SignatureHex(const Signature& sig);

// One payment the local adapter signed: which token, its authorization and
// the signature. Encoded into the operation's vendor_ref as "x402:" and a
// JSON object.
struct SignedTransferAuthorization {
  Address token{};
  TransferAuthorization authorization;
  std::string signature;  // SignatureHex.
  // The chain's latest block when it was signed: its use can only be in a
  // later block.
  uint64_t from_block = 0;
};
inline constexpr char kX402RefPrefix[] = "x402:";
std::string EncodeX402Ref(const SignedTransferAuthorization& signed_auth);
// INVALID_ARGUMENT unless `ref` is what EncodeX402Ref made.
absl::StatusOr<SignedTransferAuthorization> DecodeX402Ref(
    absl::string_view ref);
// Whether `ref` is an x402 payment's (starts with kX402RefPrefix).
bool IsX402Ref(absl::string_view ref);

// authorizationState(address,bytes32) calldata, and the topic of
// AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce).
std::string AuthorizationStateCalldata(const Address& authorizer,
                                       const Hash& nonce);
Hash AuthorizationUsedTopic();

}  // namespace warden::evm

#endif  // WARDEN_ADAPTERS_EVM_EIP3009_H_
