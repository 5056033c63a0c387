// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title SWARM token
/// @notice ERC-20 with EIP-2612 permit and holder burns, 18 decimals; new supply only through
/// MINTER_ROLE. The staking vault burns its share of slashed stake with `burn`.
contract SwarmToken is ERC20, ERC20Burnable, ERC20Permit, AccessControl {
    /// @notice Role allowed to mint new tokens (emission, treasury top-ups).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin Receives DEFAULT_ADMIN_ROLE (hand it to the timelock after deployment).
    constructor(address admin) ERC20("Swarm", "SWARM") ERC20Permit("Swarm") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Mint `amount` base units to `to`.
    /// @dev Only MINTER_ROLE. Emits ERC-20 `Transfer(0, to, amount)`.
    /// @param to Recipient.
    /// @param amount Base units (1 SWARM = 1e18).
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
