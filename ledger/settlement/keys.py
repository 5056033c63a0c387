"""Signing keys of the settlement roles, from encrypted keystores (never logged, never in a URL
or a command line): eth-account's keystore JSON, the passphrase from a file or the environment.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.kit.config import Settings
from ledger.kit.errors import InvalidInput


def passphrase(settings: Settings) -> str:
    """The keystores' passphrase: the file's first line, else SWARM_KEYSTORE_PASSWORD."""
    if settings.keystore_password_file is not None:
        lines = settings.keystore_password_file.read_text().splitlines()
        return lines[0] if lines else ""
    if settings.keystore_password is not None:
        return settings.keystore_password.get_secret_value()
    raise InvalidInput(
        "SWARM_KEYSTORE_PASSWORD_FILE or SWARM_KEYSTORE_PASSWORD: needed to open the keystores",
        field="keystore_password",
    )


def load_keystore(path: Path, password: str) -> LocalAccount:
    """The key in an encrypted keystore file (a wrong passphrase is refused, naming the file
    and nothing else)."""
    try:
        key = Account.decrypt(json.loads(path.read_text()), password)
    except ValueError:
        raise InvalidInput(f"keystore {path}: wrong passphrase or not a keystore",
                           field="keystore") from None  # fmt: skip
    account: LocalAccount = Account.from_key(key)
    return account


def write_keystore(path: Path, account: LocalAccount, password: str) -> None:
    """Encrypt ``account`` into ``path`` (mode 0600): what the demo does for its dev keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(Account.encrypt(account.key, password)))
    path.chmod(0o600)
