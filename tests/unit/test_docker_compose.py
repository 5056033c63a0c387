"""docker-compose.yml and the Dockerfile stay consistent with the code they deploy.

No Docker engine is needed: the files are parsed and checked against the CLI (the commands the
containers run must exist), the settings (ports, hosts) and each other (service names, volumes,
dependency conditions).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from ledger.cli import app as cli_app
from ledger.kit.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
CLI_NAME = "swarm-ledger"
#: Every condition the Compose specification allows under depends_on.
COMPOSE_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    assert isinstance(data.get("services"), dict) and data["services"], "no services"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def cli_commands() -> dict[str, Any]:
    """Subcommand name -> command object, as typer registers them (it vendors its own click)."""
    commands = getattr(typer.main.get_command(cli_app), "commands", None)
    assert isinstance(commands, dict) and commands, "ledger.cli.app registers no subcommand"
    return dict(commands)


def depends_on(svc: dict[str, Any]) -> dict[str, str]:
    """depends_on in either syntax, as target -> condition (the short list means "started")."""
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    assert isinstance(deps, dict), deps
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def argv(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Services running the project's image: built here, or the image a built service tags."""
    built_images = {s["image"] for s in services.values() if "build" in s and "image" in s}
    return {
        name: s for name, s in services.items() if "build" in s or s.get("image") in built_images
    }


def service_by_image(services: dict[str, dict[str, Any]], prefix: str) -> str:
    names = [n for n, s in services.items() if str(s.get("image", "")).startswith(prefix + ":")]
    assert len(names) == 1, f"expected one {prefix} service, found {names}"
    return names[0]


def check_cli_argv(args: list[str], commands: dict[str, Any]) -> None:
    """``swarm-ledger <real subcommand> [real options]``."""
    assert args, "no command"
    assert args[0] == CLI_NAME, f"{args}: not the {CLI_NAME} CLI"
    assert len(args) >= 2, f"{args}: no subcommand"
    assert args[1] in commands, f"{args[1]!r} is not a subcommand; have {sorted(commands)}"
    known: set[str] = set()
    for p in commands[args[1]].params:
        if p.param_type_name == "option":
            known |= set(p.opts) | set(p.secondary_opts)
    for a in args[2:]:
        if a.startswith("-"):
            assert a.split("=", 1)[0] in known, f"{a!r} is not an option of {args[1]}: {known}"


# --- compose: structure -------------------------------------------------------------------


def test_compose_has_the_required_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgres", "redis", "migrate", "api", "worker", "beat"} <= set(services)


