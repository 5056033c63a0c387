// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title Swarm rewards distributor
/// @notice One merkle root per epoch over each account's CUMULATIVE claimable amount, posted
/// with its provenance (inputs digest, parameter-set hash, calculator version). A root becomes
/// claimable `activationDelay` seconds after it is posted; a guardian may disable it at any time
/// (a disabled epoch is never re-posted: the next epoch's cumulative root carries the fix).
/// `claim` pays cumulative minus already claimed to the account's payout address.
/// @dev Leaves follow OpenZeppelin's StandardMerkleTree of `(address, uint256)`:
/// `keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))))`, sorted-pair
/// internal nodes (ledger/rewards/domain/merkle.py builds the same tree). Funded by plain token
/// transfers; a claim beyond the balance reverts (ERC20InsufficientBalance). A claim with
/// nothing new to pay reverts with `NothingToClaim` (so a double claim pays nothing and says so).
contract RewardsDistributor is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to post epoch roots (the settlement job's key).
    bytes32 public constant ROOT_POSTER_ROLE = keccak256("ROOT_POSTER_ROLE");
    /// @notice Role allowed to disable roots and pause claims or root posting.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice Upper bound of the activation delay.
    uint64 public constant MAX_ACTIVATION_DELAY = 30 days;

    /// @notice Stored per epoch; provenance digests are in the `RootPosted` event.
    struct EpochRoot {
        bytes32 root;
        uint64 postedAt;
        uint64 activatesAt;
        uint32 calculatorVersion;
        bool disabled;
    }

    /// @notice The paid token.
    IERC20 public immutable token;
    /// @notice Seconds between a root's posting and its first claim.
    uint64 public activationDelay;
    /// @notice Latest posted epoch (meaningful once `anyRootPosted`).
    uint64 public latestEpoch;
    /// @notice Whether any root has been posted.
    bool public anyRootPosted;
    /// @notice Claims paused by the guardian.
    bool public claimsPaused;
    /// @notice Root posting paused by the guardian.
    bool public rootPostingPaused;

    mapping(uint64 epoch => EpochRoot) private _roots;
    /// @notice Cumulative amount already paid per account.
    mapping(address account => uint256) public claimed;
    /// @notice Address an account named to claim on its behalf (zero: none).
    mapping(address account => address) public claimerOf;
    mapping(address account => address) private _payout;

    event RootPosted(
        uint64 indexed epoch,
        bytes32 root,
        bytes32 inputsDigest,
        bytes32 paramsHash,
        uint32 calculatorVersion,
        uint64 activatesAt
    );
    event RootDisabled(uint64 indexed epoch, address indexed guardian);
    event Claimed(
        uint64 indexed epoch, address indexed account, address indexed payout, uint256 amount, uint256 cumulativeAmount
    );
    event ClaimerSet(address indexed account, address indexed claimer);
    event PayoutAddressSet(address indexed account, address indexed payout);
    event ActivationDelayChanged(uint64 previous, uint64 current);
    event ClaimsPauseChanged(bool paused);
    event RootPostingPauseChanged(bool paused);

    error ZeroAddress();
    error ZeroRoot(uint64 epoch);
    error RootAlreadyPosted(uint64 epoch);
    error EpochNotIncreasing(uint64 epoch, uint64 latestEpoch);
    error UnknownRoot(uint64 epoch);
    error RootNotActive(uint64 epoch, uint64 activatesAt);
    error RootIsDisabled(uint64 epoch);
    error InvalidProof(uint64 epoch, address account, uint256 cumulativeAmount);
    error NothingToClaim(address account, uint256 cumulativeAmount, uint256 alreadyClaimed);
    error NotClaimer(address caller, address account);
    error ClaimsArePaused();
    error RootPostingIsPaused();
    error ActivationDelayTooLong(uint64 delay, uint64 max);

    /// @param token_ The paid token.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (the deployer, then the timelock).
    /// @param activationDelay_ Initial activation delay in seconds.
    constructor(IERC20 token_, address admin, uint64 activationDelay_) {
        if (address(token_) == address(0) || admin == address(0)) revert ZeroAddress();
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setActivationDelay(activationDelay_);
    }

    // ---------------------------------------------------------------- roots

    /// @notice Post the root of `epoch` (ROOT_POSTER_ROLE); claimable after the activation delay.
    /// @dev Epochs strictly increase; posting an epoch again reverts (`RootAlreadyPosted`): the
    /// job sends one transaction per epoch (replacements reuse its nonce), so a duplicate is a
    /// bug. Gas does not depend on the number of leaves.
    /// @param epoch Epoch number.
    /// @param root Merkle root over cumulative claimable amounts.
    /// @param inputsDigest Digest of the epoch's input bundle (export/verify).
    /// @param paramsHash Hash of the parameter set used.
    /// @param calculatorVersion Version of the reward calculator.
    function postRoot(uint64 epoch, bytes32 root, bytes32 inputsDigest, bytes32 paramsHash, uint32 calculatorVersion)
        external
        onlyRole(ROOT_POSTER_ROLE)
    {
        if (rootPostingPaused) revert RootPostingIsPaused();
        if (root == bytes32(0)) revert ZeroRoot(epoch);
        if (_roots[epoch].root != bytes32(0)) revert RootAlreadyPosted(epoch);
        if (anyRootPosted && epoch <= latestEpoch) revert EpochNotIncreasing(epoch, latestEpoch);
        uint64 activatesAt = uint64(block.timestamp) + activationDelay;
        _roots[epoch] = EpochRoot({
            root: root,
            postedAt: uint64(block.timestamp),
            activatesAt: activatesAt,
            calculatorVersion: calculatorVersion,
            disabled: false
        });
        latestEpoch = epoch;
        anyRootPosted = true;
        emit RootPosted(epoch, root, inputsDigest, paramsHash, calculatorVersion, activatesAt);
    }

    /// @notice Disable the root of `epoch`, during or after its activation delay (GUARDIAN_ROLE).
    /// @param epoch Epoch number.
    function disableRoot(uint64 epoch) external onlyRole(GUARDIAN_ROLE) {
        EpochRoot storage r = _roots[epoch];
        if (r.root == bytes32(0)) revert UnknownRoot(epoch);
        if (r.disabled) revert RootIsDisabled(epoch);
        r.disabled = true;
        emit RootDisabled(epoch, msg.sender);
    }

    // ---------------------------------------------------------------- claims

    /// @notice Pay `account` its `cumulativeAmount` minus what it already claimed.
    /// @dev Callable by `account` or by its named claimer; pays the payout address (the account
    /// itself unless set). Verifies the proof against `epoch`'s root, which must be posted,
    /// active and not disabled. Reverts `NothingToClaim` when nothing new is due.
    /// @param epoch Epoch whose root the proof is for (any active epoch; normally the latest).
    /// @param account The leaf's account.
    /// @param cumulativeAmount The leaf's cumulative amount.
    /// @param proof Sibling hashes from the leaf up.
    /// @return amount Base units paid.
    function claim(uint64 epoch, address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        nonReentrant
        returns (uint256 amount)
    {
        if (claimsPaused) revert ClaimsArePaused();
        if (msg.sender != account && msg.sender != claimerOf[account]) revert NotClaimer(msg.sender, account);
        EpochRoot storage r = _roots[epoch];
        bytes32 root = r.root;
        if (root == bytes32(0)) revert UnknownRoot(epoch);
        if (r.disabled) revert RootIsDisabled(epoch);
        if (block.timestamp < r.activatesAt) revert RootNotActive(epoch, r.activatesAt);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof(epoch, account, cumulativeAmount);
        uint256 already = claimed[account];
        if (cumulativeAmount <= already) revert NothingToClaim(account, cumulativeAmount, already);
        amount = cumulativeAmount - already;
        claimed[account] = cumulativeAmount;
        address payout = _payout[account];
        if (payout == address(0)) payout = account;
        emit Claimed(epoch, account, payout, amount, cumulativeAmount);
        token.safeTransfer(payout, amount);
    }

    /// @notice Name `claimer` as allowed to claim for the caller (address(0): nobody else).
    /// @param claimer The claimer.
    function setClaimer(address claimer) external {
        claimerOf[msg.sender] = claimer;
        emit ClaimerSet(msg.sender, claimer);
    }

    /// @notice Pay the caller's claims to `payout` (address(0): to the caller itself).
    /// @param payout The payout address.
    function setPayoutAddress(address payout) external {
        _payout[msg.sender] = payout;
        emit PayoutAddressSet(msg.sender, payout);
    }

    // ---------------------------------------------------------------- admin and guardian

    /// @notice Set the activation delay of roots posted from now on (DEFAULT_ADMIN_ROLE).
    /// @param delay Seconds, at most MAX_ACTIVATION_DELAY.
    function setActivationDelay(uint64 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setActivationDelay(delay);
    }

    /// @notice Pause or resume claims (GUARDIAN_ROLE).
    /// @param paused True to pause.
    function setClaimsPaused(bool paused) external onlyRole(GUARDIAN_ROLE) {
        claimsPaused = paused;
        emit ClaimsPauseChanged(paused);
    }

    /// @notice Pause or resume root posting (GUARDIAN_ROLE).
    /// @param paused True to pause.
    function setRootPostingPaused(bool paused) external onlyRole(GUARDIAN_ROLE) {
        rootPostingPaused = paused;
        emit RootPostingPauseChanged(paused);
    }

    function _setActivationDelay(uint64 delay) private {
        if (delay > MAX_ACTIVATION_DELAY) revert ActivationDelayTooLong(delay, MAX_ACTIVATION_DELAY);
        emit ActivationDelayChanged(activationDelay, delay);
        activationDelay = delay;
    }

    // ---------------------------------------------------------------- views

    /// @notice The stored root of `epoch` (zero root: not posted).
    /// @param epoch Epoch number.
    /// @return The root record.
    function epochRoot(uint64 epoch) external view returns (EpochRoot memory) {
        return _roots[epoch];
    }

    /// @notice Where `account`'s claims are paid.
    /// @param account The account.
    /// @return The payout address (the account itself unless set).
    function payoutOf(address account) external view returns (address) {
        address payout = _payout[account];
        return payout == address(0) ? account : payout;
    }
}
