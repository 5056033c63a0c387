// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";

/// @notice Test helper: token receiver hook of an ERC-777-like token.
interface ITokenReceiverHook {
    /// @notice Called by the token after `amount` reached the receiver.
    function tokensReceived(address from, uint256 amount) external;
}

/// @title Hooked token (TEST ONLY)
/// @notice ERC-20 that, like ERC-777, calls `tokensReceived` on a recipient that registered a
/// hook, handing it control in the middle of the sender's call: the reentrancy tests use it to
/// show the vault and the distributor pay nothing twice.
contract HookedToken is ERC20, ERC20Burnable {
    /// @notice Accounts whose hook is called on receipt.
    mapping(address account => bool) public hookRegistered;

    constructor() ERC20("Hooked", "HOOK") {}

    /// @notice Mint freely (test token).
    /// @param to Recipient.
    /// @param amount Base units.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Register or drop the caller's receive hook.
    /// @param on True to register.
    function registerHook(bool on) external {
        hookRegistered[msg.sender] = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (to != address(0) && hookRegistered[to]) ITokenReceiverHook(to).tokensReceived(from, value);
    }
}
