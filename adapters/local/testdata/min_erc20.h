#ifndef WARDEN_ADAPTERS_LOCAL_TESTDATA_MIN_ERC20_H_
#define WARDEN_ADAPTERS_LOCAL_TESTDATA_MIN_ERC20_H_

// A minimal ERC-20 token, hand-assembled EVM bytecode (no solc), for
// tests against a local node (anvil). Equivalent Solidity-ish source:
//
//   contract MinErc20 {  // non-payable; balance of A at storage slot A
//     constructor() { balance[msg.sender] = 10**30; }
//     function balanceOf(address a) returns (uint256);
//     function decimals() returns (uint8) { return 6; }
//     function transfer(address to, uint256 amt) returns (bool) {
//       require(balance[msg.sender] >= amt);  // else revert(0, 0)
//       balance[msg.sender] -= amt;
//       balance[to] += amt;  // read after the debit: self-transfer ok
//       emit Transfer(msg.sender, to, amt);
//       return true;
//     }
//     // Any other selector, CALLVALUE != 0 or calldata < 4 bytes:
//     // revert(0, 0). Address arguments are masked to 160 bits.
//   }
//
// kMinErc20InitCode = init code (29 bytes) + runtime (206 bytes).
//
// Init code (offset  instruction  comment):
// 0000  PUSH13         10^30
//         0x0c9f2c9cd04674edea40000000
// 000e  CALLER
// 000f  SSTORE                 sstore(caller, 10^30)
// 0010  PUSH2 0x00ce           runtime_len
// 0013  DUP1                   [len len]
// 0014  PUSH2 0x001d           runtime_off
// 0017  PUSH1 0x00             [len len off 0]
// 0019  CODECOPY               mem[0:len] = code[off:off+len]
// 001a  PUSH1 0x00
// 001c  RETURN                 return mem[0:len] (runtime)
//
// Runtime (offsets relative to the runtime start, 0x001d in
// the init code; stack shown as [bottom ... top]):
// 0000  CALLVALUE              value attached?
// 0001  PUSH2 0x0034           revert
// 0004  JUMPI                  -> revert if CALLVALUE != 0
// 0005  PUSH1 0x04
// 0007  CALLDATASIZE
// 0008  LT                     CALLDATASIZE < 4
// 0009  PUSH2 0x0034           revert
// 000c  JUMPI                  -> revert if no selector
// 000d  PUSH1 0x00
// 000f  CALLDATALOAD           first calldata word
// 0010  PUSH1 0xe0
// 0012  SHR                    [sel] = calldata[0:4]
// 0013  DUP1
// 0014  PUSH4 0x70a08231       balanceOf(address)
// 0019  EQ
// 001a  PUSH2 0x0039           balanceOf
// 001d  JUMPI
// 001e  DUP1
// 001f  PUSH4 0xa9059cbb       transfer(address,uint256)
// 0024  EQ
// 0025  PUSH2 0x0067           transfer
// 0028  JUMPI
// 0029  DUP1
// 002a  PUSH4 0x313ce567       decimals()
// 002f  EQ
// 0030  PUSH2 0x005c           decimals
// 0033  JUMPI                  unknown selector falls through
// 0034  JUMPDEST               revert:
// 0035  PUSH1 0x00
// 0037  DUP1
// 0038  REVERT                 revert(0, 0)
// 0039  JUMPDEST               balanceOf:
// 003a  PUSH1 0x04
// 003c  CALLDATALOAD           owner
// 003d  PUSH20
//         0xffffffffffffffffffffffffffffffffffffffff
// 0052  AND                    owner &= 2^160-1
// 0053  SLOAD                  balance = sload(owner)
// 0054  PUSH1 0x00
// 0056  MSTORE                 mem[0:32] = balance
// 0057  PUSH1 0x20
// 0059  PUSH1 0x00
// 005b  RETURN                 return mem[0:32]
// 005c  JUMPDEST               decimals:
// 005d  PUSH1 0x06
// 005f  PUSH1 0x00
// 0061  MSTORE                 mem[0:32] = 6
// 0062  PUSH1 0x20
// 0064  PUSH1 0x00
// 0066  RETURN                 return mem[0:32]
// 0067  JUMPDEST               transfer:            [sel]
// 0068  PUSH1 0x24
// 006a  CALLDATALOAD           [sel amt]
// 006b  CALLER
// 006c  SLOAD                  [sel amt bal]  bal = sload(caller)
// 006d  DUP2
// 006e  DUP2
// 006f  LT                     [sel amt bal bal<amt]
// 0070  PUSH2 0x0034           revert
// 0073  JUMPI                  -> revert if bal < amt
// 0074  DUP2
// 0075  SWAP1
// 0076  SUB                    [sel amt bal-amt]
// 0077  CALLER
// 0078  SSTORE                 [sel amt]  sstore(caller, bal-amt)
// 0079  PUSH1 0x04
// 007b  CALLDATALOAD
// 007c  PUSH20
//         0xffffffffffffffffffffffffffffffffffffffff
// 0091  AND                    [sel amt to]  to &= 2^160-1
// 0092  DUP1
// 0093  SLOAD                  [sel amt to balTo] (after the debit)
// 0094  DUP3
// 0095  ADD                    [sel amt to balTo+amt] (<= supply)
// 0096  DUP2
// 0097  SSTORE                 [sel amt to]  sstore(to, balTo+amt)
// 0098  DUP2
// 0099  PUSH1 0x00
// 009b  MSTORE                 mem[0:32] = amt
// 009c  DUP1                   topic2 = to
// 009d  CALLER                 topic1 = from
// 009e  PUSH32         topic0
//         0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef
// 00bf  PUSH1 0x20
// 00c1  PUSH1 0x00
// 00c3  LOG3                   Transfer(from, to, amt)
// 00c4  PUSH1 0x01
// 00c6  PUSH1 0x00
// 00c8  MSTORE                 mem[0:32] = true
// 00c9  PUSH1 0x20
// 00cb  PUSH1 0x00
// 00cd  RETURN                 return mem[0:32]

namespace warden::evm::testdata {

// Deploy with eth_sendTransaction {data: kMinErc20InitCode}.
inline constexpr char kMinErc20InitCode[] =
    "0x6c0c9f2c9cd04674edea4000000033556100ce8061001d6000396000f33461"
    "003457600436106100345760003560e01c806370a0823114610039578063a905"
    "9cbb14610067578063313ce5671461005c575b600080fd5b60043573ffffffff"
    "ffffffffffffffffffffffffffffffff165460005260206000f35b6006600052"
    "60206000f35b602435335481811061003457819003335560043573ffffffffff"
    "ffffffffffffffffffffffffffffff168054820181558160005280337fddf252"
    "ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef602060"
    "00a3600160005260206000f3";

// 10^30 base units, all credited to the deployer.
inline constexpr char kMinErc20TotalSupply[] =
    "1000000000000000000000000000000";

}  // namespace warden::evm::testdata

#endif  // WARDEN_ADAPTERS_LOCAL_TESTDATA_MIN_ERC20_H_
