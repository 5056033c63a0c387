"""Our EIP-191 heartbeat signer agrees with eth-account, an independent implementation."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from ledger.kit.signing import address_of, heartbeat_message, recover, sign, sign_heartbeat

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
HB = {
    "node_id": "node-7", "seq": 12, "ts": 1795700000, "up": True, "gpu_util_ppm": 500_000,
    "latency_ms_p50": 25, "jobs_ok": 3, "jobs_failed": 1, "bandwidth_mbps": 900,
    "user_rating": 4,
}  # fmt: skip


def test_address_matches_eth_account() -> None:
    assert address_of(KEY) == Account.from_key(KEY).address.lower()


def test_signature_is_byte_identical_to_eth_account() -> None:
    msg = heartbeat_message(**HB)
    ours = sign(msg, KEY)
    theirs = Account.sign_message(encode_defunct(primitive=msg), private_key=KEY).signature
    assert ours == "0x" + bytes(theirs).hex()
    assert sign_heartbeat(HB, KEY) == ours


def test_recover_accepts_eth_account_signatures() -> None:
    msg = heartbeat_message(**{**HB, "user_rating": None})
    sig = Account.sign_message(encode_defunct(primitive=msg), private_key=KEY).signature
    assert recover(msg, "0x" + bytes(sig).hex()) == address_of(KEY)
    assert recover(msg, bytes(sig).hex()) == address_of(KEY)  # without 0x


def test_any_changed_field_changes_the_signer() -> None:
    sig = sign_heartbeat(HB, KEY)
    for field, value in [("seq", 13), ("ts", 1795700001), ("up", False), ("jobs_ok", 4),
                         ("user_rating", None), ("node_id", "node-8")]:  # fmt: skip
        msg = heartbeat_message(**{**HB, field: value})
        assert recover(msg, sig) != address_of(KEY), field


@pytest.mark.parametrize(
    "bad", ["", "0x", "0x" + "zz" * 65, "0x" + "11" * 64, "0x" + "00" * 64 + "1d", "0x" + "ff" * 65]
)
def test_malformed_signatures_recover_nobody(bad: str) -> None:
    assert recover(heartbeat_message(**HB), bad) is None


def test_high_s_mirror_of_a_valid_signature_is_refused() -> None:
    """EIP-2: the mirror (n - s, v flipped) of a valid signature recovers the same key, so a
    heartbeat would have two valid signatures; only the canonical low-s one is accepted."""
    from ledger.kit.signing import SECP256K1_HALF_N, SECP256K1_N

    msg = heartbeat_message(**HB)
    sig = bytes.fromhex(sign(msg, KEY)[2:])
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    assert s <= SECP256K1_HALF_N  # what we (and libsecp256k1) produce
    mirror = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    assert recover(msg, "0x" + sig.hex()) == address_of(KEY)
    assert recover(msg, "0x" + mirror.hex()) is None
