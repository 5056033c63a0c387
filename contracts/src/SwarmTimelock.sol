// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title Swarm timelock
/// @notice OpenZeppelin TimelockController that holds DEFAULT_ADMIN_ROLE of the token, the vault
/// and the distributor: every admin change (split, periods, delays, role grants) waits `minDelay`.
contract SwarmTimelock is TimelockController {
    /// @param minDelay Seconds between scheduling and executing an operation.
    /// @param proposers Accounts that may schedule (and cancel) operations.
    /// @param executors Accounts that may execute ready operations (address(0): anyone).
    /// @param admin Optional timelock admin (address(0): the timelock administers itself).
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
