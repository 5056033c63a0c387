"""Pure double-entry transfer engine: TigerBeetle-like semantics, no I/O.

A transfer moves an integer amount of one asset from a debit account to a credit account.
Transfers are append-only facts. Two-phase transfers are expressed as separate facts: a
``pending`` transfer reserves the amount, and a later ``post_pending`` (fully or partly) or
``void_pending`` transfer resolves it. A ``reversal`` corrects a posted transfer by moving the
same amount back. The status of a pending transfer is therefore derived, never edited.

The engine takes the current state of the accounts involved and a linked batch of requests and
returns either the rows to append plus the balance deltas, or the first error. It is used by the
database repository under row locks, so what it decides is what gets committed.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from ledger.kit.errors import Conflict, ErrorKind, InvalidInput
from ledger.kit.limits import MAX_BATCH_TRANSFERS, MAX_CODE, MAX_TIMEOUT_S
from ledger.kit.money import MAX_AMOUNT_BASE_UNITS

#: Transfer ids are caller-chosen idempotency keys: printable, short, unambiguous.
TRANSFER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._/@+-]{0,127}$")
# The hash chain joins a row's fields with "|" (hashchain.canonical_row): no id may hold one.
assert TRANSFER_ID_RE.match("a|b") is None


#: Shared, read-only default metadata (NamedTuple defaults cannot be factories).
EMPTY_METADATA: Mapping[str, Any] = MappingProxyType({})


class TransferKind(enum.StrEnum):
    """What a transfer row does to balances."""

    POSTED = "posted"  # single-phase: moves the amount at once
    PENDING = "pending"  # reserves the amount until posted, voided or expired
    POST_PENDING = "post_pending"  # posts a pending transfer, fully or partly
    VOID_PENDING = "void_pending"  # releases a pending transfer
    REVERSAL = "reversal"  # moves a posted transfer's amount back (a correction)


RESOLVING_KINDS = frozenset({TransferKind.POST_PENDING, TransferKind.VOID_PENDING})
REFERENCING_KINDS = RESOLVING_KINDS | {TransferKind.REVERSAL}


class TransferStatus(enum.StrEnum):
    """What became of a transfer, derived from the facts appended after it (never stored)."""

    PENDING = "pending"  # a reservation not posted, voided or expired yet
    POSTED = "posted"
    VOIDED = "voided"


def transfer_status(t: Transfer, resolution: str | None) -> TransferStatus:
    """pending / posted / voided of ``t``; ``resolution`` is the kind of the transfer that
    posted or voided it, if any."""
    if t.kind is TransferKind.PENDING:
        if resolution == TransferKind.POST_PENDING:
            return TransferStatus.POSTED
        if resolution == TransferKind.VOID_PENDING:
            return TransferStatus.VOIDED
        return TransferStatus.PENDING
    if t.kind is TransferKind.VOID_PENDING:
        return TransferStatus.VOIDED
    return TransferStatus.POSTED


class NormalBalance(enum.StrEnum):
    """Which side increases an account's balance."""

    CREDIT = "credit"  # balance = credits - debits (liabilities, provider accounts)
    DEBIT = "debit"  # balance = debits - credits (assets, custody)


#: Result codes that mean the ledger's state forbids the transfer (a conflict), not bad input.
CONFLICT_CODES: frozenset[str] = frozenset(
    {
        "pending_transfer_already_posted",
        "pending_transfer_already_voided",
        "pending_transfer_already_resolved",
        "transfer_already_reversed",
        "pending_transfer_expired",
    }
)


