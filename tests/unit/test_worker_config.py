"""The workers' limits and pool (issue 10, point 9) and what they read from the broker (8)."""

from __future__ import annotations

import base64
import json

import pytest
from celery import Celery

from ledger.cli import CeleryProgram, _celery_argv
from ledger.epochs.repository import CLOSE_LOCK_NAMESPACE
from ledger.kit import limits
from ledger.kit.queue import make_celery
from ledger.rewards.repository import EPOCH_LOCK_NAMESPACE
from workers.broker import UndecodableMessage, decode_envelope
from workers.celery_app import app, check_time_limits


def test_every_task_limit_is_below_the_visibility_timeout() -> None:
    app.loader.import_default_modules()
    found = check_time_limits(app)
    assert {"rewards.close_epoch", "ledger.audit", "slashing.evaluate_due_epochs"} <= set(found)
    assert max(found.values()) < limits.VISIBILITY_TIMEOUT_S
    assert found["ledger.audit"] == limits.AUDIT_TIME_LIMIT_S


def test_the_start_up_check_refuses_a_task_that_outlives_the_visibility_timeout() -> None:
    other: Celery = make_celery("memory://")

    @other.task(name="too.long", time_limit=limits.VISIBILITY_TIMEOUT_S + 1)
    def too_long() -> None: ...

    with pytest.raises(RuntimeError, match=r"too\.long"):
        check_time_limits(other)


def test_the_worker_runs_a_pool_that_enforces_time_limits() -> None:
    argv = _celery_argv(CeleryProgram.WORKER)
    assert argv[argv.index("-P") + 1] == "prefork"  # solo and threads enforce no time limit
    assert argv[argv.index("-c") + 1] == str(limits.WORKER_CONCURRENCY)
    assert app.conf.broker_transport == "workers.broker:Transport"
    assert app.conf.broker_transport_options["visibility_timeout"] == limits.VISIBILITY_TIMEOUT_S


def test_the_sweeps_use_the_close_lock_of_the_rewards_module() -> None:
    assert CLOSE_LOCK_NAMESPACE == EPOCH_LOCK_NAMESPACE


def envelope(body: str, encoding: str = "base64", headers: object = None) -> str:
    return json.dumps({
        "body": body, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"task": "ledger.expire_pending", "id": "x"} if headers is None else headers,
        "properties": {"delivery_tag": "t", "body_encoding": encoding},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("this is not json", "not JSON"),
        ("[1, 2]", "not an object"),
        (envelope("!!! not base64 !!!"), "base64"),
        (envelope(base64.b64encode(b"not json either").decode()), "body is not JSON"),
        (envelope(base64.b64encode(b"[[], {}, {}]").decode(), headers={}), "headers.task"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_undecodable_messages_are_named(raw: str | bytes, why: str) -> None:
    with pytest.raises(UndecodableMessage, match=why):
        decode_envelope(raw)


def test_a_real_task_message_decodes() -> None:
    payload = decode_envelope(envelope(base64.b64encode(b"[[], {}, {}]").decode()))
    assert payload["headers"]["task"] == "ledger.expire_pending"
