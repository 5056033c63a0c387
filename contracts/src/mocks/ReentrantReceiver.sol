// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ITokenReceiverHook} from "./HookedToken.sol";

/// @title Reentrant receiver (TEST ONLY)
/// @notice A provider / claimant contract that, when tokens reach it, calls back into the
/// contract paying it with a prepared payload (e.g. `withdraw` or `claim` again) once, and
/// records whether the reentrant call succeeded and what it returned.
contract ReentrantReceiver is ITokenReceiverHook {
    address public target;
    bytes public payload;
    bool public armed;
    bool public reentryAttempted;
    bool public reentrySucceeded;
    bytes public reentryReturnData;

    event Reentered(bool success, bytes returnData);

    /// @notice Make an arbitrary call as this contract (approve, stake, claim, ...).
    /// @param to Callee.
    /// @param data Calldata.
    /// @return The callee's return data (reverts bubble up).
    function execute(address to, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    /// @notice Arm the attack: on the next receipt call `to` with `data`.
    /// @param to Callee of the reentrant call.
    /// @param data Its calldata.
    function arm(address to, bytes calldata data) external {
        target = to;
        payload = data;
        armed = true;
    }

    /// @inheritdoc ITokenReceiverHook
    function tokensReceived(address, uint256) external {
        if (!armed) return;
        armed = false;
        reentryAttempted = true;
        (bool ok, bytes memory ret) = target.call(payload);
        reentrySucceeded = ok;
        reentryReturnData = ret;
        emit Reentered(ok, ret);
    }
}
