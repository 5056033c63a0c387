"""Canonical evidence and the ids derived from it (violation and penalty ids).

Evidence is a digestable summary, not the raw artefacts, which live in object storage and are
referenced from it by their hash. The same facts always give the same digest and so the same
incident id, which is what makes "one slash per incident" hold across retries and re-reports.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Final

from ledger.kit.limits import MAX_EVIDENCE_ITEMS, MAX_EVIDENCE_KEY_CHARS, MAX_EVIDENCE_VALUE_CHARS
from ledger.slashing.domain.errors import SlashingError

_VIOLATION_ID_FORMAT: Final[str] = "swarm-violation-v1"
_PENALTY_ID_FORMAT: Final[str] = "swarm-penalty-v1"
_KEY_RE: Final[re.Pattern[str]] = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def sha256_json(value: object) -> str:
    """SHA-256 (lower-case hex) of ``value`` as compact ASCII JSON."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _check_item(item: object, seen: set[str]) -> None:
    """Refuse one evidence item that is not a (key, value) pair of bounded strings, or whose key
    was already seen; record its key in ``seen``."""
    if not isinstance(item, tuple) or len(item) != 2:
        raise SlashingError(
            "items are (key, value) pairs", code="evidence_malformed", field="evidence"
        )
    key, value = item
    if not isinstance(key, str) or len(key) > MAX_EVIDENCE_KEY_CHARS or not _KEY_RE.fullmatch(key):
        raise SlashingError(f"bad evidence key {key!r}", code="evidence_key", field="evidence")
    if not isinstance(value, str) or len(value) > MAX_EVIDENCE_VALUE_CHARS:
        raise SlashingError(
            f"must be a str of <= {MAX_EVIDENCE_VALUE_CHARS} chars",
            code="evidence_value",
            field=f"evidence.{key}",
        )
    if key in seen:
        raise SlashingError(
            f"duplicate key {key!r}", code="evidence_duplicate_key", field="evidence"
        )
    seen.add(key)


def canonical_evidence(
    evidence: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """Return evidence as ``((key, value), ...)`` sorted by key: the form that is hashed.

    Keys are unique lower-case names (``[a-z0-9][a-z0-9_.-]*``, at most 64 chars), values
    strings of at most 4,096 chars; at least one and at most 64 items. Order of the input does
    not matter, so the same facts reported twice give the same digest.
    """
    items = list(evidence.items()) if isinstance(evidence, Mapping) else list(evidence)
    if not items:
        raise SlashingError(
            "at least one item is required", code="evidence_empty", field="evidence"
        )
    if len(items) > MAX_EVIDENCE_ITEMS:
        raise SlashingError(
            f"at most {MAX_EVIDENCE_ITEMS}", code="evidence_too_large", field="evidence"
        )
    seen: set[str] = set()
    for item in items:
        _check_item(item, seen)
    return tuple(sorted(items))


def evidence_digest(evidence: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """SHA-256 (lower-case hex) of the canonical evidence as compact ASCII JSON pairs."""
    return canonical_digest(canonical_evidence(evidence))


def canonical_digest(canonical: tuple[tuple[str, str], ...]) -> str:
    """:func:`evidence_digest` of evidence already in canonical form (not checked again)."""
    return sha256_json([[k, v] for k, v in canonical])


def violation_id(kind: str, node_id: str, infraction_epoch: int, digest: str) -> str:
    """The incident id: SHA-256 hex of ``[format, kind, node_id, epoch, evidence digest]``.

    Provider, severity and counts are deliberately not part of it: the same evidence about the
    same node and epoch is the same incident, however it is re-reported (one slash per
    incident). 64 hex chars, so it is also the ``bytes32`` slash id on chain.
    """
    return sha256_json([_VIOLATION_ID_FORMAT, kind, node_id, infraction_epoch, digest])


def penalty_id_of(violation_id_: str) -> str:
    """The penalty id of a violation: SHA-256 hex of ``[format, violation id]`` (one penalty per
    incident, and every transfer id of the slash is derived from it)."""
    return sha256_json([_PENALTY_ID_FORMAT, violation_id_])
