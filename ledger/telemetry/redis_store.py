"""Redis-backed helpers: per-node rate limits and telemetry counters.

Neither is a source of truth for money or telemetry: losing Redis loses counters and resets
rate windows, never an accepted heartbeat.
"""

from __future__ import annotations

import redis

from ledger.kit.limits import NODE_RATE_LIMIT, NODE_RATE_WINDOW_S

COUNTERS_KEY = "swarm:telemetry:counters"


#: One round trip per request: grant each key what is left of its budget in this window, and
#: count only what was granted (a refused or duplicate heartbeat never consumes budget).
#: ARGV: key, wanted, key, wanted, ..., limit, ttl seconds.
_RATE_SCRIPT = """
local limit = tonumber(ARGV[#ARGV - 1])
local granted = {}
for i = 1, #ARGV - 2, 2 do
    local used = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
    local grant = math.max(0, math.min(tonumber(ARGV[i + 1]), limit - used))
    if grant > 0 then
        redis.call('HINCRBY', KEYS[1], ARGV[i], grant)
    end
    granted[#granted + 1] = grant
end
redis.call('EXPIRE', KEYS[1], ARGV[#ARGV])
return granted
"""


class RedisRateLimiter:
    """Fixed window per key (a node id, or a client for the pre-verification budget): a hash
    per window holds each key's granted count, one Lua call per request however many keys it
    carries. Only what is granted is counted, and :meth:`refund` gives back grants that were
    not used (a heartbeat found to be a duplicate after all)."""

    def __init__(self, client: redis.Redis, limit: int = NODE_RATE_LIMIT,
                 window_s: int = NODE_RATE_WINDOW_S, now_s: int | None = None,
                 prefix: str = "swarm:rl"):  # fmt: skip
        self.client = client
        self.limit = limit
        self.window_s = window_s
        self.now_s = now_s
        self.prefix = prefix

    def _key(self) -> str:
        import time

        now = self.now_s if self.now_s is not None else int(time.time())
        return f"{self.prefix}:{now // self.window_s}"

    def __call__(self, wanted: dict[str, int], limit: int | None = None) -> dict[str, int]:
        """How many of ``wanted`` each key may have now (at most ``limit``, default the
        limiter's, per window); the grants are counted."""
        cap = self.limit if limit is None else limit
        keys = sorted(wanted)
        args: list[str | int] = []
        for k in keys:
            args += [k, wanted[k]]
        args += [cap, self.window_s * 2]
        granted = self.client.eval(_RATE_SCRIPT, 1, self._key(), *args)
        out = {k: int(g) for k, g in zip(keys, granted, strict=True)}
        assert all(0 <= out[k] <= wanted[k] for k in keys)
        return out

    def refund(self, unused: dict[str, int]) -> None:
        """Give back grants that were not used."""
        if not unused:
            return
        key = self._key()
        pipe = self.client.pipeline(transaction=False)
        for k, n in unused.items():
            if n > 0:
                pipe.hincrby(key, k, -n)
        pipe.execute()


def add_counters(client: redis.Redis, counters: dict[str, int]) -> None:
    if not counters:
        return
    pipe = client.pipeline(transaction=False)
    for name, n in counters.items():
        pipe.hincrby(COUNTERS_KEY, name, n)
    pipe.execute()


def read_counters(client: redis.Redis) -> dict[str, int]:
    raw = client.hgetall(COUNTERS_KEY)
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}
