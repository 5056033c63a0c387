"""Heartbeat signatures: EIP-191 ``personal_sign`` over a canonical text, secp256k1.

A node signs ``"\\x19Ethereum Signed Message:\\n" + len(msg) + msg`` hashed with keccak-256, where
``msg`` is the canonical heartbeat text below. Any Ethereum wallet library (eth-account's
``sign_message(encode_defunct(text=msg))``, ethers' ``signMessage``) produces the same
signature, so operators can sign with tools they already trust. The ledger recovers the signer's
address and compares it with the node's registered address.

Canonical text (fields joined by ``|``; absent rating is empty)::

    swarm-heartbeat/v1|<node_id>|<seq>|<ts>|<up 0/1>|<gpu_util_ppm>|<latency_ms_p50>|
    <jobs_ok>|<jobs_failed>|<bandwidth_mbps>|<user_rating>
"""

from __future__ import annotations

from typing import Any

import coincurve
import sha3  # safe-pysha3: C keccak-256 (Ethereum's, not NIST SHA3-256)

MESSAGE_PREFIX = "swarm-heartbeat/v1"
#: The secp256k1 group order, and its half: the largest canonical (low) s.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2


def keccak256(data: bytes) -> bytes:
    return bytes(sha3.keccak_256(data).digest())


def heartbeat_message(
    node_id: str,
    seq: int,
    ts: int,
    up: bool,
    gpu_util_ppm: int,
    latency_ms_p50: int,
    jobs_ok: int,
    jobs_failed: int,
    bandwidth_mbps: int,
    user_rating: int | None,
) -> bytes:
    """The exact bytes a node signs for one heartbeat."""
    rating = "" if user_rating is None else str(user_rating)
    return (
        f"{MESSAGE_PREFIX}|{node_id}|{seq}|{ts}|{1 if up else 0}|{gpu_util_ppm}|{latency_ms_p50}|"
        f"{jobs_ok}|{jobs_failed}|{bandwidth_mbps}|{rating}"
    ).encode()


def eip191_hash(message: bytes) -> bytes:
    """keccak256 of the EIP-191 version 0x45 (personal_sign) envelope of ``message``."""
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def address_of_public_key(public_key: coincurve.PublicKey) -> str:
    """Lower-case 0x address of a secp256k1 public key."""
    return "0x" + keccak256(public_key.format(compressed=False)[1:])[-20:].hex()


def address_of(private_key: bytes) -> str:
    return address_of_public_key(coincurve.PrivateKey(private_key).public_key)


def sign(message: bytes, private_key: bytes) -> str:
    """EIP-191 signature as 0x-hex of r || s || v with v in {27, 28} (what wallets emit)."""
    sig = coincurve.PrivateKey(private_key).sign_recoverable(eip191_hash(message), hasher=None)
    return "0x" + sig[:64].hex() + format(sig[64] + 27, "02x")


def recover(message: bytes, signature: str) -> str | None:
    """The address that signed ``message``, or None if the signature is malformed or invalid."""
    try:
        raw = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature)
    except (ValueError, TypeError, AttributeError):
        return None
    if len(raw) != 65:
        return None
    # Canonical signatures only (EIP-2, as Ethereum transactions): s in the lower half of the
    # curve order. Its mirror (n - s, with v flipped) recovers the same key; refusing it means
    # one heartbeat has exactly one valid signature.
    if not 0 < int.from_bytes(raw[32:64], "big") <= SECP256K1_HALF_N:
        return None
    v = raw[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        return None
    try:
        pub = coincurve.PublicKey.from_signature_and_message(
            raw[:64] + bytes([v]), eip191_hash(message), hasher=None
        )
    except Exception:
        return None
    return address_of_public_key(pub)


def sign_heartbeat(fields: dict[str, Any], private_key: bytes) -> str:
    """Reference signer for node operators: sign a heartbeat given as its JSON fields."""
    return sign(
        heartbeat_message(
            fields["node_id"], fields["seq"], fields["ts"], fields["up"], fields["gpu_util_ppm"],
            fields["latency_ms_p50"], fields["jobs_ok"], fields["jobs_failed"],
            fields["bandwidth_mbps"], fields.get("user_rating"),
        ),
        private_key,
    )  # fmt: skip
