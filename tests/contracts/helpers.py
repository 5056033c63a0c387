"""Assertions shared by the contract tests."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.logs import DISCARD

from ledger.chain.contracts import RevertError, decode_revert, transact


def _norm(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return Web3.to_checksum_address(value)
    return value


def assert_reverts(
    w3: Web3, fn: Any, sender: str, name: str, /, *, gas_: int = 1_000_000, **expected: Any
) -> RevertError:
    """``fn`` from ``sender`` reverts with custom error ``name`` (and ``expected`` args), both
    when called and when sent as a mined transaction (status 0, nothing changes)."""
    with pytest.raises(Exception) as info:
        fn.call({"from": sender})
    error = decode_revert(info.value)
    assert error is not None, f"undecodable revert: {info.value!r}"
    assert error.name == name, error
    for key, value in expected.items():
        assert _norm(error.args[key]) == _norm(value), (key, error.args)
    block = w3.eth.block_number
    receipt = transact(w3, fn, sender, gas=gas_)
    assert receipt["status"] == 0
    assert receipt["blockNumber"] > block
    return error


def events(contract: Any, event: str, receipt: Any) -> list[dict[str, Any]]:
    """The decoded ``event`` logs of ``contract`` in ``receipt`` (args only)."""
    logs = getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs]


def block_ts(w3: Web3, receipt: Any) -> int:
    return int(w3.eth.get_block(receipt["blockNumber"])["timestamp"])