class TransferError(InvalidInput):
    """A transfer was refused. ``code`` is stable and machine-readable; ``details.index`` is
    the position of the refused transfer in its batch. A repeat with other content
    (``exists_with_different_<field>``) and the codes of :data:`CONFLICT_CODES` are conflicts."""

    default_code = "transfer_refused"

    def __new__(cls, message: str, *, code: str, **_: Any) -> TransferError:
        # A conflict code makes the error a TransferConflict, so ``except Conflict`` catches it.
        conflict = code.startswith("exists_with_different_") or code in CONFLICT_CODES
        target = TransferConflict if conflict and cls is TransferError else cls
        return super().__new__(target, message)

    def __init__(
        self,
        message: str,
        *,
        code: str,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        kind = ErrorKind.CONFLICT if isinstance(self, Conflict) else None
        super().__init__(message, code=code, field=field, details=details, kind=kind)

    @property
    def index(self) -> int:
        """Position of the refused transfer in its batch."""
        return int(self.details.get("index", 0))


class TransferConflict(TransferError, Conflict):
    """A transfer refused because of the ledger's state or an earlier transfer with the same id."""


class TransferRequest(NamedTuple):
    """A transfer as asked for by a caller. ``id`` is the idempotency key.

    Immutable tuples rather than frozen dataclasses: an epoch close builds 100k of each, and
    a frozen dataclass's __init__ costs several times more.

    For post_pending, void_pending and reversal, ``ref_id`` names the transfer acted on and the
    accounts may be left as None (they are taken from it); ``amount`` None means the full amount.
    """

    id: str
    debit_account_id: int | None
    credit_account_id: int | None
    amount: int | None
    code: int
    kind: TransferKind = TransferKind.POSTED
    epoch: int | None = None
    ref_id: str | None = None
    timeout_s: int | None = None
    metadata: Mapping[str, Any] = EMPTY_METADATA


class Transfer(NamedTuple):
    """A stored transfer (one append-only row)."""

    seq: int
    id: str
    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    asset: str
    amount: int
    code: int
    epoch: int | None
    ref_id: str | None
    timeout_s: int | None
    metadata: Mapping[str, Any]
    created_at_us: int
    prev_hash: bytes
    hash: bytes


@dataclass(slots=True)
class AccountState:
    """An account's flags and balances, as locked for the duration of a batch."""

    id: int
    asset: str
    normal_balance: NormalBalance
    may_go_negative: bool
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def copy(self) -> AccountState:
        return AccountState(
            self.id,
            self.asset,
            self.normal_balance,
            self.may_go_negative,
            self.debits_pending,
            self.debits_posted,
            self.credits_pending,
            self.credits_posted,
        )

    def balance(self) -> int:
        """Posted balance on the account's normal side (may be negative if allowed)."""
        if self.normal_balance is NormalBalance.CREDIT:
            return self.credits_posted - self.debits_posted
        return self.debits_posted - self.credits_posted

    def available(self) -> int:
        """Posted balance less what pending transfers have reserved against it."""
        if self.normal_balance is NormalBalance.CREDIT:
            return self.credits_posted - self.debits_posted - self.debits_pending
        return self.debits_posted - self.credits_posted - self.credits_pending

    def limit_error(self) -> str | None:
        """The error code if this state breaks the account's limit, else None.

        A credit-normal account that may not go negative must keep posted and pending debits
        within its posted credits (pending credits are not yet money): TigerBeetle's
        ``debits_must_not_exceed_credits``. Mirror image for debit-normal accounts.
        """
        if self.may_go_negative:
            return None
        if self.normal_balance is NormalBalance.CREDIT:
            if self.debits_pending + self.debits_posted > self.credits_posted:
                return "exceeds_credits"
        elif self.credits_pending + self.credits_posted > self.debits_posted:
            return "exceeds_debits"
        return None


class ResolvedTransfer(NamedTuple):
    """A request with defaults filled from the transfer it references, ready to store."""

    id: str
    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    asset: str
    amount: int
    code: int
    epoch: int | None
    ref_id: str | None
    timeout_s: int | None
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RefState:
    """What the engine needs to know about a referenced, already stored transfer."""

    transfer: Transfer
    resolved_by: TransferKind | None  # post_pending / void_pending, if already resolved
    reversed: bool  # a reversal of it already exists
    expired: bool  # a pending transfer whose timeout has passed (decided by the caller's clock)


@dataclass(slots=True)
class BatchPlan:
    """What a batch will append and how balances change."""

    new: list[ResolvedTransfer]
    existing: list[Transfer]
    accounts: dict[int, AccountState]  # the post-batch state of every touched account
    touched: set[int]


COMPARED_FIELDS = (
    "kind",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "code",
    "epoch",
    "ref_id",
    "timeout_s",
    "metadata",
)


def validate_request(req: TransferRequest, index: int) -> None:
    """Shape checks that need no state. Raises TransferError naming the field."""

    def fail(code: str, fld: str, msg: str) -> TransferError:
        return TransferError(
            f"transfers[{index}].{fld}: {msg}", code=code, field=fld, details={"index": index}
        )

    if not isinstance(req.id, str) or not TRANSFER_ID_RE.match(req.id):
        raise fail("id_invalid", "id", "must match " + TRANSFER_ID_RE.pattern)
    if not isinstance(req.kind, TransferKind):
        raise fail("kind_invalid", "kind", "unknown transfer kind")
    if req.amount is not None:
        if type(req.amount) is not int:
            raise fail("amount_not_integer", "amount", "must be an integer count of base units")
        if req.amount <= 0:
            raise fail("amount_must_be_positive", "amount", "must be greater than zero")
        if req.amount > MAX_AMOUNT_BASE_UNITS:
            raise fail("amount_too_large", "amount", "exceeds 2^256-1 base units")
    elif req.kind not in REFERENCING_KINDS:
        raise fail("amount_must_be_positive", "amount", "is required")
    if type(req.code) is not int or not 0 <= req.code <= MAX_CODE:
        raise fail("code_invalid", "code", f"must be an integer in 0..{MAX_CODE}")
    if req.epoch is not None and (type(req.epoch) is not int or req.epoch < 0):
        raise fail("epoch_invalid", "epoch", "must be a non-negative integer")
    if req.kind in REFERENCING_KINDS:
        if req.ref_id is None:
            raise fail("ref_id_required", "ref_id", f"is required for {req.kind.value}")
    elif req.ref_id is not None:
        raise fail("ref_id_must_be_empty", "ref_id", f"is not allowed for {req.kind.value}")
    if req.kind is not TransferKind.REVERSAL and req.kind not in RESOLVING_KINDS:
        for fld in ("debit_account_id", "credit_account_id"):
            v = getattr(req, fld)
            if type(v) is not int or v <= 0:
                raise fail("account_id_invalid", fld, "must be a positive integer account id")
        if req.debit_account_id == req.credit_account_id:
            raise fail("accounts_must_be_different", "credit_account_id", "equals debit_account_id")
    if req.timeout_s is not None:
        if req.kind is not TransferKind.PENDING:
            raise fail(
                "timeout_reserved_for_pending", "timeout_s", "only pending transfers time out"
            )
        if type(req.timeout_s) is not int or not 0 < req.timeout_s <= MAX_TIMEOUT_S:
            raise fail("timeout_invalid", "timeout_s", f"must be an integer in 1..{MAX_TIMEOUT_S}")
    check_metadata(req.metadata, f"transfers[{index}].metadata", index)


def check_metadata(value: object, path: str, index: int = 0, depth: int = 0) -> None:
    """Metadata is JSON without floats (no float may carry money, even by accident)."""
    if depth > 8:
        raise TransferError(
            f"{path}: nested too deeply", code="metadata_invalid", details={"index": index}
        )
    if value is None or isinstance(value, bool | str):
        return
    if type(value) is int:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TransferError(
                    f"{path}: keys must be strings",
                    code="metadata_invalid",
                    details={"index": index},
                )
            check_metadata(v, f"{path}.{k}", index, depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_metadata(v, f"{path}[{i}]", index, depth + 1)
        return
    raise TransferError(
        f"{path}: {type(value).__name__} is not allowed (JSON strings, integers, booleans, "
        "null, lists and objects only; no floats)",
        code="metadata_invalid",
        field="metadata",
        details={"index": index},
    )


def _resolve_against(req: TransferRequest, ref: Transfer) -> ResolvedTransfer:
    """Fill a referencing request's defaults from the transfer it references."""
    if req.kind is TransferKind.REVERSAL:
        debit, credit = ref.credit_account_id, ref.debit_account_id
    else:
        debit, credit = ref.debit_account_id, ref.credit_account_id
    amount = ref.amount if req.amount is None else req.amount
    return ResolvedTransfer(
        id=req.id,
        kind=req.kind,
        debit_account_id=debit if req.debit_account_id is None else req.debit_account_id,
        credit_account_id=credit if req.credit_account_id is None else req.credit_account_id,
        asset=ref.asset,
        amount=amount,
        code=req.code,
        epoch=req.epoch,
        ref_id=req.ref_id,
        timeout_s=req.timeout_s,
        metadata=req.metadata,
    )


def compare_existing(
    req: TransferRequest, stored: Transfer, ref: Transfer | None, index: int
) -> None:
    """Idempotency: the same id must carry the same fields, else ``exists_with_different_<f>``."""
    if req.kind in REFERENCING_KINDS and ref is not None and req.ref_id == stored.ref_id:
        want: Any = _resolve_against(req, ref)
    else:
        want = req
    for fld in COMPARED_FIELDS:
        a = getattr(want, fld)
        b = getattr(stored, fld)
        if fld == "metadata":
            a, b = dict(a), dict(b)
        if a != b:
            raise TransferError(
                f"transfers[{index}]: id {req.id!r} already exists with a different {fld}",
                code=f"exists_with_different_{fld}",
                field=fld,
                details={"index": index},
            )


def plan_batch(
    requests: Sequence[TransferRequest],
    *,
    existing: Mapping[str, Transfer],
    refs: Mapping[str, RefState],
    accounts: dict[int, AccountState],
) -> BatchPlan:
    """Decide a linked batch: all of it applies, or the first error is raised.

    ``existing`` holds stored transfers with the batch's ids (retries), ``refs`` the stored
    transfers referenced by ``ref_id``, ``accounts`` the current state of every account named.
    The plan updates those ``accounts`` objects in place (so a 100k-account batch copies
    nothing): pass objects you own, and drop them if this raises.
    Requests are applied in order, so a later transfer in the batch may spend what an earlier
    one credited, and may post or void a pending transfer created earlier in the same batch.
    Limits are checked after every transfer, as TigerBeetle does, not only at the end.
    """
    if len(requests) > MAX_BATCH_TRANSFERS:
        raise TransferError(
            f"at most {MAX_BATCH_TRANSFERS} transfers per batch", code="batch_too_large"
        )
    # Double entry: every transfer adds the same amount to one account's debits and another's
    # credits, so a batch leaves the net (debits - credits) of its accounts unchanged, posted
    # and pending alike. Checked once per batch, not per transfer (5 ms per 100k accounts).
    net_before = _net(accounts.values())
    new: list[ResolvedTransfer] = []
    olds: list[Transfer] = []
    seen: set[str] = set()
    touched: set[int] = set()
    batch = _InBatch()
    planned = batch.planned
    posted, pending = TransferKind.POSTED, TransferKind.PENDING
    for i, req in enumerate(requests):
        rid = req.id
        if rid in seen:
            raise _duplicate_id(i, rid)
        seen.add(rid)
        if existing:
            stored = existing.get(rid)
            if stored is not None:
                _check_retry(req, stored, refs, i)
                olds.append(stored)
                continue
        kind = req.kind
        if kind is posted or kind is pending:
            rt, dr, cr = _plan_direct(req, i, accounts)
        else:
            rt, dr, cr = _plan_referenced(req, i, refs, accounts, batch)
        if (not dr.may_go_negative or not cr.may_go_negative) and (
            dr.limit_error() is not None or cr.limit_error() is not None
        ):
            raise _limit_error(i, dr, cr)
        if dr.debits_posted > MAX_AMOUNT_BASE_UNITS or cr.credits_posted > MAX_AMOUNT_BASE_UNITS:
            raise _overflow(i, dr, cr)
        if dr.debits_pending > MAX_AMOUNT_BASE_UNITS or cr.credits_pending > MAX_AMOUNT_BASE_UNITS:
            raise _overflow(i, dr, cr)
        new.append(rt)
        planned[rid] = rt
        touched.add(dr.id)
        touched.add(cr.id)
    assert len(new) + len(olds) == len(requests), "every request is new or a retry"
    assert _net(accounts.values()) == net_before, "a batch's balance changes net to zero"
    return BatchPlan(new=new, existing=olds, accounts=dict(accounts), touched=touched)


def _plan_direct(
    req: TransferRequest, i: int, accounts: Mapping[int, AccountState]
) -> tuple[ResolvedTransfer, AccountState, AccountState]:
    """Plan a posted or pending transfer (the hot path: emission, rewards, stake moves; an
    epoch close plans 100k of these) and apply it to its accounts."""
    d_id, c_id, amount = (
        int(req.debit_account_id or 0),
        int(req.credit_account_id or 0),
        int(req.amount or 0),
    )
    dr = accounts.get(d_id) or _account(accounts, d_id, i, "debit_account_id")
    cr = accounts.get(c_id) or _account(accounts, c_id, i, "credit_account_id")
    if dr.asset != cr.asset:
        raise _asset_error(i, dr, cr)
    kind = req.kind
    rt = ResolvedTransfer(
        req.id, kind, d_id, c_id, dr.asset, amount, req.code, req.epoch, None, req.timeout_s,
        req.metadata,
    )  # fmt: skip
    if kind is TransferKind.POSTED:
        dr.debits_posted += amount
        cr.credits_posted += amount
    else:
        dr.debits_pending += amount
        cr.credits_pending += amount
    return rt, dr, cr


@dataclass(slots=True)
class _InBatch:
    """What the batch planned so far, for the transfers later in it that reference those."""

    planned: dict[str, ResolvedTransfer] = field(default_factory=dict)
    resolved: set[str] = field(default_factory=set)  # pending ids posted or voided in the batch
    reversed: set[str] = field(default_factory=set)  # ids reversed in the batch


def _net(accounts: Iterable[AccountState]) -> tuple[int, int]:
    """Posted and pending (debits - credits) summed over accounts: what double entry keeps."""
    posted = pending = 0
    for a in accounts:
        posted += a.debits_posted - a.credits_posted
        pending += a.debits_pending - a.credits_pending
    return posted, pending


def _account(accounts: Mapping[int, AccountState], aid: int, i: int, fld: str) -> AccountState:
    """The state of account ``aid``, which transfer ``i`` names in ``fld``."""
    st = accounts.get(aid)
    if st is None:
        raise TransferError(
            f"transfers[{i}].{fld}: account {aid} does not exist",
            code="account_not_found",
            field=fld,
            details={"index": i},
        )
    return st


def _duplicate_id(i: int, rid: str) -> TransferError:
    return TransferError(
        f"transfers[{i}].id: {rid!r} appears twice",
        code="duplicate_id_in_batch",
        field="id",
        details={"index": i},
    )


def _check_retry(
    req: TransferRequest, stored: Transfer, refs: Mapping[str, RefState], i: int
) -> None:
    """A request whose id is stored must repeat the stored transfer (idempotency)."""
    ref_state = refs.get(stored.ref_id) if stored.ref_id else None
    compare_existing(req, stored, ref_state.transfer if ref_state else None, i)


def _plan_referenced(
    req: TransferRequest,
    i: int,
    refs: Mapping[str, RefState],
    accounts: Mapping[int, AccountState],
    batch: _InBatch,
) -> tuple[ResolvedTransfer, AccountState, AccountState]:
    """Plan a post_pending, void_pending or reversal and apply it to its accounts."""
    rt = _plan_referencing(req, i, refs, batch)
    dr = accounts.get(rt.debit_account_id) or _account(
        accounts, rt.debit_account_id, i, "debit_account_id"
    )
    cr = accounts.get(rt.credit_account_id) or _account(
        accounts, rt.credit_account_id, i, "credit_account_id"
    )
    if dr.asset != cr.asset:
        raise _asset_error(i, dr, cr)
    if rt.asset != dr.asset:
        raise TransferError(
            f"transfers[{i}]: accounts differ from the referenced transfer",
            code="asset_mismatch",
            details={"index": i},
        )
    _apply(rt, dr, cr, _ref_amount(rt, refs, batch.planned))
    return rt, dr, cr


def _limit_error(i: int, dr: AccountState, cr: AccountState) -> TransferError:
    """The error of the first side (debit, then credit) whose limit the transfer breaks."""
    for st, side in ((dr, "debit_account_id"), (cr, "credit_account_id")):
        err = st.limit_error()
        if err is not None:
            return TransferError(
                f"transfers[{i}].{side}: account {st.id} would go below zero "
                f"(short by {-st.available()} base units)",
                code=err,
                field=side,
                details={"index": i},
            )
    raise AssertionError("no limit was broken")


def _overflow(i: int, dr: AccountState, cr: AccountState) -> TransferError:
    """A counter would pass 2^256-1 (the uint256 ceiling, and what NUMERIC(78,0) must hold)."""
    for st, names in (
        (dr, ("debits_posted", "debits_pending")),
        (cr, ("credits_posted", "credits_pending")),
    ):
        for name in names:
            if getattr(st, name) > MAX_AMOUNT_BASE_UNITS:
                return TransferError(
                    f"transfers[{i}]: account {st.id} {name} would exceed 2^256-1 base units",
                    code=f"overflows_{name}",
                    field="amount",
                    details={"index": i},
                )
    raise AssertionError("no counter overflowed")


def _asset_error(i: int, dr: AccountState, cr: AccountState) -> TransferError:
    return TransferError(
        f"transfers[{i}]: debit account is {dr.asset}, credit account is {cr.asset}",
        code="accounts_must_have_the_same_asset",
        field="credit_account_id",
        details={"index": i},
    )


def _ref_amount(
    rt: ResolvedTransfer, refs: Mapping[str, RefState], in_batch: Mapping[str, ResolvedTransfer]
) -> int:
    if rt.kind not in RESOLVING_KINDS or rt.ref_id is None:
        return 0
    if rt.ref_id in in_batch:
        return in_batch[rt.ref_id].amount
    return refs[rt.ref_id].transfer.amount


class _Target(NamedTuple):
    """The transfer a request references, and what already happened to it."""

    transfer: Transfer | ResolvedTransfer
    resolved_by: TransferKind | None  # the stored resolution, which names the refusal
    already_resolved: bool
    already_reversed: bool
    expired: bool


#: The refusal of a second resolution, by the kind of the first one.
_ALREADY_RESOLVED: Mapping[TransferKind | None, str] = MappingProxyType(
    {
        TransferKind.POST_PENDING: "pending_transfer_already_posted",
        TransferKind.VOID_PENDING: "pending_transfer_already_voided",
    }
)


def _ref_error(i: int, code: str, msg: str) -> TransferError:
    return TransferError(
        f"transfers[{i}].ref_id: {msg}", code=code, field="ref_id", details={"index": i}
    )


def _amount_error(i: int, code: str, msg: str) -> TransferError:
    return TransferError(
        f"transfers[{i}].amount: {msg}", code=code, field="amount", details={"index": i}
    )


def _plan_referencing(
    req: TransferRequest, i: int, refs: Mapping[str, RefState], batch: _InBatch
) -> ResolvedTransfer:
    """Check a referencing request against the transfer it names; fill in its defaults."""
    ref_id = req.ref_id or ""
    target = _referenced(req, i, refs, batch)
    if req.kind in RESOLVING_KINDS:
        _check_resolution(req, i, target)
        batch.resolved.add(ref_id)
    else:
        _check_reversal(req, i, target)
        batch.reversed.add(ref_id)
    _check_same_accounts(req, i, target.transfer)
    ref = target.transfer
    return _resolve_against(req, ref if isinstance(ref, Transfer) else _as_transfer(ref))


def _referenced(
    req: TransferRequest, i: int, refs: Mapping[str, RefState], batch: _InBatch
) -> _Target:
    """The referenced transfer: planned earlier in this batch, or stored."""
    ref_id = req.ref_id or ""
    rs = refs.get(ref_id)
    resolved_by = rs.resolved_by if rs is not None else None
    if ref_id in batch.planned:
        return _Target(
            batch.planned[ref_id],
            resolved_by,
            already_resolved=ref_id in batch.resolved,
            already_reversed=ref_id in batch.reversed,
            expired=False,
        )
    if rs is not None:
        return _Target(
            rs.transfer,
            resolved_by,
            already_resolved=rs.resolved_by is not None or ref_id in batch.resolved,
            already_reversed=rs.reversed or ref_id in batch.reversed,
            expired=rs.expired,
        )
    what = "pending transfer" if req.kind in RESOLVING_KINDS else "transfer"
    raise _ref_error(i, f"{what.replace(' ', '_')}_not_found", f"{what} {ref_id!r} does not exist")


def _check_resolution(req: TransferRequest, i: int, target: _Target) -> None:
    """A post or void needs a pending transfer, unresolved, unexpired (to post), and an amount
    within the pending one (all of it, to void)."""
    ref_id, ref = req.ref_id, target.transfer
    if ref.kind is not TransferKind.PENDING:
        raise _ref_error(i, "pending_transfer_not_pending", f"{ref_id!r} is not a pending transfer")
    if target.already_resolved:
        code = _ALREADY_RESOLVED.get(target.resolved_by, "pending_transfer_already_resolved")
        raise _ref_error(i, code, f"{ref_id!r} was already resolved")
    if target.expired and req.kind is TransferKind.POST_PENDING:
        raise _ref_error(
            i, "pending_transfer_expired", f"{ref_id!r} timed out and can no longer be posted"
        )
    if req.amount is not None and req.amount > ref.amount:
        raise _amount_error(
            i,
            "exceeds_pending_transfer_amount",
            f"{req.amount} exceeds the pending {ref.amount}",
        )
    if req.kind is TransferKind.VOID_PENDING and req.amount not in (None, ref.amount):
        raise _amount_error(
            i,
            "pending_transfer_has_different_amount",
            f"a void releases the whole pending amount {ref.amount}",
        )


def _check_reversal(req: TransferRequest, i: int, target: _Target) -> None:
    """A reversal needs a posted amount, not reversed yet, and moves all of it back."""
    ref_id, ref = req.ref_id, target.transfer
    if ref.kind not in (TransferKind.POSTED, TransferKind.POST_PENDING):
        raise _ref_error(
            i,
            "transfer_not_reversible",
            f"{ref_id!r} is a {ref.kind.value} transfer; only posted amounts can be reversed",
        )
    if target.already_reversed:
        raise _ref_error(i, "transfer_already_reversed", f"{ref_id!r} was already reversed")
    if req.amount is not None and req.amount != ref.amount:
        raise _amount_error(
            i, "reversal_must_match_amount", f"a reversal moves back the full {ref.amount}"
        )


def _check_same_accounts(req: TransferRequest, i: int, ref: Transfer | ResolvedTransfer) -> None:
    """Accounts given on a referencing request must be the referenced transfer's (swapped for a
    reversal); omitted ones are taken from it."""
    for fld in ("debit_account_id", "credit_account_id"):
        v = getattr(req, fld)
        expect = (
            (ref.credit_account_id if fld == "debit_account_id" else ref.debit_account_id)
            if req.kind is TransferKind.REVERSAL
            else getattr(ref, fld)
        )
        if v is not None and v != expect:
            raise TransferError(
                f"transfers[{i}].{fld}: must be {expect} (from {req.ref_id!r}) or omitted",
                code="accounts_must_match_referenced_transfer",
                field=fld,
                details={"index": i},
            )


def _as_transfer(rt: ResolvedTransfer) -> Transfer:
    return Transfer(
        0, rt.id, rt.kind, rt.debit_account_id, rt.credit_account_id, rt.asset, rt.amount, rt.code,
        rt.epoch, rt.ref_id, rt.timeout_s, rt.metadata, 0, b"", b"",
    )  # fmt: skip


def _apply(rt: ResolvedTransfer, dr: AccountState, cr: AccountState, pending_amount: int) -> None:
    """Move balances for one resolved transfer (the double entry: both sides by the same
    amount, so every branch leaves debits - credits unchanged)."""
    a = rt.amount
    k = rt.kind
    if k is TransferKind.POSTED or k is TransferKind.REVERSAL:
        dr.debits_posted += a
        cr.credits_posted += a
    elif k is TransferKind.PENDING:
        dr.debits_pending += a
        cr.credits_pending += a
    else:  # POST_PENDING or VOID_PENDING: release the reservation, then post (a part of) it
        dr.debits_pending -= pending_amount
        cr.credits_pending -= pending_amount
        # A resolution releases what its pending transfer reserved, never more.
        assert dr.debits_pending >= 0 and cr.credits_pending >= 0, (dr, cr)
        if k is TransferKind.POST_PENDING:
            assert 0 < a <= pending_amount, (a, pending_amount)
            dr.debits_posted += a
            cr.credits_posted += a
