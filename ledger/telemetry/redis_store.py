"""Redis-backed helpers: per-node rate limits and telemetry counters.

Neither is a source of truth for money or telemetry: losing Redis loses counters and resets
rate windows, never an accepted heartbeat.
"""

from __future__ import annotations

import redis

from ledger.kit.limits import NODE_RATE_LIMIT, NODE_RATE_WINDOW_S

COUNTERS_KEY = "swarm:telemetry:counters"


#: One round trip per request: add each node's count to this window's hash, return the totals.
_RATE_SCRIPT = """
local totals = {}
for i = 1, #ARGV - 1, 2 do
    totals[#totals + 1] = redis.call('HINCRBY', KEYS[1], ARGV[i], tonumber(ARGV[i + 1]))
end
redis.call('EXPIRE', KEYS[1], ARGV[#ARGV])
return totals
"""


class RedisRateLimiter:
    """Fixed window per node: a hash per window holds each node's count (one Lua call per
    request, however many nodes it carries), refusing what exceeds the limit."""

    def __init__(self, client: redis.Redis, limit: int = NODE_RATE_LIMIT,
                 window_s: int = NODE_RATE_WINDOW_S, now_s: int | None = None):  # fmt: skip
        self.client = client
        self.limit = limit
        self.window_s = window_s
        self.now_s = now_s

    def __call__(self, wanted: dict[str, int]) -> dict[str, int]:
        import time

        now = self.now_s if self.now_s is not None else int(time.time())
        key = f"swarm:rl:{now // self.window_s}"
        nodes = sorted(wanted)
        args: list[str | int] = []
        for node in nodes:
            args += [node, wanted[node]]
        args.append(self.window_s * 2)
        totals = self.client.eval(_RATE_SCRIPT, 1, key, *args)
        allowed = {}
        for node, total in zip(nodes, totals, strict=True):
            before = int(total) - wanted[node]
            allowed[node] = max(0, min(wanted[node], self.limit - before))
        return allowed


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
