"""StakingVault on eth-tester and anvil: stake and lock tiers, unbonding, withdraw, batch
slashing (idempotent, not dodgeable, split), checkpoints, pause, roles, admin setters."""

from __future__ import annotations

import pytest
from web3 import Web3

from ledger.chain.contracts import SlashItem, decode_revert_data
from ledger.chain.deploy import PAUSER_ROLE, SLASHER_ROLE
from tests.contracts.conftest import E18, UNBONDING, Chain, System
from tests.contracts.helpers import assert_reverts, block_ts, events

DAY = 86_400


def sid(n: int) -> bytes:
    return n.to_bytes(32, "big")


def slash(system: System, *items: tuple[bytes, str, int, int]) -> dict:
    batch = [SlashItem(*i).as_abi() for i in items]
    return system.tx(system.vault.functions.slashBatch(batch), system.slasher, gas=3_000_000)


def entry(system: System, entry_id: int) -> tuple:
    return tuple(system.vault.functions.unbondingEntry(entry_id).call())


def test_stake_records_bonded_lock_and_event(system: System) -> None:
    p = system.providers[0]
    receipt = system.fund_and_stake(p, 100 * E18, 30)
    ts = block_ts(system.w3, receipt)
    v = system.vault.functions
    assert v.bondedOf(p).call() == 100 * E18
    assert v.totalBonded().call() == 100 * E18
    assert v.lockedUntil(p).call() == ts + 30 * DAY
    assert system.token.functions.balanceOf(system.vault.address).call() == 100 * E18
    [ev] = events(system.vault, "Staked", receipt)
    assert ev == {
        "provider": p, "amount": 100 * E18, "lockTierDays": 30, "lockedUntil": ts + 30 * DAY,
        "bonded": 100 * E18,
    }  # fmt: skip
    # A shorter tier later never shortens the lock.
    receipt = system.fund_and_stake(p, E18, 0)
    assert v.lockedUntil(p).call() == ts + 30 * DAY


@pytest.mark.parametrize("tier", [0, 30, 90, 180, 365])
def test_every_lock_tier_is_accepted(system: System, tier: int) -> None:
    receipt = system.fund_and_stake(system.providers[0], E18, tier)
    ts = block_ts(system.w3, receipt)
    assert system.vault.functions.lockedUntil(system.providers[0]).call() == ts + tier * DAY


def test_stake_reverts(system: System) -> None:
    p, v = system.providers[0], system.vault.functions
    system.tx(system.token.functions.mint(p, E18), system.deployer)
    system.tx(system.token.functions.approve(system.vault.address, E18), p)
    assert_reverts(system.w3, v.stake(0, 0), p, "ZeroAmount")
    assert_reverts(system.w3, v.stake(E18, 7), p, "InvalidLockTier", lockTierDays=7)
    assert_reverts(
        system.w3, v.stake(2 * E18, 0), p, "ERC20InsufficientAllowance",
        spender=system.vault.address, allowance=E18, needed=2 * E18,
    )  # fmt: skip


def test_request_unstake_refused_while_locked_then_allowed(chain: Chain, system: System) -> None:
    p, v = system.providers[0], system.vault.functions
    receipt = system.fund_and_stake(p, 10 * E18, 30)
    until = block_ts(system.w3, receipt) + 30 * DAY
    assert_reverts(
        system.w3, v.requestUnstake(E18), p, "StakeLocked", provider=p, lockedUntil=until
    )
    chain.warp(until + 1)
    receipt = system.tx(v.requestUnstake(4 * E18), p)
    ts = block_ts(system.w3, receipt)
    [ev] = events(system.vault, "UnstakeRequested", receipt)
    assert ev == {"provider": p, "entryId": 1, "amount": 4 * E18, "releaseAt": ts + UNBONDING,
                  "bonded": 6 * E18}  # fmt: skip
    assert entry(system, 1) == (p, ts, False, 4 * E18, ts + UNBONDING)
    assert v.unbondingEntryIds(p).call() == [1]
    assert v.nextEntryId().call() == 2
    assert v.bondedOf(p).call() == 6 * E18
    assert v.totalBonded().call() == 6 * E18
    assert v.totalUnbonding().call() == 4 * E18


