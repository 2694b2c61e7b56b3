#ifndef WARDEN_ADAPTERS_EVM_EVM_H_
#define WARDEN_ADAPTERS_EVM_EVM_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// EVM accounts and EIP-1559 (type 2) transactions: the signing hash, a
// recoverable secp256k1 signature (libsecp256k1, RFC 6979 nonces) and the
// raw signed envelope a node accepts with eth_sendRawTransaction.
namespace warden::evm {

using Address = std::array<uint8_t, 20>;
using Hash = std::array<uint8_t, 32>;

// "0x" and 40 hex digits, any case.
absl::StatusOr<Address> ParseAddress(absl::string_view text);
// Lower-case "0x..." hex.
std::string Hex(absl::string_view bytes);
std::string Hex(const Address& a);
std::string Hex(const Hash& h);

struct Eip1559Tx {
  uint64_t chain_id = 0;
  uint64_t nonce = 0;
  absl::uint128 max_priority_fee_per_gas = 0;  // wei
  absl::uint128 max_fee_per_gas = 0;           // wei
  uint64_t gas_limit = 0;
  Address to{};
  absl::uint128 value = 0;  // wei
  std::string data;         // calldata bytes
  // The access list is always empty.
};

// keccak256(0x02 || rlp([chain_id, nonce, max_priority_fee_per_gas,
// max_fee_per_gas, gas_limit, to, value, data, access_list])).
Hash SigningHash(const Eip1559Tx& tx);

struct Signature {
  Hash r{};
  Hash s{};
  int y_parity = 0;  // The recovery id, 0 or 1.
};

// 0x02 || rlp([...the fields..., y_parity, r, s]): what
// eth_sendRawTransaction takes; its keccak256 is the transaction hash.
std::string SignedEnvelope(const Eip1559Tx& tx, const Signature& sig);

// ERC-20 transfer(address,uint256): its selector as hex, and calldata.
inline constexpr char kTransferSelector[] = "a9059cbb";
std::string TransferCalldata(const Address& to, absl::uint128 amount);

// What a transfer is on chain: a call to `to` carrying `value` wei and
// calldata `data`.
struct Call {
  Address to{};
  absl::uint128 value = 0;
  std::string data;
};

// The call that moves `amount` base units to `destination`: for the native
// coin (empty `token_contract`), value `amount` with the caller's `data`;
// for a token, transfer(destination, amount) to its contract, with no
// value and no other calldata. INVALID_ARGUMENT naming the field
// (destination, token_contract, data).
absl::StatusOr<Call> ResolveTransfer(absl::string_view destination,
                                     absl::string_view token_contract,
                                     absl::uint128 amount, std::string data);

// True when every character of `s` is a hex digit (either case).
bool IsHexDigits(absl::string_view s);

// A secp256k1 private key. Its bytes are wiped when it is destroyed.
class PrivateKey {
 public:
  // INVALID_ARGUMENT unless 32 bytes that are a valid secret key.
  static absl::StatusOr<PrivateKey> FromBytes(absl::string_view bytes);
  // A fresh key from OpenSSL's CSPRNG.
  static PrivateKey Generate();

  PrivateKey(PrivateKey&& other) noexcept;
  PrivateKey& operator=(PrivateKey&& other) noexcept;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  ~PrivateKey();

  // The key's 32 bytes (for the keystore to encrypt).
  absl::string_view bytes() const {
    return {reinterpret_cast<const char*>(key_.data()), key_.size()};
  }
  Address address() const;
  Signature Sign(const Hash& hash) const;

 private:
  PrivateKey() = default;
  std::array<uint8_t, 32> key_{};
};

// The address that made `sig` over `hash`, or INVALID_ARGUMENT.
absl::StatusOr<Address> RecoverSigner(const Hash& hash, const Signature& sig);

}  // namespace warden::evm

#endif  // WARDEN_ADAPTERS_EVM_EVM_H_
