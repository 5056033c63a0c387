"""The merkle tree against vectors from OpenZeppelin's own implementation.

The constants below come from ``@openzeppelin/merkle-tree`` 1.0.8 (``npm install
@openzeppelin/merkle-tree`` in an empty directory, Node 20), printed by this script::

    const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
    const addr = (i) => "0x" + i.toString(16).padStart(2, "0").repeat(20);
    const amount = (i) => (BigInt(i) * 10n ** 18n + BigInt(i)).toString();
    const out = {};
    for (const n of [1, 2, 3, 5, 8]) {
      const values = [];
      for (let i = 1; i <= n; i++) values.push([addr(i), amount(i)]);
      const tree = StandardMerkleTree.of(values, ["address", "uint256"]);
      out[n] = { root: tree.root, proof_of_last: tree.getProof(n - 1) };
      if (n === 5) {
        out[n].tree = tree.dump().tree;
        out[n].all_proofs = values.map((_, k) => tree.getProof(k));
      }
    }
    const ext = [["0x0000000000000000000000000000000000000001", "0"],
                 ["0xffffffffffffffffffffffffffffffffffffffff", (2n ** 256n - 1n).toString()],
                 ["0xabcdefabcdefabcdefabcdefabcdefabcdefabcd", "123456789"]];
    const t = StandardMerkleTree.of(ext, ["address", "uint256"]);
    out.extremes = { root: t.root, leaf_of_second: t.leafHash(ext[1]),
                     proof_of_second: t.getProof(1) };
    console.log(JSON.stringify(out, null, 1));

Values are ``(0x0101...01, 1e18 + 1)``, ``(0x0202...02, 2e18 + 2)``, ... as :func:`_values` builds
them; proofs are indexed by input position, as ``getProof(valueIndex)`` is.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.rewards.domain.merkle import (
    MAX_UINT256,
    MerkleTree,
    build_tree,
    leaf_hash,
    node_hash,
    process_proof,
    verify_proof,
)


def _values(n: int) -> list[tuple[str, int]]:
    return [("0x" + f"{i:02x}" * 20, i * 10**18 + i) for i in range(1, n + 1)]


def _b(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.removeprefix("0x"))


OZ_ROOTS = {
    1: "0x3058d7f21006dcb72cb579ffae0fcee5b3665e1fccf19e2aedd53eae4cb2443b",
    2: "0x656485790ac09a06446df912cb03e248f5f4fce478f1e4fbb9f56401cc661c79",
    3: "0x661792f5e158004f9efdf43394fcd0aa98b45a6ecbbc8babfc5630ca74bc85eb",
    5: "0xe46ddd81f808c2823b1400484099797dbf4599100f348a27afa9c75bb1e6d871",
    8: "0x8c396e47be23f2f2fe8895cd77f9f4abacc595c5b2ea88c55191c2a7e4b3f7e9",
}

OZ_PROOF_OF_LAST = {
    1: [],
    2: ["0x3058d7f21006dcb72cb579ffae0fcee5b3665e1fccf19e2aedd53eae4cb2443b"],
    3: [
        "0x3058d7f21006dcb72cb579ffae0fcee5b3665e1fccf19e2aedd53eae4cb2443b",
        "0xc9917ed299494ddbfae50946753e63f705afeca5ce042cdaa9dc35f6d2b1ebdc",
    ],
    5: [
        "0x3058d7f21006dcb72cb579ffae0fcee5b3665e1fccf19e2aedd53eae4cb2443b",
        "0xdef13959a2be2b52778ca000cc700143d8b12f4bd208e0b0250294d0cd44d5e9",
        "0xb149c31972cc68c9a403662dd433b8a5b87afec67219c2b4a41e5f3ab07b2bed",
    ],
    8: [
        "0x3058d7f21006dcb72cb579ffae0fcee5b3665e1fccf19e2aedd53eae4cb2443b",
        "0xccdd76519f6af2f3fab3df82ae2418741bf71376f5b6e0c9d07ab6f3d4b6397a",
        "0xe353c0c76a6679cf853e7643d92301afe8b90e21f29a463813be8f54d5c9b941",
    ],
}

OZ_TREE_5 = [
    "0xe46ddd81f808c2823b1400484099797dbf4599100f348a27afa9c75bb1e6d871",
    "0x07c6cd39e961adffef134410c79ab7cb244a3ab96eb3add61491444a4a997995",
    "0xb149c31972cc68c9a403662dd433b8a5b87afec67219c2b4a41e5f3ab07b2bed",
    "0xf39585590631fcc779f6a85918b9979eec6b3ddb3106899f7a5df33bf45e725d",
    "0xdef13959a2be2b52778ca000cc700143d8b12f4bd208e0b0250294d0cd44d5e9",
    "0xc9917ed299494ddbfae50946753e63f705afeca5ce042cdaa9dc35f6d2b1ebdc",
    "0xc266181b09b26171a50289b30d9cc43d4ce52530022c324617acf234e421af77",
    "0x3058d7f21006dcb72cb579ffae0fcee5b3665e1fccf19e2aedd53eae4cb2443b",
    "0x1dbff1ea33ee2b0dc699705b2941f4393c59b0dbdabb560deb44e58e4d6d80cf",
]

OZ_ALL_PROOFS_5 = [
    [
        "0x1dbff1ea33ee2b0dc699705b2941f4393c59b0dbdabb560deb44e58e4d6d80cf",
        "0xdef13959a2be2b52778ca000cc700143d8b12f4bd208e0b0250294d0cd44d5e9",
        "0xb149c31972cc68c9a403662dd433b8a5b87afec67219c2b4a41e5f3ab07b2bed",
    ],
    [
        "0xc266181b09b26171a50289b30d9cc43d4ce52530022c324617acf234e421af77",
        "0x07c6cd39e961adffef134410c79ab7cb244a3ab96eb3add61491444a4a997995",
    ],
    [
        "0xc9917ed299494ddbfae50946753e63f705afeca5ce042cdaa9dc35f6d2b1ebdc",
        "0x07c6cd39e961adffef134410c79ab7cb244a3ab96eb3add61491444a4a997995",
    ],
    [
        "0xf39585590631fcc779f6a85918b9979eec6b3ddb3106899f7a5df33bf45e725d",
        "0xb149c31972cc68c9a403662dd433b8a5b87afec67219c2b4a41e5f3ab07b2bed",
    ],
    [
        "0x3058d7f21006dcb72cb579ffae0fcee5b3665e1fccf19e2aedd53eae4cb2443b",
        "0xdef13959a2be2b52778ca000cc700143d8b12f4bd208e0b0250294d0cd44d5e9",
        "0xb149c31972cc68c9a403662dd433b8a5b87afec67219c2b4a41e5f3ab07b2bed",
    ],
]

EXTREME_VALUES = [
    ("0x0000000000000000000000000000000000000001", 0),
    ("0xffffffffffffffffffffffffffffffffffffffff", 2**256 - 1),
    ("0xabcdefabcdefabcdefabcdefabcdefabcdefabcd", 123456789),
]
OZ_EXTREMES_ROOT = "0x6ef26cc894af83ee36906babf47967702e6b325b93dad78ff82af907d33478c7"
OZ_EXTREMES_LEAF_OF_SECOND = "0x364a95be5ec65bea02cf4f49255f3dd56ffecfac97f48985c5239624000e332b"
OZ_EXTREMES_PROOF_OF_SECOND = [
    "0x3f9553dc324cd1fd24b54243720c42e18e5c20165bc5e523e42b440a8654abd1",
    "0xcdefb26514e376bc6f7f4d650f309826d89148343497f188d41cad71899fc8af",
]


def test_keccak_is_keccak_not_sha3() -> None:
    # keccak256("") differs from sha3_256(""); a swapped hash function fails here first.
    assert node_hash(b"", b"") == _b(
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


@pytest.mark.parametrize("n", sorted(OZ_ROOTS))
def test_root_and_proof_match_openzeppelin(n: int) -> None:
    values = _values(n)
    tree = build_tree(values)
    assert tree.root == _b(OZ_ROOTS[n])
    assert tree.proof(n - 1) == [_b(h) for h in OZ_PROOF_OF_LAST[n]]
    # By address, the same proof.
    assert tree.proof(values[-1][0]) == tree.proof(n - 1)
    assert verify_proof(tree.root, leaf_hash(*values[-1]), tree.proof(n - 1))


def test_tree_layout_matches_openzeppelin() -> None:
    tree = build_tree(_values(5))
    assert list(tree.tree) == [_b(h) for h in OZ_TREE_5]
    for k, expected in enumerate(OZ_ALL_PROOFS_5):
        assert tree.proof(k) == [_b(h) for h in expected]


def test_extreme_amounts_match_openzeppelin() -> None:
    tree = build_tree(EXTREME_VALUES)
    assert tree.root == _b(OZ_EXTREMES_ROOT)
    assert leaf_hash(*EXTREME_VALUES[1]) == _b(OZ_EXTREMES_LEAF_OF_SECOND)
    assert tree.leaf(1) == _b(OZ_EXTREMES_LEAF_OF_SECOND)
    assert tree.proof(1) == [_b(h) for h in OZ_EXTREMES_PROOF_OF_SECOND]


def test_single_leaf_root_is_the_leaf() -> None:
    address, amount = _values(1)[0]
    tree = build_tree([(address, amount)])
    assert tree.root == leaf_hash(address, amount)
    assert tree.proof(0) == []
    assert verify_proof(tree.root, tree.root, [])


def test_leaf_hash_is_double_keccak_of_abi_encoding() -> None:
    from Crypto.Hash import keccak

    address, amount = "0x" + "ab" * 20, 5
    encoded = bytes(12) + bytes.fromhex("ab" * 20) + (5).to_bytes(32, "big")
    inner = keccak.new(data=encoded, digest_bits=256).digest()
    assert leaf_hash(address, amount) == keccak.new(data=inner, digest_bits=256).digest()


def test_address_case_does_not_matter() -> None:
    lower = "0x" + "ab" * 20
    mixed = "0x" + "aB" * 20
    assert leaf_hash(lower, 7) == leaf_hash(mixed, 7)
    tree = build_tree([(mixed, 7), ("0x" + "01" * 20, 1)])
    assert tree.values[0] == (lower, 7)
    assert tree.proof(lower) == tree.proof(mixed) == tree.proof(0)


def test_empty_tree_is_refused() -> None:
    with pytest.raises(ValueError, match="without leaves"):
        build_tree([])


def test_duplicate_address_is_refused_case_insensitively() -> None:
    with pytest.raises(ValueError, match="duplicate address"):
        build_tree([("0x" + "ab" * 20, 1), ("0x" + "AB" * 20, 2)])


@pytest.mark.parametrize(
    "address",
    ["0x" + "ab" * 19, "0x" + "ab" * 21, "ab" * 21, "0x" + "zz" * 20, "0X" + "ab" * 19 + "a"],
)
def test_malformed_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="address"):
        leaf_hash(address, 1)


@pytest.mark.parametrize("amount", [-1, MAX_UINT256 + 1])
def test_out_of_range_amount_is_refused(amount: int) -> None:
    with pytest.raises(ValueError, match="uint256"):
        build_tree([("0x" + "ab" * 20, amount)])


@pytest.mark.parametrize("amount", [True, 1.0, "1"])
def test_non_int_amount_is_refused(amount: object) -> None:
    with pytest.raises(TypeError):
        leaf_hash("0x" + "ab" * 20, amount)  # type: ignore[arg-type]


def test_proof_lookup_errors() -> None:
    tree = build_tree(_values(3))
    with pytest.raises(IndexError):
        tree.proof(3)
    with pytest.raises(IndexError):
        tree.proof(-1)
    with pytest.raises(KeyError):
        tree.proof("0x" + "99" * 20)


def test_verify_rejects_wrong_root_leaf_and_proof() -> None:
    values = _values(5)
    tree = build_tree(values)
    proof = tree.proof(2)
    leaf = leaf_hash(*values[2])
    assert verify_proof(tree.root, leaf, proof)
    assert not verify_proof(tree.root, leaf_hash(values[2][0], values[2][1] + 1), proof)
    assert not verify_proof(bytes(32), leaf, proof)
    assert not verify_proof(tree.root, leaf, proof[:-1])
    assert not verify_proof(tree.root, leaf, [*proof, bytes(32)])
    with pytest.raises(ValueError, match="32 bytes"):
        verify_proof(tree.root, leaf, [b"short"])


def test_process_proof_is_order_independent_per_level() -> None:
    # The commutative hash is what lets a proof omit left/right flags.
    a, b = leaf_hash("0x" + "01" * 20, 1), leaf_hash("0x" + "02" * 20, 2)
    assert node_hash(a, b) == node_hash(b, a)
    assert process_proof(a, [b]) == process_proof(b, [a])


def test_tree_is_immutable_and_short_to_print() -> None:
    tree = build_tree(_values(2))
    assert isinstance(tree, MerkleTree)
    assert repr(tree) == f"MerkleTree(root={OZ_ROOTS[2]}, leaves=2)"
    with pytest.raises(AttributeError):
        tree.tree = ()  # type: ignore[misc]


_addresses = st.integers(min_value=0, max_value=2**160 - 1).map(lambda a: f"0x{a:040x}")
_leaf_sets = st.dictionaries(
    _addresses, st.integers(min_value=0, max_value=MAX_UINT256), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(_leaf_sets)
def test_every_proof_verifies(leaves: dict[str, int]) -> None:
    items = list(leaves.items())
    tree = build_tree(items)
    assert len(tree) == len(items)
    for k, (address, amount) in enumerate(items):
        assert verify_proof(tree.root, leaf_hash(address, amount), tree.proof(k))
        assert tree.proof(address) == tree.proof(k)
    # The internal nodes really are the hashes of their children.
    for i in range(len(tree.tree) - len(items)):
        assert tree.tree[i] == node_hash(tree.tree[2 * i + 1], tree.tree[2 * i + 2])


@settings(max_examples=60, deadline=None)
@given(_leaf_sets, st.data())
def test_tampered_amount_fails(leaves: dict[str, int], data: st.DataObject) -> None:
    items = list(leaves.items())
    tree = build_tree(items)
    k = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
    address, amount = items[k]
    other = data.draw(st.integers(min_value=0, max_value=MAX_UINT256).filter(lambda x: x != amount))
    assert not verify_proof(tree.root, leaf_hash(address, other), tree.proof(k))


@settings(max_examples=30, deadline=None)
@given(_leaf_sets, st.randoms())
def test_root_does_not_depend_on_input_order(leaves: dict[str, int], rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    items = list(leaves.items())
    shuffled = items[:]
    rnd.shuffle(shuffled)
    assert build_tree(items).root == build_tree(shuffled).root


@pytest.mark.slow
def test_100k_leaves_build_in_seconds() -> None:
    leaves = [(f"0x{i * 7919 + 1:040x}", i * 10**18) for i in range(100_000)]
    start = time.perf_counter()
    tree = build_tree(leaves)
    elapsed = time.perf_counter() - start
    assert verify_proof(tree.root, leaf_hash(*leaves[12_345]), tree.proof(12_345))
    # Generous against a slow shared CI machine; ~1.5 s on the development box.
    assert elapsed < 10, elapsed