def test_request_unstake_reverts(system: System) -> None:
    p, v = system.providers[0], system.vault.functions
    system.fund_and_stake(p, E18)
    assert_reverts(system.w3, v.requestUnstake(0), p, "ZeroAmount")
    assert_reverts(
        system.w3, v.requestUnstake(2 * E18), p, "InsufficientBonded",
        provider=p, requested=2 * E18, bonded=E18,
    )  # fmt: skip


def test_withdraw_after_unbonding_and_its_reverts(chain: Chain, system: System) -> None:
    p, q, v = system.providers[0], system.providers[1], system.vault.functions
    system.fund_and_stake(p, 10 * E18)
    release = block_ts(system.w3, system.tx(v.requestUnstake(3 * E18), p)) + UNBONDING
    assert_reverts(system.w3, v.withdraw(99), p, "UnknownEntry", entryId=99)
    assert_reverts(system.w3, v.withdraw(1), q, "NotEntryOwner", entryId=1, owner=p, caller=q)
    assert_reverts(system.w3, v.withdraw(1), p, "StillUnbonding", entryId=1, releaseAt=release)
    chain.warp(release)
    receipt = system.tx(v.withdraw(1), p)
    assert events(system.vault, "Withdrawn", receipt) == [
        {"provider": p, "entryId": 1, "amount": 3 * E18}
    ]
    assert system.token.functions.balanceOf(p).call() == 3 * E18
    assert v.totalUnbonding().call() == 0
    assert entry(system, 1)[2:4] == (True, 0)
    assert_reverts(system.w3, v.withdraw(1), p, "AlreadyWithdrawn", entryId=1)


def test_slash_takes_bonded_and_splits_insurance_treasury_burn(system: System) -> None:
    p, v, t = system.providers[0], system.vault.functions, system.token.functions
    system.fund_and_stake(p, 1000)
    supply = t.totalSupply().call()
    receipt = slash(system, (sid(1), p, 101, 0))
    assert events(system.vault, "Slashed", receipt) == [
        {"slashId": sid(1), "provider": p, "requested": 101, "fromBonded": 101, "fromUnbonding": 0}
    ]
    # 50% / 30% rounded down; the remainder (20% + dust) is burned.
    assert events(system.vault, "SlashProceedsDistributed", receipt) == [
        {"total": 101, "toInsurance": 50, "toTreasury": 30, "burned": 21}
    ]
    assert t.balanceOf(system.insurance).call() == 50
    assert t.balanceOf(system.treasury).call() == 30
    assert t.totalSupply().call() == supply - 21
    assert v.bondedOf(p).call() == 899
    assert v.totalBonded().call() == 899
    assert t.balanceOf(system.vault.address).call() == 899
    assert v.isSlashApplied(sid(1)).call()
    assert not v.isSlashApplied(sid(2)).call()


def test_slash_ids_are_idempotent_within_and_across_batches(system: System) -> None:
    p, v = system.providers[0], system.vault.functions
    system.fund_and_stake(p, 1000)
    receipt = slash(system, (sid(7), p, 100, 0), (sid(7), p, 100, 0))
    assert len(events(system.vault, "Slashed", receipt)) == 1
    receipt = slash(system, (sid(7), p, 100, 0))
    assert receipt["status"] == 1
    assert events(system.vault, "Slashed", receipt) == []
    assert events(system.vault, "SlashProceedsDistributed", receipt) == []
    assert v.bondedOf(p).call() == 900
    # A random (non-sequential) id works the same.
    big = Web3.keccak(text="incident-42")
    slash(system, (big, p, 1, 0))
    slash(system, (big, p, 1, 0))
    assert v.bondedOf(p).call() == 899


def test_slash_cannot_be_dodged_by_requesting_unstake_after_the_infraction(
    chain: Chain, system: System
) -> None:
    p, v = system.providers[0], system.vault.functions
    system.fund_and_stake(p, 1000)
    infraction = chain.advance(10)
    chain.advance(10)
    system.tx(v.requestUnstake(1000), p)  # everything leaves bonded after the infraction
    receipt = slash(system, (sid(1), p, 400, infraction))
    assert events(system.vault, "Slashed", receipt)[0]["fromUnbonding"] == 400
    assert events(system.vault, "UnbondingEntrySlashed", receipt) == [
        {"entryId": 1, "slashId": sid(1), "amount": 400, "remaining": 600}
    ]
    assert entry(system, 1)[3] == 600
    assert v.totalUnbonding().call() == 600
    # Withdraw after the slash pays what is left.
    chain.advance(UNBONDING + 1)
    receipt = system.tx(v.withdraw(1), p)
    assert events(system.vault, "Withdrawn", receipt)[0]["amount"] == 600
    assert system.token.functions.balanceOf(p).call() == 600
    assert system.token.functions.balanceOf(system.vault.address).call() == 0


