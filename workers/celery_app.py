"""Celery worker entry point: ``celery -A workers.celery_app worker`` (or ``swarm-ledger worker``).

The broker is REDIS_URL (or the embedded Valkey the API started in the same data directory).
"""

from __future__ import annotations

from ledger.kit.config import get_settings
from ledger.kit.embedded import resolve_redis_url
from ledger.kit.queue import make_celery

app = make_celery(resolve_redis_url(get_settings()).url)
#: One task module per ledger module.
app.conf.include = [
    "workers.accounting",
    "workers.telemetry",
    "workers.epochs",
    "workers.slashing",
]
