"""What a module needs from another is declared in one place: its ``keepers.py``.

Outside ``keepers.py``, no file of a module imports another module's service, repository or
router (the import-linter contracts in pyproject.toml check direction and layering; this test
checks that cross-module use is declared once). Other modules' ``domain`` packages (values and
pure rules) and the ``kit`` toolbox may be imported anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "ledger"
MODULES = (
    "accounting",
    "registry",
    "telemetry",
    "staking",
    "rewards",
    "slashing",
    "epochs",
    "settlement",
)
#: Parts of a module that hold state or I/O: only keepers.py may reach into another module's.
STATEFUL_PARTS = {"service", "repository", "router", "keepers", "standing", "appeals"}
STATEFUL_PARTS |= {"redis_store", "schemas"}


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


def _crossings(module: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / module).rglob("*.py")):
        if path.name == "keepers.py":
            continue
        for name in _imported_modules(path):
            parts = name.split(".")
            crossing = len(parts) >= 3 and parts[0] == "ledger" and parts[1] in MODULES
            if crossing and parts[1] != module and parts[2] in STATEFUL_PARTS:
                bad.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    return bad


@pytest.mark.parametrize("module", MODULES)
def test_cross_module_dependencies_go_through_keepers(module: str) -> None:
    assert _crossings(module) == []


def test_the_check_sees_a_crossing(tmp_path: Path) -> None:
    # The scanner must be able to fail: a direct import of another module's service is found.
    sample = tmp_path / "x.py"
    sample.write_text("from ledger.accounting.service import create_transfers\n")
    names = _imported_modules(sample)
    assert "ledger.accounting.service.create_transfers" in names
    assert "ledger.accounting.service" in names
