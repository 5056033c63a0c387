"""A fresh local anvil (Foundry's dev node, from the npm package) as a context manager.

Started with ``--prune-history`` (without it anvil keeps every state on disk and slows down) and
``--enable-tx-gas-limit`` (so the EIP-7825 per-transaction gas cap of mainnet applies), on a
free port of 127.0.0.1. Its default accounts are the well-known dev mnemonic's, unlocked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]
ANVIL_RELATIVE = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


def anvil_binary() -> Path:
    """The anvil executable: ``$ANVIL_BIN`` or the npm platform package of this checkout."""
    override = os.environ.get("ANVIL_BIN")
    path = Path(override) if override else REPO_ROOT / ANVIL_RELATIVE
    if not path.is_file():
        raise FileNotFoundError(
            f"anvil not found at {path}: run `npm ci` at the repository root (not with "
            "--omit=optional: the binary is in the optional platform package) or set ANVIL_BIN"
        )
    return path


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rpc_ready(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=0.5) as response:
            return "result" in json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return False


class Anvil:
    """``with Anvil() as node: Web3(Web3.HTTPProvider(node.url))``; stopped on exit."""

    def __init__(
        self,
        *,
        binary: Path | None = None,
        chain_id: int = 31337,
        block_time_s: float | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.binary = binary
        self.chain_id = chain_id
        self.block_time_s = block_time_s
        self.extra_args = extra_args
        self.startup_timeout_s = startup_timeout_s
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """HTTP JSON-RPC endpoint."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Anvil:
        """Start on a free port and return once it answers JSON-RPC (a few tries on a race)."""
        if self.running:
            return self
        binary = self.binary or anvil_binary()
        last_error = ""
        for _ in range(3):
            self.port = free_port()
            args = [
                str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--silent",
                "--prune-history", "--enable-tx-gas-limit", "--chain-id", str(self.chain_id),
            ]  # fmt: skip
            if self.block_time_s is not None:
                args += ["--block-time", str(self.block_time_s)]
            args += list(self.extra_args)
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + self.startup_timeout_s
            while time.monotonic() < deadline and process.poll() is None:
                if _rpc_ready(self.url):
                    self._process = process
                    return self
                time.sleep(0.01)
            if process.poll() is None:
                process.kill()
            _, err = process.communicate(timeout=5)
            last_error = err.decode(errors="replace").strip()
        raise RuntimeError(f"anvil did not start: {last_error or 'no answer on JSON-RPC'}")

    def stop(self) -> None:
        """Terminate the process (kill after 5 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
