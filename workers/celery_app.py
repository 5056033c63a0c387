"""Celery worker entry point: ``celery -A workers.celery_app worker`` (or ``swarm-ledger worker``).

The broker is REDIS_URL (or the embedded Valkey the API started in the same data directory),
read through :mod:`workers.broker`, which dead-letters messages that cannot be decoded. A task
that cannot be run (an unknown name, arguments it refuses, retries exhausted) is dead-lettered
too, by the signal handlers below. At start-up the worker refuses to run a task whose time limit
is not below the broker's visibility timeout.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import redis
from celery import Celery, Task, signals

from ledger.kit.config import get_settings
from ledger.kit.embedded import resolve_redis_url
from ledger.kit.limits import MAX_REDELIVERIES, TASK_TIME_LIMIT_S, VISIBILITY_TIMEOUT_S
from ledger.kit.queue import count_delivery, make_celery, record_dead_letter

log = logging.getLogger(__name__)
_clients: dict[int, redis.Redis] = {}


def _redis() -> redis.Redis:
    """One client per process (pool processes are forked: never share the parent's)."""
    pid = os.getpid()
    if pid not in _clients:
        _clients[pid] = redis.Redis.from_url(BROKER_URL, socket_timeout=5)
    return _clients[pid]


class BoundedTask(Task):  # type: ignore[misc]
    """Every task of the service: one redelivered more than ``MAX_REDELIVERIES`` times (its
    worker died under it each time) is dead-lettered instead of run again."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = self.request.id
        info = self.request.delivery_info or {}
        if task_id and info.get("redelivered") and not self.request.is_eager:
            n = count_delivery(_redis(), task_id)
            if n > MAX_REDELIVERIES:
                raw = json.dumps({"task": self.name, "id": task_id, "args": args,
                                  "kwargs": kwargs}, default=str)  # fmt: skip
                _dead_letter(raw, f"redelivered {n} times (limit {MAX_REDELIVERIES})", self.name)
                return None
        return super().__call__(*args, **kwargs)


BROKER_URL = resolve_redis_url(get_settings()).url
app = make_celery(
    BROKER_URL,
    task_cls="workers.celery_app:BoundedTask",
    settle=bool(get_settings().chain_rpc_url),
)
app.conf.broker_transport = "workers.broker:Transport"
#: One task module per ledger module.
app.conf.include = [
    "workers.accounting",
    "workers.telemetry",
    "workers.epochs",
    "workers.slashing",
    "workers.settlement",
]


def check_time_limits(celery: Celery) -> dict[str, float]:
    """Every project task's hard time limit, each asserted below the visibility timeout (a
    task outliving it is delivered again while it runs)."""
    visibility = float(celery.conf.broker_transport_options["visibility_timeout"])
    limits = {}
    for name, task in celery.tasks.items():
        if name.startswith("celery."):
            continue
        limit = float(task.time_limit or celery.conf.task_time_limit or TASK_TIME_LIMIT_S)
        if not limit < visibility:
            raise RuntimeError(
                f"task {name}: time limit {limit:.0f} s is not below the broker's visibility "
                f"timeout {visibility:.0f} s: it would be delivered again while it runs"
            )
        limits[name] = limit
    assert visibility == VISIBILITY_TIMEOUT_S
    return limits


@signals.worker_init.connect
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    app.loader.import_default_modules()
    limits = check_time_limits(app)
    log.info("task time limits (visibility timeout %d s): %s", VISIBILITY_TIMEOUT_S, limits)


def _dead_letter(raw: bytes | str, reason: str, task: str | None) -> None:
    """Record a message that cannot be run; never raise (the worker must go on)."""
    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            record_dead_letter(client, raw, reason=reason, task=task)
    except Exception:  # the log line below is then the only record
        log.exception("could not record a dead letter for %s", task)
    log.error("dead-lettered task %s: %s", task, reason)


@signals.task_unknown.connect
def _on_task_unknown(message: Any = None, exc: Any = None, name: str | None = None,
                     **_: Any) -> None:  # fmt: skip
    _dead_letter(_raw_of(message), f"unregistered task {name!r}", name)


@signals.task_rejected.connect
def _on_task_rejected(message: Any = None, exc: Any = None, **_: Any) -> None:
    _dead_letter(_raw_of(message), f"rejected: {exc!r}", None)


@signals.task_failure.connect
def _on_task_failure(sender: Any = None, task_id: str | None = None, exception: Any = None,
                     args: Any = None, kwargs: Any = None, **_: Any) -> None:  # fmt: skip
    """A task that failed for good (its bounded retries, if any, are spent)."""
    name = getattr(sender, "name", None)
    raw = json.dumps({"task": name, "id": task_id, "args": args, "kwargs": kwargs}, default=str)
    _dead_letter(raw, f"failed: {type(exception).__name__}: {exception}", name)


def _raw_of(message: Any) -> bytes:
    body = getattr(message, "body", b"")
    return body if isinstance(body, bytes) else str(body).encode()
