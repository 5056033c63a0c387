"""Named ledger invariants. Each returns the breaches it finds (empty when it holds).

They are checked by ``swarm-ledger verify``, by the periodic audit job, and after every step of
the stateful property test. Pure: callers pass the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ledger.accounting.domain import codes
from ledger.accounting.domain.hashchain import (
    GENESIS_HASH,
    canonical_metadata,
    canonical_row,
    chain_hash,
)
from ledger.accounting.domain.transfers import AccountState, Transfer, TransferKind


@dataclass(frozen=True, slots=True)
class Breach:
    """One broken invariant, naming the row at fault. (Not a slashing ``Violation``: that is
    a node's misbehaviour; this is the ledger's own data disagreeing with a rule.)"""

    invariant: str
    ref: str  # e.g. "transfer seq=12 id=abc" or "account 7"
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.ref}: {self.detail}"


@dataclass(slots=True)
class Counters:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0


@dataclass(slots=True)
class Replay:
    """Balances recomputed from transfers, and the first chain break seen."""

    counters: dict[int, Counters] = field(default_factory=dict)
    asset_debits: dict[str, int] = field(default_factory=dict)
    asset_credits: dict[str, int] = field(default_factory=dict)
    pending_amounts: dict[str, int] = field(default_factory=dict)
    last_seq: int = 0
    last_hash: bytes = GENESIS_HASH
    breaches: list[Breach] = field(default_factory=list)
    count: int = 0


def transfer_ref(t: Transfer) -> str:
    return f"transfer seq={t.seq} id={t.id}"


def replay_transfers(
    transfers: Iterable[Transfer],
    account_assets: Mapping[int, str] | None = None,
    *,
    stop_at_first: bool = True,
) -> Replay:
    """Walk transfers in chain order: check the hash chain and rebuild every balance.

    Invariant ``hash_chain_intact``: seq is contiguous from 1, each prev_hash is the previous
    row's hash, each hash is sha256(prev_hash || canonical row).
    Invariant ``transfers_name_valid_accounts`` (when ``account_assets`` is given): both accounts
    of every transfer exist and hold the transfer's asset (the table has no foreign keys).
    """
    rp = Replay()
    for t in transfers:
        rp.count += 1
        expected_seq = rp.last_seq + 1
        problem = None
        if t.seq != expected_seq:
            problem = f"seq {t.seq} follows {rp.last_seq} (a row is missing or inserted)"
        elif t.prev_hash != rp.last_hash:
            problem = "prev_hash does not match the previous row's hash"
        else:
            row = canonical_row(
                t.seq, t.id, t.kind.value, t.debit_account_id, t.credit_account_id, t.asset,
                t.amount, t.code, t.epoch, t.ref_id, t.timeout_s,
                canonical_metadata(t.metadata), t.created_at_us,
            )  # fmt: skip
            if chain_hash(t.prev_hash, row) != t.hash:
                problem = "content does not match its hash (the row was altered)"
        if problem is not None:
            rp.breaches.append(Breach("hash_chain_intact", transfer_ref(t), problem))
            if stop_at_first:
                return rp
        if account_assets is not None:
            for aid in (t.debit_account_id, t.credit_account_id):
                if account_assets.get(aid) != t.asset:
                    rp.breaches.append(
                        Breach(
                            "transfers_name_valid_accounts",
                            transfer_ref(t),
                            f"account {aid} is missing or not in {t.asset}",
                        )
                    )
                    if stop_at_first:
                        return rp
        rp.last_seq, rp.last_hash = t.seq, t.hash
        _apply(rp, t)
    return rp


def _apply(rp: Replay, t: Transfer) -> None:
    dr = rp.counters.setdefault(t.debit_account_id, Counters())
    cr = rp.counters.setdefault(t.credit_account_id, Counters())
    a = t.amount
    if t.kind in (TransferKind.POSTED, TransferKind.REVERSAL):
        dr.debits_posted += a
        cr.credits_posted += a
        moved = a
    elif t.kind is TransferKind.PENDING:
        dr.debits_pending += a
        cr.credits_pending += a
        rp.pending_amounts[t.id] = a
        moved = 0
    else:
        pending = rp.pending_amounts.pop(t.ref_id or "", 0)
        dr.debits_pending -= pending
        cr.credits_pending -= pending
        moved = a if t.kind is TransferKind.POST_PENDING else 0
        dr.debits_posted += moved
        cr.credits_posted += moved
    rp.asset_debits[t.asset] = rp.asset_debits.get(t.asset, 0) + moved
    rp.asset_credits[t.asset] = rp.asset_credits.get(t.asset, 0) + moved


def debits_equal_credits_per_asset(accounts: Iterable[AccountState]) -> list[Breach]:
    """Sum of posted debits equals sum of posted credits per asset, and the same for pending."""
    sums: dict[str, list[int]] = {}
    for a in accounts:
        s = sums.setdefault(a.asset, [0, 0, 0, 0])
        s[0] += a.debits_posted
        s[1] += a.credits_posted
        s[2] += a.debits_pending
        s[3] += a.credits_pending
    out = []
    for asset, (dpo, cpo, dpe, cpe) in sorted(sums.items()):
        if dpo != cpo or dpe != cpe:
            out.append(
                Breach(
                    "debits_equal_credits_per_asset",
                    f"asset {asset}",
                    f"posted debits {dpo} vs credits {cpo}; pending debits {dpe} vs credits {cpe}",
                )
            )
    return out


def balances_match_transfers(
    accounts: Iterable[AccountState], recomputed: Mapping[int, Counters]
) -> list[Breach]:
    """Every stored balance equals the sum of the transfers that touched the account."""
    out = []
    seen = set()
    for a in accounts:
        seen.add(a.id)
        c = recomputed.get(a.id, Counters())
        stored = (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
        expect = (c.debits_pending, c.debits_posted, c.credits_pending, c.credits_posted)
        if stored != expect:
            out.append(
                Breach(
                    "balances_match_transfers",
                    f"account {a.id}",
                    f"stored (dpe, dpo, cpe, cpo) {stored} but transfers give {expect}",
                )
            )
    for aid in sorted(set(recomputed) - seen):
        out.append(Breach("balances_match_transfers", f"account {aid}", "has no balance row"))
    return out


def no_forbidden_negative(accounts: Iterable[AccountState]) -> list[Breach]:
    """No account that may not go negative has outflows beyond its posted inflows."""
    out = []
    for a in accounts:
        err = a.limit_error()
        if err is not None:
            out.append(
                Breach(
                    "no_forbidden_negative",
                    f"account {a.id}",
                    f"{err}: available {a.available()} base units",
                )
            )
    return out


#: The transfers the stake life cycle invariants read (the others are not kept in memory).
STAKE_LIFECYCLE_CODES = frozenset(
    {
        codes.STAKE_UNBOND,
        codes.STAKE_WITHDRAW,
        codes.SLASH_HOLD,
        codes.SLASH_EXECUTE,
        codes.SLASH_VOID,
        codes.SLASH_REFUND,
    }
)


def unbonding_entries_within_balance(
    transfers: Iterable[Transfer], accounts: Iterable[AccountState]
) -> list[Breach]:
    """No unbonding entry whose remaining amount is negative or exceeds its account's balance,
    and the entries of an account never add up to more than its posted balance (stake that
    could never be withdrawn, issue 15 point 1).

    An entry is an ``unbond`` transfer; what is left of it is its amount less the slash holds
    that name it (``unbond_transfer_id``) and are not voided, less its withdrawals, plus the
    refunds given back to it.
    """
    balance = {a.id: a.credits_posted - a.debits_posted for a in accounts}
    entries: dict[str, tuple[int, int]] = {}  # entry id -> (account, remaining)
    moves: dict[str, int] = {}
    for t in transfers:
        entry = t.metadata.get("unbond_transfer_id") if t.metadata else None
        if entry is None and t.code == codes.STAKE_WITHDRAW and t.id.startswith("withdraw:"):
            # Withdrawals made before entries were named pay the entry of the same request.
            entry = "unbond:" + t.id.removeprefix("withdraw:")
        if t.code == codes.STAKE_UNBOND and t.kind is TransferKind.POSTED:
            entries[t.id] = (t.credit_account_id, t.amount)
        elif entry is None:
            continue
        elif t.code == codes.SLASH_HOLD and t.kind is TransferKind.PENDING:
            moves[entry] = moves.get(entry, 0) - t.amount
        elif t.code == codes.SLASH_REFUND or (
            t.code == codes.SLASH_VOID and t.kind is TransferKind.VOID_PENDING
        ):
            moves[entry] = moves.get(entry, 0) + t.amount
        elif t.code == codes.STAKE_WITHDRAW:
            moves[entry] = moves.get(entry, 0) - t.amount
    out = []
    per_account: dict[int, int] = {}
    for entry_id, (account, amount) in sorted(entries.items()):
        left = amount + moves.get(entry_id, 0)
        per_account[account] = per_account.get(account, 0) + left
        if left < 0 or left > balance.get(account, 0):
            out.append(
                Breach(
                    "unbonding_entries_within_balance",
                    f"entry {entry_id}",
                    f"remaining {left} outside [0, account {account} balance "
                    f"{balance.get(account, 0)}]",
                )
            )
    for account, total in sorted(per_account.items()):
        if total > balance.get(account, 0):
            out.append(
                Breach(
                    "unbonding_entries_within_balance",
                    f"account {account}",
                    f"entries hold {total} but the account's balance is {balance.get(account, 0)}",
                )
            )
    return out


def overturned_penalties_restored(transfers: Iterable[Transfer]) -> list[Breach]:
    """Every executed and later overturned penalty is fully restored: once any refund of a
    penalty exists, each of its executed holds is refunded in full (``refund:<hold>``) to the
    very account it was taken from, and to the same unbonding entry."""
    holds: dict[str, Transfer] = {}
    executed: set[str] = set()
    refunds: dict[str, Transfer] = {}
    refunded_penalties: set[str] = set()
    for t in transfers:
        if t.code == codes.SLASH_HOLD and t.kind is TransferKind.PENDING:
            holds[t.id] = t
        elif t.code == codes.SLASH_EXECUTE and t.ref_id is not None:
            executed.add(t.ref_id)
        elif t.code == codes.SLASH_REFUND:
            refunds[t.id] = t
            refunded_penalties.add(str(t.metadata.get("penalty_id", "")))
    out = []
    for hid in sorted(executed):
        hold = holds.get(hid)
        if hold is None or str(hold.metadata.get("penalty_id", "")) not in refunded_penalties:
            continue
        refund = refunds.get("refund:" + hid.removeprefix("slash:"))
        entry = hold.metadata.get("unbond_transfer_id")
        if refund is None:
            detail = "executed hold not refunded"
        elif refund.amount != hold.amount:
            detail = f"refunded {refund.amount} of {hold.amount}"
        elif refund.credit_account_id != hold.debit_account_id:
            detail = (
                f"refunded to account {refund.credit_account_id}, "
                f"taken from {hold.debit_account_id}"
            )
        elif refund.metadata.get("unbond_transfer_id") != entry:
            detail = f"refunded to entry {refund.metadata.get('unbond_transfer_id')}, not {entry}"
        else:
            continue
        out.append(Breach("overturned_penalties_restored", f"hold {hid}", detail))
    return out


def check_all(accounts: list[AccountState], replay: Replay) -> list[Breach]:
    """Every ledger invariant, in a fixed order (the chain first: it says what to trust)."""
    return (
        list(replay.breaches)
        + balances_match_transfers(accounts, replay.counters)
        + debits_equal_credits_per_asset(accounts)
        + no_forbidden_negative(accounts)
    )