def test_unbonding_requested_before_the_infraction_is_not_at_risk(
    chain: Chain, system: System
) -> None:
    p, v = system.providers[0], system.vault.functions
    system.fund_and_stake(p, 1000)
    system.tx(v.requestUnstake(700), p)
    infraction = chain.advance(10)
    receipt = slash(system, (sid(1), p, 500, infraction))
    # Only the 300 still bonded is taken; the earlier entry is untouched.
    assert events(system.vault, "Slashed", receipt) == [
        {"slashId": sid(1), "provider": p, "requested": 500, "fromBonded": 300, "fromUnbonding": 0}
    ]
    assert entry(system, 1)[3] == 700
    chain.advance(UNBONDING + 1)
    system.tx(v.withdraw(1), p)
    assert system.token.functions.balanceOf(p).call() == 700


def test_slash_takes_the_oldest_entry_at_risk_first_and_at_most_what_is_there(
    chain: Chain, system: System
) -> None:
    p, v = system.providers[0], system.vault.functions
    system.fund_and_stake(p, 1000)
    system.tx(v.requestUnstake(100), p)  # entry 1: before the infraction
    infraction = chain.advance(10)
    chain.advance(1)
    system.tx(v.requestUnstake(200), p)  # entry 2: the oldest at risk
    system.tx(v.requestUnstake(300), p)  # entry 3
    receipt = slash(system, (sid(1), p, 10_000, infraction))
    assert events(system.vault, "Slashed", receipt)[0] == {
        "slashId": sid(1), "provider": p, "requested": 10_000, "fromBonded": 400,
        "fromUnbonding": 500,
    }  # fmt: skip
    assert [e["entryId"] for e in events(system.vault, "UnbondingEntrySlashed", receipt)] == [2, 3]
    assert [entry(system, i)[3] for i in (1, 2, 3)] == [100, 0, 0]
    assert events(system.vault, "SlashProceedsDistributed", receipt)[0]["total"] == 900
    # A partial slash takes the oldest entry at risk first and stops inside the next one.
    system.fund_and_stake(system.providers[1], 100)
    q = system.providers[1]
    inf2 = chain.advance(1)
    chain.advance(1)
    system.tx(v.requestUnstake(40), q)
    system.tx(v.requestUnstake(60), q)
    slash(system, (sid(2), q, 50, inf2))
    ids = v.unbondingEntryIds(q).call()
    assert [entry(system, i)[3] for i in ids] == [0, 50]


def test_slash_of_nothing_marks_the_id_and_moves_nothing(system: System) -> None:
    nobody = system.providers[3]
    receipt = slash(system, (sid(5), nobody, 100, 0))
    assert events(system.vault, "Slashed", receipt)[0]["fromBonded"] == 0
    assert events(system.vault, "SlashProceedsDistributed", receipt) == []
    assert system.vault.functions.isSlashApplied(sid(5)).call()


def test_flash_stake_around_an_epoch_has_zero_at_the_epoch_start(
    chain: Chain, system: System
) -> None:
    early, flash, v = system.providers[0], system.providers[1], system.vault.functions
    system.fund_and_stake(early, 500)
    epoch_start = chain.advance(100)
    chain.advance(1)
    system.fund_and_stake(flash, 10**6)  # staked just after the epoch started ...
    chain.advance(1)
    system.tx(v.requestUnstake(10**6), flash)  # ... and out again before it ends
    assert v.bondedAt(flash, epoch_start).call() == 0
    assert v.bondedAt(early, epoch_start).call() == 500
    assert v.bondedAt(early, epoch_start - 200).call() == 0
    assert v.bondedOf(flash).call() == 0


