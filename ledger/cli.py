"""The ``swarm-ledger`` command."""

from __future__ import annotations

import enum
import logging
import sys
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ledger.runtime import Runtime

app = typer.Typer(help="Swarm staking, rewards and slashing ledger.", no_args_is_help=True)


def _runtime() -> Runtime:  # imported lazily: `--help` must not start servers
    from ledger.runtime import build_runtime

    rt = build_runtime()
    typer.echo(rt.banner(), err=True)
    return rt


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
    defaults to the demo profile here (60 s epochs).
    """
    import os
    import secrets
    import subprocess
    import threading

    from ledger.accounting.service import open_system_accounts
    from ledger.api.app import create_app
    from ledger.kit.db import transaction
    from ledger.kit.migrate import upgrade
    from ledger.params.domain import params_for_profile

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
    env = {
        **os.environ, "DATABASE_URL": rt.database.url, "REDIS_URL": rt.redis.url,
        "SWARM_PARAMS": profile, "SWARM_OPERATOR_TOKEN": token,
        "SWARM_DATA_DIR": str(rt.settings.data_dir),
    }  # fmt: skip
    children = [
        subprocess.Popen(_celery_argv(CeleryProgram.WORKER), env=env),
        subprocess.Popen(_celery_argv(CeleryProgram.BEAT, str(rt.settings.data_dir)), env=env),
    ]
    stop = threading.Event()
    threading.Thread(
        target=_simulate_forever, args=(api_url, token, nodes, seed, rt.params, stop), daemon=True
    ).start()
    typer.echo(f"API on {api_url}  (docs: /docs)  operator token: {token}", err=True)
    try:
        _serve(create_app(rt), rt.settings.api_host, port, log_level="warning")
    finally:
        stop.set()
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)


def _serve(app_: object, host: str, port: int, log_level: str = "info") -> None:
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
    uvicorn.run(app_, host=host, port=port, log_level=log_level)  # type: ignore[arg-type]


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

    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", kind.value]
    argv += ["-l", "WARNING"]
    if kind is CeleryProgram.WORKER:
        # Solo pool: one process per worker; scale by running more workers (2 cores here).
        argv += ["-P", "solo", "--without-gossip", "--without-mingle"]
    else:
        argv += ["-s", f"{data_dir}/celerybeat-schedule"]
    return argv


def _simulate_forever(api_url: str, token: str, n: int, seed: int, params: object,
                      stop: object) -> None:  # fmt: skip
    """The demo's network: register the fleet, then one tick per heartbeat interval."""
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
        interval = params.telemetry.heartbeat_interval_s
        while not stop.is_set():
            beats = simulator.tick(fleet, int(time.time()), rng, params)
            outcome = simulator.send(client, beats)
            typer.echo(f"simulator: {sum(outcome.values())} heartbeats {dict(outcome)}", err=True)
            stop.wait(interval)


@app.command()
def worker() -> None:
    """Run a Celery worker (telemetry rollups, sweeps). Scale by running more of them."""
    import os

    _runtime()
    argv = _celery_argv(CeleryProgram.WORKER)
    os.execv(argv[0], argv)


@app.command()
def beat() -> None:
    """Run Celery beat (the periodic sweeps)."""
    import os

    rt = _runtime()
    argv = _celery_argv(CeleryProgram.BEAT, str(rt.settings.data_dir))
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
    from ledger.kit.db import snapshot

    rt = _runtime()
    with snapshot(rt.engine) as conn:
        report = verify_ledger(conn)
    if report.ok:
        typer.echo(
            f"ok: {report.transfers} transfers, {report.accounts} accounts, "
            f"chain head seq {report.head_seq}"
        )
        return
    typer.echo(f"FAILED: {report.breaches[0]}", err=True)
    for b in report.breaches[1:20]:
        typer.echo(f"  also: {b}", err=True)
    raise typer.Exit(code=1)


@verify_app.command("epoch")
def verify_epoch(epoch: int = typer.Argument(..., help="epoch number")) -> None:
    """Recompute a closed epoch from raw heartbeats and the ledger; exit 1 on any difference."""
    from ledger.epochs.service import verify_epoch as check
    from ledger.kit.db import snapshot

    rt = _runtime()
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

    rt = _runtime()
    with transaction(rt.engine) as conn:
        res = close_epoch(conn, epoch, now=dt.datetime.now(dt.UTC), params=rt.params)
    e = res.epoch
    state = "closed" if res.closed_now else "already closed"
    typer.echo(
        f"epoch {epoch} {state}: pool {format_swarm(e.pool_base_units)} SWARM, "
        f"{e.eligible_nodes}/{e.node_count} nodes eligible, root 0x{e.merkle_root.hex()}"
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app()


if __name__ == "__main__":
    main()
