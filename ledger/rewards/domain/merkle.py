"""OpenZeppelin-compatible merkle tree over ``(address, uint256)`` leaves. Pure.

The rewards distributor verifies claims with OpenZeppelin's ``MerkleProof.verify``, and provider
tooling builds the same trees with ``@openzeppelin/merkle-tree``'s ``StandardMerkleTree``. This
module reproduces that tree byte for byte, so a root computed here is the root a provider gets
from the npm package for the same values:

* leaf hash: ``keccak256(keccak256(abi.encode(address, uint256)))``; ``abi.encode`` is the
  20-byte address left-padded to 32 bytes followed by the amount as 32 big-endian bytes. The
  double hash keeps a leaf from ever being mistaken for a 64-byte internal node.
* internal node: ``keccak256(min(a, b) || max(a, b))`` (bytes compared lexicographically), the
  commutative hash ``MerkleProof`` uses, so a proof carries no left/right flags.
* layout: the leaf hashes are sorted ascending and stored at the end of one array in reverse
  order (the smallest hash is the last element); node ``i`` has children ``2i + 1`` and
  ``2i + 2``; the root is element 0. This is ``makeMerkleTree`` of the package's ``core.ts``.

Indices given to :meth:`MerkleTree.proof` are positions in the input sequence, like the
package's ``getProof(valueIndex)``; the tree position is looked up internally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import sha3  # safe-pysha3: C keccak-256, ~7x faster than pycryptodome's wrapper

from ledger.kit.limits import MAX_MERKLE_LEAVES

__all__ = [
    "HASH_SIZE_BYTES",
    "MAX_MERKLE_LEAVES",
    "MAX_UINT256",
    "MerkleTree",
    "build_tree",
    "leaf_hash",
    "node_hash",
    "process_proof",
    "verify_proof",
]

HASH_SIZE_BYTES: Final[int] = 32
MAX_UINT256: Final[int] = 2**256 - 1
# MAX_MERKLE_LEAVES (ledger.kit.limits) is ten times the largest epoch the rewards benchmark
# covers. A tree this size builds in well under a minute; anything larger is a bug upstream,
# not a real epoch.

_ADDRESS_HEX_LEN: Final[int] = 40
_HEX_DIGITS: Final[frozenset[str]] = frozenset("0123456789abcdef")
_ADDRESS_PAD: Final[bytes] = bytes(12)


def _keccak256(data: bytes) -> bytes:
    return bytes(sha3.keccak_256(data).digest())


def _normalize_address(address: str) -> str:
    """Return ``address`` in lower case after checking it is ``0x`` and 40 hex digits.

    The checksum case of an EIP-55 address carries no information for the hash (abi.encode
    uses the 20 bytes), so any case is accepted and duplicates are detected case-insensitively.
    """
    if not isinstance(address, str):
        raise TypeError(f"address must be a str, not {type(address).__name__}")
    lowered = address.lower()
    if (
        len(lowered) != 2 + _ADDRESS_HEX_LEN
        or not lowered.startswith("0x")
        or not _HEX_DIGITS.issuperset(lowered[2:])
    ):
        raise ValueError(f"address must be 0x followed by 40 hex digits, got {address!r}")
    return lowered


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int, not {type(amount).__name__}")
    if not 0 <= amount <= MAX_UINT256:
        raise ValueError(f"amount must be a uint256 (0 .. 2**256 - 1), got {amount}")


def _leaf_hash_normalized(address_lower: str, amount: int) -> bytes:
    encoded = _ADDRESS_PAD + bytes.fromhex(address_lower[2:]) + amount.to_bytes(32, "big")
    return _keccak256(_keccak256(encoded))


def leaf_hash(address: str, amount: int) -> bytes:
    """Return the StandardMerkleTree leaf hash of ``(address, amount)``.

    ``keccak256(keccak256(abi.encode(address, uint256)))`` as 32 bytes. ``address`` is ``0x``
    plus 40 hex digits in any case; ``amount`` an int in ``0 .. 2**256 - 1``.
    """
    normalized = _normalize_address(address)
    _check_amount(amount)
    return _leaf_hash_normalized(normalized, amount)


def node_hash(a: bytes, b: bytes) -> bytes:
    """Return the commutative internal node hash ``keccak256(sorted(a, b))`` of two hashes."""
    return _keccak256(a + b if a <= b else b + a)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE_BYTES:
        raise ValueError(f"{what} must be {HASH_SIZE_BYTES} bytes")


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Fold ``proof`` into ``leaf`` with the commutative node hash; the result is a root.

    Same as OpenZeppelin ``MerkleProof.processProof``. Every element must be 32 bytes.
    """
    _check_hash(leaf, "leaf")
    computed = bytes(leaf)
    for i, sibling in enumerate(proof):
        _check_hash(sibling, f"proof[{i}]")
        computed = node_hash(computed, bytes(sibling))
    return computed


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """Return whether ``proof`` proves ``leaf`` (a leaf hash) against ``root``.

    OpenZeppelin ``MerkleProof.verify`` semantics: ``processProof(proof, leaf) == root``. A
    malformed argument (not 32 bytes) raises ``ValueError`` rather than returning ``False``,
    because it is a caller bug, not a failed claim.
    """
    _check_hash(root, "root")
    return process_proof(leaf, proof) == bytes(root)


