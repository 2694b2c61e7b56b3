// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Multicall3 (subset)
/// @notice The `tryAggregate` entry point of Multicall3, which is deployed at
/// 0xcA11bde05977b3631167028862bE2a173976CA11 on public chains but not on a
/// fresh anvil. The x402 exact EVM facilitator batches its diagnostic reads
/// through it when a payment's simulation fails (to tell "nonce already
/// used" or "insufficient balance" from a generic failure), so the harness
/// installs this runtime code at that address.
/// @dev Same ABI and semantics as the real Multicall3 for this function.
contract Multicall3 {
    struct Call {
        address target;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    function tryAggregate(bool requireSuccess, Call[] calldata calls)
        external
        payable
        returns (Result[] memory returnData)
    {
        returnData = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            (bool success, bytes memory ret) = calls[i].target.call(calls[i].callData);
            if (requireSuccess) {
                require(success, "Multicall3: call failed");
            }
            returnData[i] = Result(success, ret);
        }
    }
}
