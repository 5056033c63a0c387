"""Celery worker entry point: ``celery -A workers.celery_app worker`` (or ``swarm-ledger worker``).

The broker is REDIS_URL (or the embedded Valkey the API started in the same data directory).
"""

from __future__ import annotations

from ledger.config import get_settings
from ledger.embedded import resolve_redis_url
from ledger.queue import make_celery

app = make_celery(resolve_redis_url(get_settings()).url)
app.conf.include = ["workers.tasks"]
