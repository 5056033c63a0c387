"""The ``swarm-ledger`` command."""

from __future__ import annotations

import enum
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from ledger.epochs.bundle import ChainProvenance
    from ledger.runtime import Runtime

app = typer.Typer(
    help="Swarm staking, rewards and slashing ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

#: Exit codes: 1 a check failed (verify), 2 the command was refused (bad input, wrong state),
#: 3 a server is unavailable, 4 an unexpected failure (SWARM_DEBUG=1 shows the traceback).
EXIT_REFUSED = 2
EXIT_UNAVAILABLE = 3
EXIT_UNEXPECTED = 4


class CliError(Exception):
    """A one-line refusal of the CLI itself (exit code 2)."""


def _runtime(*, existing: bool = False) -> Runtime:  # imported lazily: `--help` must not start
    """The runtime, its banner on stderr. ``existing``: the command only works on a ledger that
    is there already, so an embedded data directory is never created for it."""
    from ledger.kit.config import get_settings
    from ledger.kit.embedded import has_embedded_data
    from ledger.runtime import build_runtime

    settings = get_settings()
    if existing and not settings.database_url and not has_embedded_data(settings.data_dir):
        raise CliError(
            f"no ledger in {settings.data_dir.resolve()}: run this where `swarm-ledger demo` "
            "ran, or set SWARM_DATA_DIR (or DATABASE_URL) to the ledger to use"
        )
    rt = build_runtime(settings)
    typer.echo(rt.banner(), err=True)
    return rt


def _iso(ts_s: int) -> str:
    """A Unix time as an ISO date (UTC), for people."""
    import datetime as dt

    return (
        dt.datetime.fromtimestamp(ts_s, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


@app.command()
def migrate(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Bring the database schema up to date (runs as the owning role, not the app role)."""
    from ledger.kit.migrate import upgrade

    rt = _runtime()
    upgrade(rt.database.url, revision)
    typer.echo(f"migrated to {revision}", err=True)


@app.command()
def api(
    host: str = typer.Option(None, help="bind address (default SWARM_API_HOST or 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default SWARM_API_PORT or 8000)"),
    migrate_first: bool = typer.Option(True, "--migrate/--no-migrate"),
    workers: int = typer.Option(1, help="API processes (each verifies signatures on a core)"),
) -> None:
    """Serve the HTTP API (provider earnings, governance, telemetry, public)."""

    from ledger.api.app import create_app
    from ledger.kit.migrate import upgrade

    rt = _runtime()
    if migrate_first:
        upgrade(rt.database.url)
    _prepare(rt)
    if workers > 1:
        # Several processes need an import string; each builds its runtime from the same env
        # (embedded servers are shared through the data directory).
        import os
        import signal
        import sys

        import uvicorn

        os.environ.setdefault("DATABASE_URL", rt.database.url)
        os.environ.setdefault("REDIS_URL", rt.redis.url)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        uvicorn.run("ledger.api.app:create_app", factory=True, workers=workers,
                    host=host or rt.settings.api_host, port=port or rt.settings.api_port,
                    log_level="warning")  # fmt: skip
        return
    _serve(create_app(rt), host or rt.settings.api_host, port or rt.settings.api_port)


@app.command()
def demo(
    port: int = typer.Option(None, help="API port (default SWARM_API_PORT or 8000)"),
    nodes: int = typer.Option(27, help="simulated nodes (all nine provider types)"),
    seed: int = typer.Option(1, help="simulator seed"),
) -> None:
    """The main job on whatever servers are configured (embedded by default).

    Migrates, opens the system accounts, starts a Celery worker and beat, serves the API, and
    runs a simulated network of nodes that send signed heartbeats every interval. SWARM_PARAMS
    defaults to the demo profile here (60 s epochs). It supervises its children: one that dies
    is reported at once and restarted, and after too many restarts the demo stops non-zero.
    A second run on the same data directory continues where the first stopped.
    """
    import os
    import secrets

    from ledger.accounting.service import open_system_accounts
    from ledger.api.app import create_app
    from ledger.kit.db import transaction
    from ledger.kit.migrate import upgrade
    from ledger.params.domain import params_for_profile
    from ledger.supervisor import Supervisor

    rt = _runtime()
    profile = os.environ.get("SWARM_PARAMS", "demo")
    rt.params = params_for_profile(profile)
    token = rt.settings.operator_token or secrets.token_urlsafe(16)
    rt.settings = rt.settings.model_copy(update={"operator_token": token})
    upgrade(rt.database.url)
    _prepare(rt)
    with transaction(rt.engine) as conn:
        accounts = open_system_accounts(conn)
    typer.echo(f"system accounts: {', '.join(sorted(accounts))}", err=True)
    port = port or rt.settings.api_port
    api_url = f"http://{rt.settings.api_host}:{port}"
    data_dir = rt.settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ, "DATABASE_URL": rt.database.url, "REDIS_URL": rt.redis.url,
        "SWARM_PARAMS": profile, "SWARM_OPERATOR_TOKEN": token, "SWARM_DATA_DIR": str(data_dir),
        "SWARM_SERVERS_EMBEDDED": "1" if rt.database.source == "embedded" else "0",
    }  # fmt: skip
    dev_chain = _demo_chain(rt, data_dir, env, _demo_providers(nodes, seed, rt.params))
    sup = Supervisor(say=lambda line: typer.echo(f"demo: {line}", err=True))
    sup.add_process("worker", _celery_argv(CeleryProgram.WORKER), env)
    sup.add_process("beat", _celery_argv(CeleryProgram.BEAT, str(data_dir)), env)
    sup.add_thread("simulator", lambda stop: _simulate_forever(api_url, token, nodes, seed,
                                                                rt.params, stop))  # fmt: skip
    sup.add_thread("epoch reporter", lambda stop: _report_epochs(rt, api_url, stop))
    if "CHAIN_RPC_URL" in env:
        sup.add_thread("settlement reporter", lambda stop: _report_settlement(rt, stop))
    if dev_chain is not None:
        keys = _demo_providers(nodes, seed, rt.params)

        def chain_providers(stop: object) -> None:
            _chain_providers_forever(api_url, dev_chain, keys, stop)

        sup.add_thread("chain providers", chain_providers)
    typer.echo(_demo_intro(api_url, token, rt, data_dir), err=True)
    sup.start()
    try:
        _serve(create_app(rt), rt.settings.api_host, port, log_level="warning",
               on_exit=sup.api_stopped)  # fmt: skip
    except SystemExit:
        if not sup.failure:
            raise
    finally:
        sup.stop()
        if dev_chain is not None:
            dev_chain.stop()
    if sup.failure:
        typer.echo(f"demo: stopped because {sup.failure}", err=True)
        raise typer.Exit(code=1)


def _demo_providers(nodes: int, seed: int, params: object) -> dict[str, tuple[bytes, int]]:
    """The simulated providers: address -> (its key, the stake its nodes require)."""
    from ledger import simulator
    from ledger.params.domain import ParameterSet

    assert isinstance(params, ParameterSet)
    fleet = simulator.make_fleet(nodes, seed=seed, params=params)
    required: dict[str, int] = {}
    for n in fleet:
        required[n.provider_id] = (
            required.get(n.provider_id, 0) + simulator.STAKE_PER_NODE_BASE_UNITS
        )
    keys = simulator.provider_keys(fleet, seed)
    return {p: (keys[p], amount) for p, amount in required.items()}


def _chain_providers_forever(api_url: str, chain: Any, providers: dict[str, tuple[bytes, int]],
                             stop: object) -> None:  # fmt: skip
    """The simulated providers on the demo chain, every 10 s: each claims what its latest root
    on chain lets it; the first also unstakes a little once and withdraws it when it may."""
    import threading

    from ledger import simulator
    from ledger.settlement import devchain

    assert isinstance(stop, threading.Event)
    w3 = chain.web3()
    first = min(providers)
    with simulator.client_for(api_url) as client:
        while not stop.wait(10.0):
            for address, (key, _) in sorted(providers.items()):
                r = client.get(f"/v1/providers/{address}/rewards")
                if r.status_code != 200:
                    continue
                try:
                    lines = devchain.provider_step(w3, chain.deployment, address, key, r.json(),
                                                   unstaker=address == first)  # fmt: skip
                except Exception as exc:  # a refused transaction: said, tried again next time
                    lines = [f"chain: provider {address}: {type(exc).__name__}: {exc}"[:300]]
                for line in lines:
                    typer.echo(line, err=True)


def _demo_chain(
    rt: Runtime, data_dir: Path, env: dict[str, str], providers: dict[str, tuple[bytes, int]]
) -> Any:
    """Settlement for the demo: CHAIN_RPC_URL if set (its deployment and keystores come from
    the settings), else a local anvil with the contracts deployed once (its env added), where
    the simulated providers stake with their own keys; the API then takes stake from the
    chain (chain mode)."""
    from ledger.settlement import devchain

    def say(line: str) -> None:
        typer.echo(f"demo: {line}", err=True)

    if rt.settings.chain_rpc_url:
        say(f"settlement on CHAIN_RPC_URL ({rt.settings.chain_rpc_url})")
        return None
    chain = devchain.start(data_dir, say, providers)
    if chain is None:
        env.pop("CHAIN_RPC_URL", None)
        return None
    env.update(chain.env)
    rt.settings = rt.settings.model_copy(update={"chain_rpc_url": chain.anvil.url})
    d = chain.deployment
    say(f"chain: anvil on {chain.anvil.url}; {chain.note}; distributor {d.distributor}, "
        f"vault {d.vault}; roots post once rewards mature, final 64 blocks later")  # fmt: skip
    return chain


def _report_settlement(rt: Runtime, stop: object) -> None:
    """The demo's settlement lines: each root or slash batch included, final or failed."""
    from ledger.settlement.service import settlement_lines

    _follow(rt, stop, 0, settlement_lines)


def _follow(rt: Runtime, stop: object, start: int, lines_after: Any) -> None:
    """Print, every 2 s until ``stop``, the lines ``lines_after(conn, last)`` gives as
    ``(key, line)`` pairs past the last key printed; what earlier runs already reported (all
    there is when the demo starts) is skipped."""
    import threading

    assert isinstance(stop, threading.Event)
    last = start
    with rt.engine.connect() as conn:
        while batch := lines_after(conn, last):
            last = batch[-1][0]
    while not stop.wait(2.0):
        with rt.engine.connect() as conn:
            batch = lines_after(conn, last)
        for key, line in batch:
            typer.echo(line, err=True)
            last = key


def _demo_intro(api_url: str, token: str, rt: Runtime, data_dir: object) -> str:
    length = rt.params.epoch.epoch_length_s
    return (
        f"API on {api_url}  (docs: {api_url}/docs)  operator token: {token}\n"
        f"data directory: {data_dir} (a second run here continues this ledger)\n"
        f"epochs: epoch N covers Unix time N*{length} to (N+1)*{length} (every {length} s); "
        "each closes once settled, then is judged for violations; a line per closed epoch "
        f"follows. Details: {api_url}/v1/epochs/N, a node's receipts: "
        f"{api_url}/v1/nodes/<node_id>/receipts; undecodable messages: "
        "`swarm-ledger dead-letters`."
    )


def _report_epochs(rt: Runtime, api_url: str, stop: object) -> None:
    """The demo's live line: one per epoch closed and evaluated since the demo started."""
    from ledger.epochs.service import evaluated_epochs_after
    from ledger.kit.money import format_swarm
    from ledger.params.domain.epochs import epoch_start_s

    def lines_after(conn: Any, last: int) -> list[tuple[int, str]]:
        return [
            (e.epoch,
             f"epoch {e.epoch} ({_iso(epoch_start_s(e.epoch, rt.params))}) closed: pool "
             f"{format_swarm(e.pool_base_units)} SWARM, {e.nodes_paid}/{e.node_count} nodes "
             f"paid, {e.violations} violations, {e.penalties} penalties, root "
             f"0x{e.root.hex()[:16]}...  {api_url}/v1/epochs/{e.epoch}")
            for e in evaluated_epochs_after(conn, last)
        ]  # fmt: skip

    _follow(rt, stop, -1, lines_after)


def _serve(app_: object, host: str, port: int, log_level: str = "info",
           on_exit: object = None) -> None:  # fmt: skip
    """uvicorn, with SIGTERM ending the process through normal exit.

    uvicorn re-raises the signal it caught once it has shut down; with Python's default
    handler that kills the process before ``finally`` blocks and atexit run, leaving the
    embedded PostgreSQL and child workers behind. A handler that raises SystemExit lets
    them all stop cleanly.
    """
    import signal
    import sys

    import uvicorn

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(app_, host=host, port=port, log_level=log_level)  # type: ignore[arg-type]
    finally:
        if callable(on_exit):
            on_exit()


def _prepare(rt: Runtime) -> None:
    """Start-up chores: heartbeat partitions for today and the next days."""
    import datetime as dt

    from ledger.kit.db import transaction
    from ledger.telemetry.service import ensure_partitions

    with transaction(rt.engine) as conn:
        ensure_partitions(conn, dt.datetime.now(dt.UTC))


class CeleryProgram(enum.StrEnum):
    """The Celery programs the service runs."""

    WORKER = "worker"  # runs the tasks
    BEAT = "beat"  # enqueues the periodic ones


def _celery_argv(kind: CeleryProgram, data_dir: str = ".") -> list[str]:
    import sys

    from ledger.kit.limits import WORKER_CONCURRENCY
    from ledger.kit.queue import QUEUE, SETTLEMENT_QUEUE

    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", kind.value]
    argv += ["-l", "WARNING"]
    if kind is CeleryProgram.WORKER:
        # Prefork: the only Celery 5.7 pool that enforces time limits (solo and threads
        # enforce none). One process per worker; scale by running more workers.
        queues = f"{QUEUE},{SETTLEMENT_QUEUE}"  # the demo's one worker runs settlement too
        argv += ["-P", "prefork", "-c", str(WORKER_CONCURRENCY), "-Q", queues]
        argv += ["--without-gossip", "--without-mingle"]
    else:
        argv += ["-s", f"{data_dir}/celerybeat-schedule"]
    return argv


def _simulate_forever(api_url: str, token: str, n: int, seed: int, params: object,
                      stop: object) -> None:  # fmt: skip
    """The demo's network: register the fleet (again, on a second run: idempotent), then one
    tick per heartbeat interval. A failure raises: the supervisor reports and restarts it."""
    import random
    import threading
    import time

    from ledger import simulator
    from ledger.params.domain import ParameterSet

    assert isinstance(params, ParameterSet) and isinstance(stop, threading.Event)
    fleet = simulator.make_fleet(n, seed=seed, params=params)
    rng = random.Random(seed)
    with simulator.client_for(api_url) as client:
        for _ in range(100):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        simulator.register(client, token, fleet, params)
        simulator.resume(fleet, int(time.time()))
        interval = params.telemetry.heartbeat_interval_s
        while not stop.is_set():
            beats = simulator.tick(fleet, int(time.time()), rng, params)
            outcome = simulator.send(client, beats)
            typer.echo(f"simulator: {sum(outcome.values())} heartbeats {dict(outcome)}", err=True)
            stop.wait(interval)


@app.command()
def worker(
    queues: str = typer.Option("celery", "--queues", help="comma-separated queues to consume"),
) -> None:
    """Run a Celery worker (rollups, closes, evaluations, sweeps). Scale by running more."""
    import os

    _runtime()
    argv = _celery_argv(CeleryProgram.WORKER)
    argv[argv.index("-Q") + 1] = queues
    os.execv(argv[0], argv)


@app.command()
def beat() -> None:
    """Run Celery beat (the periodic sweeps)."""
    import os

    rt = _runtime()
    # Beat keeps its schedule in the data directory: create it (a fresh deployment with
    # DATABASE_URL / REDIS_URL set has none, and beat would crash on the missing file).
    data_dir = rt.settings.data_dir.resolve()
    if not data_dir.is_dir():
        data_dir.mkdir(parents=True)
        typer.echo(f"created {data_dir} for beat's schedule", err=True)
    argv = _celery_argv(CeleryProgram.BEAT, str(data_dir))
    os.execv(argv[0], argv)


@app.command()
def simulate(
    api: str = typer.Option("http://127.0.0.1:8000", help="API base URL"),
    token: str = typer.Option(..., envvar="SWARM_OPERATOR_TOKEN", help="operator token"),
    nodes: int = typer.Option(50),
    ticks: int = typer.Option(5, help="heartbeat intervals to simulate"),
    seed: int = typer.Option(1),
    realtime: bool = typer.Option(False, help="wait one interval between ticks"),
    profile: str = typer.Option("default", envvar="SWARM_PARAMS", help="params profile"),
) -> None:
    """Register a simulated fleet and send its signed heartbeats to a running API."""
    import random
    import time

    from ledger import simulator
    from ledger.params.domain import params_for_profile

    params = params_for_profile(profile)
    fleet = simulator.make_fleet(nodes, seed=seed, params=params)
    rng = random.Random(seed)
    with simulator.client_for(api) as client:
        simulator.register(client, token, fleet, params)
        simulator.resume(fleet, int(time.time()))
        for _ in range(ticks):
            outcome = simulator.send(client, simulator.tick(fleet, int(time.time()), rng, params))
            typer.echo(dict(outcome))
            if realtime:
                time.sleep(params.telemetry.heartbeat_interval_s)


verify_app = typer.Typer(help="Independent checks of the ledger and of closed epochs.")
app.add_typer(verify_app, name="verify")
epoch_app = typer.Typer(help="Reward epochs.", no_args_is_help=True)
app.add_typer(epoch_app, name="epoch")


@verify_app.callback(invoke_without_command=True)
def verify(ctx: typer.Context) -> None:
    """Check the hash chain and every ledger invariant; non-zero exit names the first break."""
    if ctx.invoked_subcommand is not None:
        return
    from ledger.accounting.service import verify_ledger
    from ledger.epochs.service import verify_leaves
    from ledger.kit.db import snapshot

    rt = _runtime(existing=True)
    with snapshot(rt.engine) as conn:
        report = verify_ledger(conn)
        # The claimable-leaf invariants (SPEC 4.7) over every root.
        leaves = verify_leaves(conn)
    breaches = [str(b) for b in report.breaches] + leaves
    if not breaches:
        typer.echo(
            f"ok: {report.transfers} transfers, {report.accounts} accounts, "
            f"chain head seq {report.head_seq}, claimable leaves consistent"
        )
        return
    typer.echo(f"FAILED: {breaches[0]}", err=True)
    for b in breaches[1:20]:
        typer.echo(f"  also: {b}", err=True)
    raise typer.Exit(code=1)


@verify_app.command("epoch")
def verify_epoch(epoch: int = typer.Argument(..., help="epoch number")) -> None:
    """Recompute a closed epoch from raw heartbeats and the ledger; exit 1 on any difference."""
    from ledger.epochs.service import verify_epoch as check
    from ledger.kit.db import snapshot

    rt = _runtime(existing=True)
    with snapshot(rt.engine) as conn:
        result = check(conn, epoch, params=rt.params)
    if result.ok:
        typer.echo(f"ok: epoch {epoch} recomputed from raw heartbeats matches")
        return
    typer.echo(f"FAILED: epoch {epoch}: {result.differences[0]}", err=True)
    for d in result.differences[1:20]:
        typer.echo(f"  also: {d}", err=True)
    raise typer.Exit(code=1)


@epoch_app.command("close")
def epoch_close(epoch: int = typer.Argument(..., help="epoch number")) -> None:
    """Close a settled epoch now (idempotent)."""
    import datetime as dt

    from ledger.epochs.service import close_epoch
    from ledger.kit.db import transaction
    from ledger.kit.money import format_swarm
    from ledger.params.domain.epochs import epoch_start_s

    rt = _runtime(existing=True)
    with transaction(rt.engine) as conn:
        res = close_epoch(conn, epoch, now=dt.datetime.now(dt.UTC), params=rt.params)
    e = res.epoch
    state = "closed" if res.closed_now else "already closed"
    start = epoch_start_s(epoch, rt.params)
    typer.echo(
        f"epoch {epoch} ({_iso(start)} to {_iso(start + rt.params.epoch.epoch_length_s)}) "
        f"{state}: pool {format_swarm(e.pool_base_units)} SWARM, "
        f"{e.eligible_nodes}/{e.node_count} nodes eligible, root 0x{e.merkle_root.hex()}"
    )


export_app = typer.Typer(help="Export closed epochs for independent checking.",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(export_app, name="export")


@export_app.command("epoch")
def export_epoch(
    epoch: int = typer.Argument(..., help="epoch number (closed)"),
    out: str = typer.Option(None, "--out", help="file to write (default epoch-N.bundle.json)"),
) -> None:
    """Write the self-contained bundle of a closed epoch (docs/epochs.md, "Checking a root")."""
    from pathlib import Path

    from ledger.epochs.bundle import build_bundle, bundle_bytes, bundle_digest
    from ledger.kit.db import snapshot

    rt = _runtime(existing=True)
    with snapshot(rt.engine) as conn:
        bundle = build_bundle(conn, epoch)
    raw = bundle_bytes(bundle)
    path = Path(out or f"epoch-{epoch}.bundle.json")
    path.write_bytes(raw)
    typer.echo(
        f"wrote {path}: epoch {epoch}, {len(bundle['nodes'])} nodes, {bundle['leaf_count']} "
        f"leaves, root {bundle['root']}, inputs digest {bundle['inputs_digest']}, "
        f"bundle digest sha256:{bundle_digest(raw)}"
    )


def _chain_record(rpc: str, distributor: str, epoch: int) -> tuple[bytes, ChainProvenance | None]:
    """``RewardsDistributor.epochRoot(epoch).root`` (32 zero bytes: none posted), and the
    provenance of the epoch's latest ``RootPosted`` event (None: none found)."""
    from web3 import Web3

    from ledger.chain.contracts import contract_at
    from ledger.epochs.bundle import ChainProvenance
    from ledger.kit.errors import Unavailable

    if not Web3.is_address(distributor):
        raise CliError(f"--distributor {distributor!r} is not an address")
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 10}))
    try:
        contract = contract_at(w3, "RewardsDistributor", distributor)
        record = contract.functions.epochRoot(epoch).call()
        logs = []
        if bytes(record[0]) != bytes(32):
            logs = contract.events.RootPosted.get_logs(
                from_block=0, argument_filters={"epoch": epoch}
            )
    except Exception as exc:  # the node is down, or no distributor at that address
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise Unavailable(f"cannot read epochRoot({epoch}) from {rpc}: {first}") from None
    if not logs:
        return bytes(record[0]), None
    event = logs[-1]["args"]
    provenance = ChainProvenance(
        bytes(event["inputsDigest"]).hex(), bytes(event["paramsHash"]).hex(),
        int(event["calculatorVersion"]),
    )  # fmt: skip
    return bytes(record[0]), provenance


@verify_app.command("bundle")
def verify_bundle_file(
    file: str = typer.Argument(..., help="a bundle written by `swarm-ledger export epoch`"),
    rpc: str = typer.Option(None, "--rpc", help="JSON-RPC URL to compare the root on chain"),
    distributor: str = typer.Option(None, "--distributor", help="RewardsDistributor address"),
) -> None:
    """Recompute an epoch's rewards and root from a bundle alone (no database); exit 1 names
    the first mismatch."""
    from pathlib import Path

    from ledger.epochs.bundle import (
        BundleError,
        Check,
        bundle_bytes,
        bundle_digest,
        parse_bundle,
        verify_bundle,
    )

    if (rpc is None) != (distributor is None):
        raise CliError("--rpc and --distributor go together")
    try:
        raw = Path(file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}") from None
    try:
        bundle = parse_bundle(raw)
    except BundleError as exc:
        typer.echo(f"FAILED: format: {exc}", err=True)
        raise typer.Exit(code=1) from None
    epoch = bundle.get("epoch")
    chain_root, provenance = None, None
    if rpc is not None and isinstance(epoch, int) and not isinstance(epoch, bool):
        chain_root, provenance = _chain_record(rpc, distributor, epoch)
    canonical = bundle_bytes(bundle) == raw
    checks = [Check("canonical", canonical, "the file is in canonical form" if canonical else
                    "the file is not in canonical form (re-serialised it differs)")]  # fmt: skip
    checks += verify_bundle(bundle, chain_root=chain_root, chain_provenance=provenance)
    typer.echo(f"bundle {file}: epoch {epoch}, bundle digest sha256:{bundle_digest(raw)}")
    for c in checks:
        mark = "--  " if c.ok is None else "ok  " if c.ok else "FAIL"
        typer.echo(f"{mark} {c.name}: {c.detail}")
    failed = [c for c in checks if c.ok is False]
    if failed:
        typer.echo(f"FAILED: {failed[0].name}: {failed[0].detail}", err=True)
        raise typer.Exit(code=1)
    passed = sum(1 for c in checks if c.ok)
    typer.echo(f"ok: epoch {epoch}: {passed} checks passed")


@app.command("dead-letters")
def dead_letters(limit: int = typer.Option(20, min=1, max=1_000, help="newest letters")) -> None:
    """List the messages the workers could not decode or run (newest first)."""
    from ledger.kit.queue import read_dead_letters

    rt = _runtime(existing=True)
    letters = read_dead_letters(rt.redis_client, limit)
    for letter in letters:
        raw = letter["raw"][:120].decode("utf-8", "replace")
        typer.echo(f"{letter['at']} {letter['task'] or '-'}: {letter['reason']}  raw={raw!r}")
    typer.echo(f"{len(letters)} dead letters shown", err=True)


def main() -> None:
    """The entry point: every failure is one line on stderr and an exit code."""
    import os

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # one line, never a traceback (unless asked for)
        if os.environ.get("SWARM_DEBUG"):
            raise
        code, line = _explain(exc)
        typer.echo(f"error: {line}", err=True)
        raise SystemExit(code) from None


def _explain(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line that explain a failure."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from ledger.kit.errors import ErrorKind, SwarmError

    if isinstance(exc, CliError):
        return EXIT_REFUSED, str(exc)
    if isinstance(exc, SwarmError):
        code = EXIT_UNAVAILABLE if exc.error_kind is ErrorKind.UNAVAILABLE else EXIT_REFUSED
        return code, f"{exc.message} [{exc.code}]"
    import redis

    if isinstance(exc, OperationalError | ConnectionError | redis.ConnectionError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return EXIT_UNAVAILABLE, f"a server is unavailable: {first}"
    if isinstance(exc, DBAPIError):
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return EXIT_UNEXPECTED, f"database refused the command: {first}"
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    return EXIT_UNEXPECTED, f"{type(exc).__name__}: {detail} (SWARM_DEBUG=1 for the traceback)"


if __name__ == "__main__":
    main()
