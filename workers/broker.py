"""The Redis transport of the workers, with a dead-letter list in front of Celery.

Celery 5.7 decodes a message popped from the broker list inside its event loop: one message
that is not JSON, or whose body is not valid base64, raises there and stops the worker with
``Unrecoverable error`` (and the message is lost, since it was already popped). This transport
checks each message before it is delivered: one that cannot be read is recorded in the
dead-letter list (raw payload and reason), and dropped; popping it was its acknowledgement.
The worker goes on with the next message.
"""

# kombu is untyped: its channel's helpers are called as they are.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import base64
import binascii
import json
import logging
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str

from ledger.kit.queue import record_dead_letter

log = logging.getLogger(__name__)


class UndecodableMessage(ValueError):
    """A broker message the workers cannot read (the text says why)."""


def decode_envelope(raw: bytes | str) -> dict[str, Any]:
    """The kombu envelope of ``raw``, checked so that delivering it cannot raise.

    Raises :class:`UndecodableMessage` naming what is wrong.
    """
    try:
        payload = json.loads(bytes_to_str(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UndecodableMessage(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise UndecodableMessage(f"envelope is a JSON {type(payload).__name__}, not an object")
    props = payload.get("properties")
    if not isinstance(props, dict) or "delivery_tag" not in props:
        raise UndecodableMessage("envelope has no properties.delivery_tag")
    headers = payload.get("headers")
    if not isinstance(headers, dict) or not isinstance(headers.get("task"), str):
        raise UndecodableMessage("envelope has no headers.task (not a Celery task message)")
    body = payload.get("body")
    if not isinstance(body, str):
        raise UndecodableMessage("envelope has no string body")
    if props.get("body_encoding") == "base64":
        try:
            body = base64.b64decode(body, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise UndecodableMessage(f"body is not valid base64 text: {exc}") from exc
    if payload.get("content-type") != "application/json":
        raise UndecodableMessage(f"content type {payload.get('content-type')!r} is not JSON")
    try:
        json.loads(body)
    except ValueError as exc:
        raise UndecodableMessage(f"body is not JSON: {exc}") from exc
    return payload


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, reading each message through :func:`decode_envelope`."""

    def _checked(self, raw: bytes, queue: str) -> dict[str, Any] | None:
        """The envelope, or None once ``raw`` is dead-lettered."""
        try:
            return decode_envelope(raw)
        except UndecodableMessage as exc:
            with self.conn_or_acquire() as client:
                record_dead_letter(client, raw, reason=str(exc), queue=queue)
            log.error("dead-lettered an undecodable message from %r: %s", queue, exc)
            return None

    def _brpop_read(self, **options: Any) -> bool:
        # kombu's own _brpop_read (5.7), with the message checked before it is delivered.
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            message = self._checked(item, dest)
            if message is not None:
                self.connection._deliver(message, dest)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]
            self._flush_brpop_reauth()

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                if item:
                    self._maybe_update_queues_expire(client, queue)
                    message = self._checked(item, queue)
                    if message is None:
                        break
                    return message
            self._maybe_update_queues_expire(client, queue)
            raise Empty()


class Transport(kombu_redis.Transport):
    """The Redis transport with :class:`Channel` (``broker_transport`` of the workers)."""

    Channel = Channel