@dataclass(frozen=True, slots=True, repr=False)
class MerkleTree:
    """A built tree: the node array, the input values and where each value's leaf sits.

    ``tree[0]`` is the root; ``values[k]`` is the k-th input pair (address lower-cased) and
    ``tree_indices[k]`` the position of its leaf in ``tree``.
    """

    tree: tuple[bytes, ...]
    values: tuple[tuple[str, int], ...]
    tree_indices: tuple[int, ...]
    _index_by_address: Mapping[str, int]

    @property
    def root(self) -> bytes:
        """The 32-byte root, as posted on chain for the epoch."""
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        # The default repr would print every node of a 100k-leaf tree.
        return f"MerkleTree(root=0x{self.root.hex()}, leaves={len(self.values)})"

    def index_of(self, address: str) -> int:
        """Return the input position of ``address``; ``KeyError`` if it has no leaf."""
        normalized = _normalize_address(address)
        try:
            return self._index_by_address[normalized]
        except KeyError:
            raise KeyError(f"address {address} is not in the tree") from None

    def leaf(self, index: int) -> bytes:
        """Return the leaf hash of the value at input position ``index``."""
        return self.tree[self.tree_indices[self._check_index(index)]]

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"index must be an int, not {type(index).__name__}")
        if not 0 <= index < len(self.values):
            raise IndexError(f"index {index} out of range for {len(self.values)} leaves")
        return index

    def proof(self, key: int | str) -> list[bytes]:
        """Return the proof of a value, given its input position or its address.

        The siblings from the leaf up to (not including) the root, as ``getProof`` of
        ``@openzeppelin/merkle-tree`` returns them; a one-leaf tree has an empty proof.
        """
        index = self.index_of(key) if isinstance(key, str) else self._check_index(key)
        position = self.tree_indices[index]
        siblings: list[bytes] = []
        while position > 0:
            # Odd positions are left children (sibling to the right), even ones right children.
            sibling = position + 1 if position % 2 == 1 else position - 1
            siblings.append(self.tree[sibling])
            position = (position - 1) // 2
        return siblings


def build_tree(leaves: Sequence[tuple[str, int]]) -> MerkleTree:
    """Build the StandardMerkleTree of ``(address, amount)`` pairs.

    Raises ``ValueError`` for no leaves (there is no root of nothing), more than
    :data:`MAX_MERKLE_LEAVES`, a malformed address or amount, or an address listed twice (a claim is
    per address; two leaves would let it claim twice).
    """
    count = len(leaves)
    if count == 0:
        raise ValueError("cannot build a merkle tree without leaves")
    if count > MAX_MERKLE_LEAVES:
        raise ValueError(f"at most {MAX_MERKLE_LEAVES} leaves per tree, got {count}")
    values: list[tuple[str, int]] = []
    index_by_address: dict[str, int] = {}
    hashes: list[bytes] = []
    for i, (address, amount) in enumerate(leaves):
        normalized = _normalize_address(address)
        _check_amount(amount)
        if normalized in index_by_address:
            raise ValueError(
                f"duplicate address {normalized} at positions "
                f"{index_by_address[normalized]} and {i}"
            )
        index_by_address[normalized] = i
        values.append((normalized, amount))
        hashes.append(_leaf_hash_normalized(normalized, amount))

    # Sort value positions by leaf hash (Python's sort is stable like the package's; the hashes
    # are distinct anyway because the addresses are).
    order = sorted(range(count), key=hashes.__getitem__)
    assert len(set(hashes)) == count
    size = 2 * count - 1
    tree: list[bytes] = [b""] * size
    tree_indices = [0] * count
    for rank, value_index in enumerate(order):
        position = size - 1 - rank
        tree[position] = hashes[value_index]
        tree_indices[value_index] = position
    for i in range(size - 1 - count, -1, -1):
        left = tree[2 * i + 1]
        right = tree[2 * i + 2]
        tree[i] = _keccak256(left + right if left <= right else right + left)
    return MerkleTree(
        tree=tuple(tree),
        values=tuple(values),
        tree_indices=tuple(tree_indices),
        _index_by_address=MappingProxyType(index_by_address),
    )