def test_roles_are_enforced(system: System) -> None:
    p, v = system.providers[0], system.vault.functions
    batch = [SlashItem(sid(1), p, 1, 0).as_abi()]
    assert_reverts(
        system.w3, v.slashBatch(batch), p, "AccessControlUnauthorizedAccount",
        account=p, neededRole=SLASHER_ROLE,
    )  # fmt: skip
    assert_reverts(system.w3, v.pause(), p, "AccessControlUnauthorizedAccount",
                   account=p, neededRole=PAUSER_ROLE)  # fmt: skip
    assert_reverts(system.w3, v.unpause(), system.slasher, "AccessControlUnauthorizedAccount")
    assert_reverts(system.w3, v.setUnbondingPeriod(1), p, "AccessControlUnauthorizedAccount",
                   neededRole=bytes(32))  # fmt: skip
    assert_reverts(
        system.w3, v.setSlashSplit(p, p, 1, 1), system.guardian, "AccessControlUnauthorizedAccount"
    )


def test_pause_stops_every_state_change_until_unpaused(chain: Chain, system: System) -> None:
    p, v = system.providers[0], system.vault.functions
    system.fund_and_stake(p, 1000)
    system.tx(v.requestUnstake(100), p)
    system.tx(system.token.functions.approve(system.vault.address, 10), p)
    receipt = system.tx(v.pause(), system.guardian)
    assert events(system.vault, "Paused", receipt) == [{"account": system.guardian}]
    assert v.paused().call()
    chain.advance(UNBONDING + 1)
    for fn, sender in [
        (v.stake(1, 0), p), (v.requestUnstake(1), p), (v.withdraw(1), p),
        (v.slashBatch([SlashItem(sid(1), p, 1, 0).as_abi()]), system.slasher),
    ]:  # fmt: skip
        assert_reverts(system.w3, fn, sender, "EnforcedPause")
    assert_reverts(system.w3, v.pause(), system.guardian, "EnforcedPause")
    system.tx(v.unpause(), system.guardian)
    assert_reverts(system.w3, v.unpause(), system.guardian, "ExpectedPause")
    system.tx(v.withdraw(1), p)


def test_admin_setters(system: System) -> None:
    v, me = system.vault.functions, system.deployer
    receipt = system.tx(v.setUnbondingPeriod(14 * DAY), me)
    assert events(system.vault, "UnbondingPeriodChanged", receipt) == [
        {"previous": UNBONDING, "current": 14 * DAY}
    ]
    assert v.unbondingPeriod().call() == 14 * DAY
    max_period = v.MAX_UNBONDING_PERIOD().call()
    assert_reverts(system.w3, v.setUnbondingPeriod(max_period + 1), me, "UnbondingPeriodTooLong",
                   period=max_period + 1, max=max_period)  # fmt: skip
    a, b = system.providers[2], system.providers[3]
    receipt = system.tx(v.setSlashSplit(a, b, 6000, 4000), me)
    assert events(system.vault, "SlashSplitChanged", receipt) == [
        {"insurance": a, "treasury": b, "insuranceBps": 6000, "treasuryBps": 4000, "burnBps": 0}
    ]
    assert (v.insurance().call(), v.treasury().call()) == (a, b)
    assert (v.insuranceBps().call(), v.treasuryBps().call(), v.BPS().call()) == (6000, 4000, 10_000)
    assert_reverts(system.w3, v.setSlashSplit(a, b, 6000, 4001), me, "InvalidSlashSplit",
                   insuranceBps=6000, treasuryBps=4001)  # fmt: skip
    zero = "0x" + "00" * 20
    assert_reverts(system.w3, v.setSlashSplit(zero, b, 1, 1), me, "ZeroAddress")
    assert v.token().call() == system.token.address


def test_constructor_refuses_zero_addresses(system: System) -> None:
    from ledger.chain.artifacts import load_artifact

    art = load_artifact("StakingVault")
    factory = system.w3.eth.contract(abi=art.abi_list, bytecode=art.bytecode)
    zero = "0x" + "00" * 20
    tx = factory.constructor(zero, system.deployer, 1, system.insurance, system.treasury, 1, 1)
    data = tx.build_transaction({"from": system.deployer, "gas": 8_000_000})["data"]
    with pytest.raises(Exception) as info:
        system.w3.eth.call({"from": system.deployer, "data": data, "gas": 8_000_000})
    from ledger.chain.contracts import decode_revert

    err = decode_revert(info.value)
    assert err is not None and err.name == "ZeroAddress"
    assert decode_revert_data(err.data) == err
