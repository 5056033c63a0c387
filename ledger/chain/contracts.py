"""Typed transaction builders for the settlement jobs, a sender, and custom-error decoding.

Every builder returns a transaction dict with an explicit ``gas`` limit (no estimateGas round
trip, and a known ceiling under the EIP-7825 cap); ``nonce`` and fee caps are taken when given
(the settlement outbox's nonce allocator and fee cap) and filled from the node otherwise.
``send`` signs with a local key or asks the node (an unlocked dev account) and returns the hash.

Reverts surface differently per backend: anvil raises web3's ``ContractCustomError`` (revert data
as hex), eth-tester raises ``TransactionFailed`` whose message embeds the data as a bytes
literal. :func:`decode_revert` reads both and names the custom error of any artifact's ABI.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import Nonce, TxParams, TxReceipt, Wei

from ledger.chain.artifacts import artifact_names, load_artifact

#: A transaction sender: a local key (signed here) or the address of an account the node holds.
Signer = LocalAccount | str

# Gas limits: measured use (bench.settlement_bench) plus headroom; all far below 16,777,216.
POST_ROOT_GAS: Final[int] = 150_000
CLAIM_GAS: Final[int] = 250_000
SLASH_BATCH_BASE_GAS: Final[int] = 120_000
SLASH_ITEM_GAS: Final[int] = 90_000
#: The most slashes one batch may carry under the per-transaction gas cap.
MAX_SLASH_BATCH: Final[int] = 150
TX_GAS_CAP: Final[int] = 16_777_216


def signer_address(signer: Signer) -> str:
    """The checksummed address of ``signer``."""
    address = signer.address if isinstance(signer, LocalAccount) else signer
    return Web3.to_checksum_address(address)


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object of artifact ``name`` at ``address``."""
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact(name).abi_list
    )


def _params(
    sender: Signer,
    gas: int,
    nonce: int | None,
    max_fee_per_gas: int | None,
    max_priority_fee_per_gas: int | None,
) -> TxParams:
    if not 21_000 <= gas <= TX_GAS_CAP:
        raise ValueError(f"gas limit {gas} outside 21,000 .. {TX_GAS_CAP}")
    params: TxParams = {"from": signer_address(sender), "gas": gas}
    if nonce is not None:
        params["nonce"] = Nonce(nonce)
    if max_fee_per_gas is not None:
        params["maxFeePerGas"] = Wei(max_fee_per_gas)
        params["maxPriorityFeePerGas"] = Wei(
            max_priority_fee_per_gas if max_priority_fee_per_gas is not None else 0
        )
    return params


def build(
    fn: ContractFunction,
    sender: Signer,
    *,
    gas: int,
    nonce: int | None = None,
    max_fee_per_gas: int | None = None,
    max_priority_fee_per_gas: int | None = None,
) -> TxParams:
    """The transaction calling ``fn`` from ``sender`` with an explicit gas limit."""
    return fn.build_transaction(
        _params(sender, gas, nonce, max_fee_per_gas, max_priority_fee_per_gas)
    )


def _bytes32(value: bytes | str, what: str) -> bytes:
    raw = bytes(HexBytes(value))
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def post_root_tx(
    w3: Web3,
    distributor: str,
    *,
    epoch: int,
    root: bytes | str,
    inputs_digest: bytes | str,
    params_hash: bytes | str,
    calculator_version: int,
    sender: Signer,
    gas: int = POST_ROOT_GAS,
    nonce: int | None = None,
    max_fee_per_gas: int | None = None,
    max_priority_fee_per_gas: int | None = None,
) -> TxParams:
    """``RewardsDistributor.postRoot`` of one epoch (ROOT_POSTER_ROLE key)."""
    fn = contract_at(w3, "RewardsDistributor", distributor).functions.postRoot(
        epoch,
        _bytes32(root, "root"),
        _bytes32(inputs_digest, "inputs_digest"),
        _bytes32(params_hash, "params_hash"),
        calculator_version,
    )
    return build(
        fn, sender, gas=gas, nonce=nonce, max_fee_per_gas=max_fee_per_gas,
        max_priority_fee_per_gas=max_priority_fee_per_gas,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SlashItem:
    """One entry of ``StakingVault.slashBatch``; ``slash_id`` is 32 bytes (hex or bytes)."""

    slash_id: bytes | str
    provider: str
    amount: int
    infraction_at: int

    def as_abi(self) -> tuple[bytes, str, int, int]:
        """The ``Slash`` struct tuple."""
        return (
            _bytes32(self.slash_id, "slash_id"),
            Web3.to_checksum_address(self.provider),
            self.amount,
            self.infraction_at,
        )


def slash_batch_gas(count: int) -> int:
    """The gas limit given to a batch of ``count`` slashes."""
    return SLASH_BATCH_BASE_GAS + SLASH_ITEM_GAS * count


def slash_batch_tx(
    w3: Web3,
    vault: str,
    slashes: Sequence[SlashItem],
    *,
    sender: Signer,
    gas: int | None = None,
    nonce: int | None = None,
    max_fee_per_gas: int | None = None,
    max_priority_fee_per_gas: int | None = None,
) -> TxParams:
    """``StakingVault.slashBatch`` (SLASHER_ROLE key); at most :data:`MAX_SLASH_BATCH` items."""
    if not 0 < len(slashes) <= MAX_SLASH_BATCH:
        raise ValueError(f"a slash batch carries 1 .. {MAX_SLASH_BATCH} slashes")
    fn = contract_at(w3, "StakingVault", vault).functions.slashBatch([s.as_abi() for s in slashes])
    return build(
        fn, sender, gas=gas if gas is not None else slash_batch_gas(len(slashes)), nonce=nonce,
        max_fee_per_gas=max_fee_per_gas, max_priority_fee_per_gas=max_priority_fee_per_gas,
    )  # fmt: skip


def claim_tx(
    w3: Web3,
    distributor: str,
    *,
    epoch: int,
    account: str,
    cumulative_amount: int,
    proof: Sequence[bytes | str],
    sender: Signer,
    gas: int = CLAIM_GAS,
    nonce: int | None = None,
    max_fee_per_gas: int | None = None,
    max_priority_fee_per_gas: int | None = None,
) -> TxParams:
    """``RewardsDistributor.claim`` by the account or its named claimer."""
    fn = contract_at(w3, "RewardsDistributor", distributor).functions.claim(
        epoch,
        Web3.to_checksum_address(account),
        cumulative_amount,
        [_bytes32(p, "proof element") for p in proof],
    )
    return build(
        fn, sender, gas=gas, nonce=nonce, max_fee_per_gas=max_fee_per_gas,
        max_priority_fee_per_gas=max_priority_fee_per_gas,
    )  # fmt: skip


def send(w3: Web3, tx: TxParams, signer: Signer) -> HexBytes:
    """Send ``tx``: signed here with a local key, else by the node's unlocked account."""
    if isinstance(signer, LocalAccount):
        tx = dict(tx)  # type: ignore[assignment]
        if "nonce" not in tx:  # a local key: the node fills in nothing for it
            tx["nonce"] = w3.eth.get_transaction_count(signer.address, "pending")
        signed = signer.sign_transaction(dict(tx))  # type: ignore[arg-type]
        return HexBytes(w3.eth.send_raw_transaction(signed.raw_transaction))
    return HexBytes(w3.eth.send_transaction(tx))


def wait(w3: Web3, tx_hash: HexBytes, *, timeout_s: float = 30.0) -> TxReceipt:
    """The receipt of ``tx_hash``, polled every 10 ms (web3's default 100 ms caps throughput)."""
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s, poll_latency=0.01)


