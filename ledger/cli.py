"""The ``swarm-ledger`` command."""

from __future__ import annotations

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
    from ledger.db.migrate import upgrade

    rt = _runtime()
    upgrade(rt.database.url, revision)
    typer.echo(f"migrated to {revision}", err=True)


@app.command()
def api(
    host: str = typer.Option(None, help="bind address (default SWARM_API_HOST or 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default SWARM_API_PORT or 8000)"),
    migrate_first: bool = typer.Option(True, "--migrate/--no-migrate"),
) -> None:
    """Serve the HTTP API (provider earnings, governance, telemetry, public)."""
    import uvicorn

    from ledger.api.app import create_app
    from ledger.db.migrate import upgrade

    rt = _runtime()
    if migrate_first:
        upgrade(rt.database.url)
    uvicorn.run(
        create_app(rt),
        host=host or rt.settings.api_host,
        port=port or rt.settings.api_port,
        log_level="info",
    )


@app.command()
def demo(
    port: int = typer.Option(None, help="API port (default SWARM_API_PORT or 8000)"),
) -> None:
    """The main job on whatever servers are configured (embedded by default).

    Migrates the ledger, opens the system accounts, and serves the API.
    """
    import uvicorn

    from ledger.api.app import create_app
    from ledger.db.engine import transaction
    from ledger.db.migrate import upgrade
    from ledger.services.accounts import open_system_accounts

    rt = _runtime()
    upgrade(rt.database.url)
    with transaction(rt.engine) as conn:
        accounts = open_system_accounts(conn)
    typer.echo(f"system accounts: {', '.join(sorted(accounts))}", err=True)
    port = port or rt.settings.api_port
    typer.echo(f"API on http://{rt.settings.api_host}:{port}  (docs: /docs)", err=True)
    uvicorn.run(create_app(rt), host=rt.settings.api_host, port=port, log_level="info")


@app.command()
def verify() -> None:
    """Check the hash chain and every ledger invariant; non-zero exit names the first break."""
    from sqlalchemy import text

    from ledger.services.verify import verify_ledger

    rt = _runtime()
    with rt.engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        report = verify_ledger(conn)
    if report.ok:
        typer.echo(
            f"ok: {report.transfers} transfers, {report.accounts} accounts, "
            f"chain head seq {report.head_seq}"
        )
        return
    typer.echo(f"FAILED: {report.violations[0]}", err=True)
    for v in report.violations[1:20]:
        typer.echo(f"  also: {v}", err=True)
    raise typer.Exit(code=1)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app()


if __name__ == "__main__":
    main()
