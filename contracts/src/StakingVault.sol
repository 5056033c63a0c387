// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title Swarm staking vault
/// @notice Providers bond SWARM with a lock tier, request unstake into an unbonding queue and
/// withdraw after the unbonding period. SLASHER_ROLE executes batches of slashes, idempotent by
/// slash id, that take bonded stake first and then unbonding entries requested at or after the
/// infraction (oldest first, as the ledger), so a slash cannot be dodged by requesting unstake after the
/// infraction; entries requested before it are never at risk (SPEC.md sections 5 and 6).
/// @dev Bonded stake per provider is checkpointed by block timestamp (`bondedAt`), so an
/// off-chain reward calculator reads the stake at an epoch's start and a stake placed after the
/// start counts zero for that epoch. Slashed tokens are split by basis points: insurance and
/// treasury receive transfers, the burn share is destroyed with `ERC20Burnable.burn` (the
/// supply falls; the token must be burnable). Rounding remainders go to the burn share.
contract StakingVault is AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Role allowed to execute slash batches.
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    /// @notice Role allowed to pause and unpause (the guardian).
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Basis points denominator of the slash split.
    uint16 public constant BPS = 10_000;
    /// @notice Upper bound of the unbonding period.
    uint64 public constant MAX_UNBONDING_PERIOD = 365 days;

    /// @notice One slash of a batch.
    /// @param slashId Off-chain id; a repeated id is skipped (idempotency). Ids share a storage
    /// word by their high 248 bits, so sequential ids are cheaper to mark than random ones.
    /// @param provider Slashed provider.
    /// @param amount Base units to take (at most what is at risk is taken).
    /// @param infractionAt Timestamp of the infraction: unbonding entries requested before it
    /// are not at risk.
    struct Slash {
        bytes32 slashId;
        address provider;
        uint256 amount;
        uint64 infractionAt;
    }

    /// @notice A request to unstake: `amount` is what is left (a slash may reduce it).
    struct UnbondingEntry {
        address provider;
        uint64 requestedAt;
        bool withdrawn;
        uint192 amount;
        uint64 releaseAt;
    }

    /// @notice The staked token.
    IERC20 public immutable token;

    /// @notice Seconds between an unstake request and its withdrawal.
    uint64 public unbondingPeriod;
    /// @notice Sum of all providers' bonded stake.
    uint256 public totalBonded;
    /// @notice Sum of what is left of all unbonding entries not withdrawn.
    uint256 public totalUnbonding;
    /// @notice Id the next unbonding entry gets (ids start at 1).
    uint256 public nextEntryId = 1;

    /// @notice Insurance pool receiving `insuranceBps` of slashed stake.
    address public insurance;
    uint16 public insuranceBps;
    uint16 public treasuryBps;
    /// @notice Treasury receiving `treasuryBps` of slashed stake.
    address public treasury;

    mapping(address provider => Checkpoints.Trace208) private _bonded;
    mapping(address provider => uint64) public lockedUntil;
    mapping(uint256 entryId => UnbondingEntry) private _entries;
    mapping(address provider => uint256[]) private _entryIds;
    mapping(uint256 word => uint256) private _appliedSlashWords;

    event Staked(address indexed provider, uint256 amount, uint16 lockTierDays, uint64 lockedUntil, uint256 bonded);
    event UnstakeRequested(
        address indexed provider, uint256 indexed entryId, uint256 amount, uint64 releaseAt, uint256 bonded
    );
    event Withdrawn(address indexed provider, uint256 indexed entryId, uint256 amount);
    event Slashed(
        bytes32 indexed slashId, address indexed provider, uint256 requested, uint256 fromBonded, uint256 fromUnbonding
    );
    event UnbondingEntrySlashed(uint256 indexed entryId, bytes32 indexed slashId, uint256 amount, uint256 remaining);
    event SlashProceedsDistributed(uint256 total, uint256 toInsurance, uint256 toTreasury, uint256 burned);
    event UnbondingPeriodChanged(uint64 previous, uint64 current);
    event SlashSplitChanged(address insurance, address treasury, uint16 insuranceBps, uint16 treasuryBps, uint16 burnBps);

    error ZeroAmount();
    error ZeroAddress();
    error InvalidLockTier(uint16 lockTierDays);
    error StakeLocked(address provider, uint64 lockedUntil);
    error InsufficientBonded(address provider, uint256 requested, uint256 bonded);
    error UnknownEntry(uint256 entryId);
    error NotEntryOwner(uint256 entryId, address owner, address caller);
    error StillUnbonding(uint256 entryId, uint64 releaseAt);
    error AlreadyWithdrawn(uint256 entryId);
    error UnbondingPeriodTooLong(uint64 period, uint64 max);
    error InvalidSlashSplit(uint16 insuranceBps, uint16 treasuryBps);

    /// @param token_ Staked token (must implement ERC20Burnable's `burn`).
    /// @param admin Receives DEFAULT_ADMIN_ROLE (the deployer, then the timelock).
    /// @param unbondingPeriod_ Initial unbonding period in seconds.
    /// @param insurance_ Insurance pool address.
    /// @param treasury_ Treasury address.
    /// @param insuranceBps_ Insurance share of slashed stake in basis points (SPEC: 5000).
    /// @param treasuryBps_ Treasury share in basis points (SPEC: 3000); the rest is burned.
    constructor(
        IERC20 token_,
        address admin,
        uint64 unbondingPeriod_,
        address insurance_,
        address treasury_,
        uint16 insuranceBps_,
        uint16 treasuryBps_
    ) {
        if (address(token_) == address(0) || admin == address(0)) revert ZeroAddress();
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setUnbondingPeriod(unbondingPeriod_);
        _setSlashSplit(insurance_, treasury_, insuranceBps_, treasuryBps_);
    }

    // ---------------------------------------------------------------- provider actions

    /// @notice Bond `amount` base units from the caller with a lock tier.
    /// @dev Tiers are days: 0, 30, 90, 180 or 365. The lock only ever extends:
    /// `lockedUntil = max(lockedUntil, now + tier)`. Pulls the tokens (approve first).
    /// @param amount Base units, > 0.
    /// @param lockTierDays Commitment tier in days.
    function stake(uint256 amount, uint16 lockTierDays) external whenNotPaused nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (
            lockTierDays != 0 && lockTierDays != 30 && lockTierDays != 90 && lockTierDays != 180
                && lockTierDays != 365
        ) revert InvalidLockTier(lockTierDays);
        uint64 until = lockedUntil[msg.sender];
        uint64 tierEnd = uint64(block.timestamp) + uint64(lockTierDays) * 1 days;
        if (tierEnd > until) {
            until = tierEnd;
            lockedUntil[msg.sender] = until;
        }
        Checkpoints.Trace208 storage trace = _bonded[msg.sender];
        uint256 bonded = trace.latest() + amount;
        trace.push(SafeCast.toUint48(block.timestamp), SafeCast.toUint208(bonded));
        totalBonded += amount;
        emit Staked(msg.sender, amount, lockTierDays, until, bonded);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Move `amount` of the caller's bonded stake into a new unbonding entry.
    /// @dev Refused while the stake is locked. The entry is withdrawable at
    /// `requestedAt + unbondingPeriod` and stays slashable for infractions at or before
    /// `requestedAt`.
    /// @param amount Base units, > 0 and at most the bonded stake.
    /// @return entryId Id of the new entry.
    function requestUnstake(uint256 amount) external whenNotPaused returns (uint256 entryId) {
        if (amount == 0) revert ZeroAmount();
        uint64 until = lockedUntil[msg.sender];
        if (block.timestamp < until) revert StakeLocked(msg.sender, until);
        Checkpoints.Trace208 storage trace = _bonded[msg.sender];
        uint256 bonded = trace.latest();
        if (amount > bonded) revert InsufficientBonded(msg.sender, amount, bonded);
        trace.push(SafeCast.toUint48(block.timestamp), uint208(bonded - amount));
        totalBonded -= amount;
        totalUnbonding += amount;
        entryId = nextEntryId++;
        uint64 releaseAt = uint64(block.timestamp) + unbondingPeriod;
        _entries[entryId] = UnbondingEntry({
            provider: msg.sender,
            requestedAt: uint64(block.timestamp),
            withdrawn: false,
            amount: SafeCast.toUint192(amount),
            releaseAt: releaseAt
        });
        _entryIds[msg.sender].push(entryId);
        emit UnstakeRequested(msg.sender, entryId, amount, releaseAt, bonded - amount);
    }

    /// @notice Pay the caller what is left of its unbonding entry `entryId` after release.
    /// @dev The amount paid may be below the amount requested (a slash took part or all of
    /// it); a fully slashed entry pays zero and is still marked withdrawn.
    /// @param entryId Entry id from `UnstakeRequested`.
    /// @return amount Base units paid.
    function withdraw(uint256 entryId) external whenNotPaused nonReentrant returns (uint256 amount) {
        UnbondingEntry storage entry = _entries[entryId];
        address owner = entry.provider;
        if (owner == address(0)) revert UnknownEntry(entryId);
        if (owner != msg.sender) revert NotEntryOwner(entryId, owner, msg.sender);
        if (entry.withdrawn) revert AlreadyWithdrawn(entryId);
        if (block.timestamp < entry.releaseAt) revert StillUnbonding(entryId, entry.releaseAt);
        amount = entry.amount;
        entry.withdrawn = true;
        entry.amount = 0;
        totalUnbonding -= amount;
        emit Withdrawn(msg.sender, entryId, amount);
        if (amount != 0) token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- slashing

    /// @notice Execute a batch of slashes (SLASHER_ROLE).
    /// @dev Per slash, in order: a slash id already applied is skipped silently (no event, no
    /// revert); otherwise the bonded stake is taken first, then unbonding entries of the
    /// provider requested at or after `infractionAt`, oldest first (the ledger's order), until
    /// `amount` is taken or nothing is at risk. Emits `Slashed` with the amounts actually taken. The batch's proceeds
    /// are split once: insurance, treasury, burn.
    /// @param slashes The batch.
    /// @return taken Total base units taken by this call.
    function slashBatch(Slash[] calldata slashes)
        external
        onlyRole(SLASHER_ROLE)
        whenNotPaused
        nonReentrant
        returns (uint256 taken)
    {
        uint256 fromBonded;
        uint256 fromUnbonding;
        uint256 count = slashes.length;
        for (uint256 i; i < count; ++i) {
            Slash calldata s = slashes[i];
            if (!_markSlashApplied(s.slashId)) continue;
            (uint256 b, uint256 u) = _slashOne(s);
            fromBonded += b;
            fromUnbonding += u;
        }
        taken = fromBonded + fromUnbonding;
        if (taken == 0) return 0;
        totalBonded -= fromBonded;
        totalUnbonding -= fromUnbonding;
        _distribute(taken);
    }

    function _markSlashApplied(bytes32 slashId) private returns (bool fresh) {
        uint256 id = uint256(slashId);
        uint256 bit = 1 << (id & 0xff);
        uint256 word = _appliedSlashWords[id >> 8];
        if (word & bit != 0) return false;
        _appliedSlashWords[id >> 8] = word | bit;
        return true;
    }

    function _slashOne(Slash calldata s) private returns (uint256 fromBonded, uint256 fromUnbonding) {
        Checkpoints.Trace208 storage trace = _bonded[s.provider];
        uint256 bonded = trace.latest();
        fromBonded = s.amount < bonded ? s.amount : bonded;
        if (fromBonded != 0) trace.push(uint48(block.timestamp), uint208(bonded - fromBonded));
        uint256 rest = s.amount - fromBonded;
        if (rest != 0) fromUnbonding = _slashUnbonding(s.provider, s.slashId, rest, s.infractionAt);
        emit Slashed(s.slashId, s.provider, s.amount, fromBonded, fromUnbonding);
    }

    function _slashUnbonding(address provider, bytes32 slashId, uint256 rest, uint64 infractionAt)
        private
        returns (uint256 taken)
    {
        uint256[] storage ids = _entryIds[provider];
        // Entries are in request order: the ones at risk are a suffix. Find where it starts,
        // then take oldest first, as the ledger's charge_stake does.
        uint256 first = ids.length;
        while (first > 0 && _entries[ids[first - 1]].requestedAt >= infractionAt) --first;
        for (uint256 k = first; k < ids.length && rest != 0; ++k) {
            uint256 entryId = ids[k];
            UnbondingEntry storage entry = _entries[entryId];
            uint256 have = entry.amount;
            if (have == 0) continue;
            uint256 take = rest < have ? rest : have;
            entry.amount = uint192(have - take);
            rest -= take;
            taken += take;
            emit UnbondingEntrySlashed(entryId, slashId, take, have - take);
        }
    }

    function _distribute(uint256 total) private {
        uint256 toInsurance = total * insuranceBps / BPS;
        uint256 toTreasury = total * treasuryBps / BPS;
        uint256 burned = total - toInsurance - toTreasury;
        emit SlashProceedsDistributed(total, toInsurance, toTreasury, burned);
        if (toInsurance != 0) token.safeTransfer(insurance, toInsurance);
        if (toTreasury != 0) token.safeTransfer(treasury, toTreasury);
        if (burned != 0) ERC20Burnable(address(token)).burn(burned);
    }

    // ---------------------------------------------------------------- admin and guardian

    /// @notice Set the unbonding period for future requests (DEFAULT_ADMIN_ROLE, the timelock).
    /// @param period Seconds, at most MAX_UNBONDING_PERIOD.
    function setUnbondingPeriod(uint64 period) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingPeriod(period);
    }

    /// @notice Set where slashed stake goes (DEFAULT_ADMIN_ROLE, the timelock).
    /// @param insurance_ Insurance pool address.
    /// @param treasury_ Treasury address.
    /// @param insuranceBps_ Insurance share in basis points.
    /// @param treasuryBps_ Treasury share in basis points; BPS minus both shares is burned.
    function setSlashSplit(address insurance_, address treasury_, uint16 insuranceBps_, uint16 treasuryBps_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setSlashSplit(insurance_, treasury_, insuranceBps_, treasuryBps_);
    }

    /// @notice Stop stake, requestUnstake, withdraw and slashBatch (PAUSER_ROLE).
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resume after `pause` (PAUSER_ROLE).
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    function _setUnbondingPeriod(uint64 period) private {
        if (period > MAX_UNBONDING_PERIOD) revert UnbondingPeriodTooLong(period, MAX_UNBONDING_PERIOD);
        emit UnbondingPeriodChanged(unbondingPeriod, period);
        unbondingPeriod = period;
    }

    function _setSlashSplit(address insurance_, address treasury_, uint16 insuranceBps_, uint16 treasuryBps_)
        private
    {
        if (insurance_ == address(0) || treasury_ == address(0)) revert ZeroAddress();
        if (uint256(insuranceBps_) + treasuryBps_ > BPS) revert InvalidSlashSplit(insuranceBps_, treasuryBps_);
        insurance = insurance_;
        treasury = treasury_;
        insuranceBps = insuranceBps_;
        treasuryBps = treasuryBps_;
        emit SlashSplitChanged(insurance_, treasury_, insuranceBps_, treasuryBps_, BPS - insuranceBps_ - treasuryBps_);
    }

    // ---------------------------------------------------------------- views

    /// @notice Current bonded stake of `provider`.
    /// @param provider Provider address.
    /// @return Base units bonded now.
    function bondedOf(address provider) external view returns (uint256) {
        return _bonded[provider].latest();
    }

    /// @notice Bonded stake of `provider` at the end of the last block with a timestamp at or
    /// before `timestamp` (a stake placed in a later block counts zero).
    /// @param provider Provider address.
    /// @param timestamp Unix seconds (e.g. an epoch's start).
    /// @return Base units bonded then.
    function bondedAt(address provider, uint64 timestamp) external view returns (uint256) {
        return _bonded[provider].upperLookupRecent(SafeCast.toUint48(timestamp));
    }

    /// @notice An unbonding entry (zero provider: no such entry).
    /// @param entryId Entry id.
    /// @return The entry.
    function unbondingEntry(uint256 entryId) external view returns (UnbondingEntry memory) {
        return _entries[entryId];
    }

    /// @notice Ids of `provider`'s unbonding entries in request order (withdrawn ones included).
    /// @param provider Provider address.
    /// @return The ids.
    function unbondingEntryIds(address provider) external view returns (uint256[] memory) {
        return _entryIds[provider];
    }

    /// @notice Whether slash `slashId` has been applied.
    /// @param slashId Slash id.
    /// @return True once a batch carried it.
    function isSlashApplied(bytes32 slashId) external view returns (bool) {
        uint256 id = uint256(slashId);
        return _appliedSlashWords[id >> 8] & (1 << (id & 0xff)) != 0;
    }
}