def transact(w3: Web3, fn: ContractFunction, signer: Signer, *, gas: int) -> TxReceipt:
    """Build, send and wait for ``fn`` (deployment and tests); the receipt may have status 0."""
    return wait(w3, send(w3, build(fn, signer, gas=gas), signer))


# ---------------------------------------------------------------- revert decoding


@dataclass(frozen=True, slots=True)
class RevertError:
    """A decoded revert: the error's name and its arguments by name (``Error(string)`` is
    ``name="Error"``, ``args={"message": ...}``; ``Panic(uint256)`` is ``args={"code": ...}``)."""

    name: str
    args: Mapping[str, Any]
    data: bytes


_ErrorEntry = tuple[str, tuple[str, ...], tuple[str, ...]]
_BUILTIN_ERRORS: Final[dict[bytes, _ErrorEntry]] = {
    keccak(text="Error(string)")[:4]: ("Error", ("string",), ("message",)),
    keccak(text="Panic(uint256)")[:4]: ("Panic", ("uint256",), ("code",)),
}


def _abi_type(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){kind[5:]}"
    return kind


@functools.cache
def _error_table() -> dict[bytes, _ErrorEntry]:
    table: dict[bytes, _ErrorEntry] = dict(_BUILTIN_ERRORS)
    for name in artifact_names():
        for item in load_artifact(name).abi:
            if item.get("type") != "error":
                continue
            types = tuple(_abi_type(i) for i in item["inputs"])
            names = tuple(str(i["name"]) for i in item["inputs"])
            table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (
                str(item["name"]),
                types,
                names,
            )
    return table


def decode_revert_data(data: bytes | str) -> RevertError | None:
    """Decode revert data against every artifact's custom errors; ``None`` if unknown."""
    raw = bytes(HexBytes(data))
    entry = _error_table().get(raw[:4])
    if entry is None:
        return None
    name, types, names = entry
    try:
        values = abi_decode(list(types), raw[4:])
    except Exception:
        return None
    return RevertError(name=name, args=dict(zip(names, values, strict=True)), data=raw)


_BYTES_LITERAL = re.compile(r"""b(['"]).*\1""", re.DOTALL)


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data carried by a web3 (anvil) or eth-tester exception, if any."""
    if isinstance(exc, ContractCustomError | ContractLogicError):
        data = exc.data
        if isinstance(data, str) and data.startswith("0x"):
            return bytes(HexBytes(data))
        if isinstance(data, bytes):
            return data
        return None
    for arg in exc.args:
        if isinstance(arg, bytes | bytearray):
            return bytes(arg)
        if isinstance(arg, str):
            match = _BYTES_LITERAL.search(arg)
            if match:
                try:
                    value = ast.literal_eval(match.group(0))
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, bytes):
                    return value
    return None


def decode_revert(exc: BaseException) -> RevertError | None:
    """The custom error (name and arguments) a reverted call raised, on anvil or eth-tester."""
    data = revert_data(exc)
    return decode_revert_data(data) if data is not None else None


def error_names(names: Iterable[str] | None = None) -> set[str]:
    """Every custom error name in the artifacts (or in the named ones)."""
    wanted = set(names) if names is not None else set(artifact_names())
    return {
        str(item["name"])
        for name in wanted
        for item in load_artifact(name).abi
        if item.get("type") == "error"
    }