def test_every_service_has_image_or_build(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, f"{name}: neither image nor build"


def test_build_contexts_exist_and_hold_a_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        build = svc.get("build")
        if build is None:
            continue
        ctx = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (ROOT / ctx).is_dir(), f"{name}: build context {ctx} missing"
        assert (ROOT / ctx / dockerfile).is_file(), f"{name}: {dockerfile} missing"


def test_depends_on_targets_exist_with_valid_conditions(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in services.items():
        for target, condition in depends_on(svc).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            assert target != name, f"{name} depends on itself"
            assert condition in COMPOSE_CONDITIONS, f"{name} -> {target}: bad {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                # A one-shot job restarted by policy never "completes"; the dependant would hang.
                assert str(services[target].get("restart", "no")) == "no", target


def test_depends_on_has_no_cycle(services: dict[str, dict[str, Any]]) -> None:
    graph = {name: set(depends_on(svc)) for name, svc in services.items()}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"dependency cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for nxt in graph.get(node, ()):
            visit(nxt, (*path, node))
        done.add(node)

    for name in graph:
        visit(name, ())


def test_startup_order(services: dict[str, dict[str, Any]]) -> None:
    pg = service_by_image(services, "postgres")
    rd = service_by_image(services, "redis")
    assert depends_on(services["migrate"]).get(pg) == "service_healthy"
    api_deps = depends_on(services["api"])
    assert api_deps.get("migrate") == "service_completed_successfully"
    assert api_deps.get(rd) == "service_healthy"
    assert str(services["migrate"].get("restart")) == "no"


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    pg = service_by_image(services, "postgres")
    rd = service_by_image(services, "redis")
    assert "pg_isready" in " ".join(argv(services[pg]["healthcheck"]["test"]))
    assert argv(services[rd]["healthcheck"]["test"])[-2:] == ["redis-cli", "ping"]
    api_check = " ".join(argv(services["api"]["healthcheck"]["test"]))
    assert "/healthz" in api_check and "urllib" in api_check
    port = Settings.model_fields["api_port"].default
    assert f":{port}/healthz" in api_check


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    used: set[str] = set()
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes") or []:
            if isinstance(vol, dict):
                if vol.get("type", "volume") == "volume" and vol.get("source"):
                    used.add(vol["source"])
                continue
            source = str(vol).split(":", 1)[0]
            if ":" in str(vol) and not source.startswith((".", "/", "~", "$")):
                used.add(source)
        assert all(isinstance(v, str | dict) for v in svc.get("volumes") or []), name
    assert used, "postgres data must live in a named volume"
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"
    pg = service_by_image(compose["services"], "postgres")
    pg_vols = [str(v) for v in compose["services"][pg].get("volumes") or []]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg_vols), pg_vols


# --- compose: the app services ------------------------------------------------------------


def test_app_services_run_real_cli_commands(
    services: dict[str, dict[str, Any]], cli_commands: dict[str, Any]
) -> None:
    apps = app_services(services)
    assert {"migrate", "api", "worker", "beat"} <= set(apps)
    for svc in apps.values():
        check_cli_argv(argv(svc.get("command")), cli_commands)
    assert argv(services["migrate"]["command"])[1] == "migrate"
    api_argv = argv(services["api"]["command"])
    assert api_argv[1] == "api"
    # Migrations run once in `migrate`; the API replicas must not race to run them again.
    assert "--no-migrate" in api_argv


def test_app_urls_point_at_the_compose_services(services: dict[str, dict[str, Any]]) -> None:
    pg = service_by_image(services, "postgres")
    rd = service_by_image(services, "redis")
    pg_env = environment(services[pg])
    for name, svc in app_services(services).items():
        env = environment(svc)
        db = urlsplit(env["DATABASE_URL"])
        assert db.scheme in {"postgresql", "postgres", "postgresql+psycopg"}, name
        assert db.hostname == pg, f"{name}: DATABASE_URL host {db.hostname!r} is not {pg!r}"
        assert db.port in (None, 5432)
        assert db.username == pg_env["POSTGRES_USER"]
        assert db.password == pg_env["POSTGRES_PASSWORD"]
        assert db.path.lstrip("/") == pg_env.get("POSTGRES_DB", pg_env["POSTGRES_USER"])
        redis_url = urlsplit(env["REDIS_URL"])
        assert redis_url.scheme == "redis"
        assert redis_url.hostname == rd, f"{name}: REDIS_URL host {redis_url.hostname!r}"
        assert redis_url.port in (None, 6379)
        # Bound to 127.0.0.1 inside a container, the API would be unreachable from outside it.
        assert env.get("SWARM_API_HOST") == "0.0.0.0", name


def test_api_port_is_published(services: dict[str, dict[str, Any]]) -> None:
    port = Settings.model_fields["api_port"].default
    env = environment(services["api"])
    container_port = int(env.get("SWARM_API_PORT", port))
    published: list[int] = []
    for p in services["api"].get("ports") or []:
        if isinstance(p, dict):
            published.append(int(p["target"]))
        else:
            published.append(int(str(p).split("/", 1)[0].rsplit(":", 1)[-1]))
    assert container_port in published, f"port {container_port} not published: {published}"


# --- Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_cmd_is_a_real_subcommand(cli_commands: dict[str, Any]) -> None:
    assert DOCKERFILE.is_file()
    cmds = [args for word, args in dockerfile_instructions() if word == "CMD"]
    assert cmds, "Dockerfile has no CMD"
    cmd = json.loads(cmds[-1])  # exec form: signals reach the server, not a shell
    check_cli_argv(cmd, cli_commands)
    assert cmd[1] == "api" and "--no-migrate" in cmd


def test_dockerfile_base_user_and_sources() -> None:
    ins = dockerfile_instructions()
    assert ins[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in ins if word == "USER"]
    assert users and users[-1] not in {"root", "0", "0:0"}, "the image must not run as root"
    env_text = " ".join(args for word, args in ins if word == "ENV")
    assert "SWARM_API_HOST=0.0.0.0" in env_text
    run_text = " ".join(args for word, args in ins if word == "RUN")
    assert "requirements.lock" in run_text and "--no-deps" in run_text
    # ledger.kit.migrate finds alembic.ini and migrations/ two directories above its own file,
    # and the wheel holds neither: installed into site-packages, `swarm-ledger migrate` breaks.
    # Until they ship inside the package, the image must import ledger from /app (editable).
    assert re.search(r"pip install --no-deps (-e|--editable) \.", run_text), run_text
    copied: set[str] = set()
    for word, args in ins:
        if word == "COPY":
            parts = [p for p in args.split() if not p.startswith("--")]
            for src in parts[:-1]:
                assert (ROOT / src).exists(), f"COPY source {src} does not exist"
                copied.add(src.rstrip("/"))
    # `swarm-ledger migrate` reads alembic.ini and migrations/ next to the ledger package.
    assert {"requirements.lock", "pyproject.toml", "alembic.ini", "migrations", "ledger"} <= copied


# --- compose: the worker and beat (issue 10, point 18) ------------------------------------


def test_worker_and_beat_run_the_service_image_and_consume_its_queue(
    services: dict[str, dict[str, Any]],
) -> None:
    from ledger.kit.queue import QUEUE

    api_image = services["api"].get("image")
    for name in ("worker", "beat"):
        svc = services[name]
        assert svc.get("image") == api_image, f"{name}: not the service's image"
        deps = depends_on(svc)
        assert deps.get("migrate") == "service_completed_successfully", name
        assert deps.get(service_by_image(services, "redis")) == "service_healthy", name
        assert "healthcheck" in svc, f"{name} has no health check"
        assert str(svc.get("restart")) == "unless-stopped", name
    worker_argv = argv(services["worker"]["command"])
    assert worker_argv[1] == "worker"
    assert worker_argv[worker_argv.index("--queues") + 1].split(",") == [QUEUE]
    assert "inspect ping" in " ".join(argv(services["worker"]["healthcheck"]["test"]))
    assert argv(services["beat"]["command"])[1] == "beat"


def test_beat_keeps_its_schedule_in_a_volume_at_the_data_directory(
    services: dict[str, dict[str, Any]],
) -> None:
    data_dir = "/var/lib/swarm-ledger"
    env_text = " ".join(args for word, args in dockerfile_instructions() if word == "ENV")
    assert f"SWARM_DATA_DIR={data_dir}" in env_text
    vols = [str(v) for v in services["beat"].get("volumes") or []]
    assert any(v.endswith(f":{data_dir}") for v in vols), vols
    assert "celerybeat-schedule" in " ".join(argv(services["beat"]["healthcheck"]["test"]))
