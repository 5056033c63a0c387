"""A limit on everything, in one place: batch, body and page sizes, sweeps, retries, task time
limits and the bounds of every input. The relations between them are asserted below, where
they are defined, so a change that breaks one fails at import (and in every test).

Business numbers (emission, weights, fractions, periods) are not limits: they live in the
versioned parameter set.
"""

from __future__ import annotations

from typing import Final

# --- HTTP --------------------------------------------------------------------------------------
#: Largest page a list endpoint returns, and the page it returns when none is asked for.
MAX_PAGE_SIZE: Final[int] = 500
DEFAULT_PAGE_SIZE: Final[int] = 100
#: Receipts per request (each receipt carries every input of a node's epoch).
MAX_RECEIPTS: Final[int] = 200
#: Largest telemetry request body.
MAX_TELEMETRY_BODY_BYTES: Final[int] = 2_000_000
#: Seconds /healthz waits for PostgreSQL and Redis.
HEALTH_TIMEOUT_S: Final[int] = 2
#: Largest signed 64-bit integer (PostgreSQL bigint): cursors and sequence numbers.
MAX_INT64: Final[int] = 2**63 - 1

# --- telemetry ---------------------------------------------------------------------------------
#: Heartbeats per request.
MAX_TELEMETRY_BATCH: Final[int] = 1_000
MAX_SEQ: Final[int] = MAX_INT64
MAX_LATENCY_MS: Final[int] = 600_000
MAX_JOBS: Final[int] = 1_000_000
MAX_BANDWIDTH_MBPS: Final[int] = 10_000_000
#: Accepted heartbeats per node and rate window.
NODE_RATE_LIMIT: Final[int] = 10
NODE_RATE_WINDOW_S: Final[int] = 60
#: Batches the sweeper recovers per run, and how old a batch must be before it is recovered.
SWEEP_LIMIT: Final[int] = 5_000
SWEEP_AFTER_S: Final[int] = 30

# --- registry ----------------------------------------------------------------------------------
MAX_GPUS: Final[int] = 100_000
MAX_STORAGE_TB: Final[int] = 1_000_000
MAX_BANDWIDTH_GBPS: Final[int] = 100_000
MAX_RAM_GB: Final[int] = 100_000_000
#: Longest single maintenance window.
MAX_MAINTENANCE_WINDOW_S: Final[int] = 24 * 3600

# --- accounting --------------------------------------------------------------------------------
#: Transfers in one linked batch.
MAX_BATCH_TRANSFERS: Final[int] = 1_000_000
#: Batches up to this size take the optimistic path (one round trip for existing ids).
OPTIMISTIC_BATCH: Final[int] = 1_000
#: Longest timeout of a pending transfer.
MAX_TIMEOUT_S: Final[int] = 30 * 24 * 3600
#: Largest transfer code.
MAX_CODE: Final[int] = 65_535
#: Pending transfers voided per expiry sweep.
EXPIRY_SWEEP_LIMIT: Final[int] = 10_000
#: Rows streamed per page by verify and the bulk readers.
STREAM_PAGE: Final[int] = 10_000

# --- rewards -----------------------------------------------------------------------------------
MAX_NODES_PER_EPOCH: Final[int] = 1_000_000
MAX_MERKLE_LEAVES: Final[int] = 1_000_000

# --- staking -----------------------------------------------------------------------------------
MAX_LOTS: Final[int] = 100_000

# --- slashing ----------------------------------------------------------------------------------
#: Evidence items of a violation report, and counter-evidence items of an appeal.
MAX_EVIDENCE_ITEMS: Final[int] = 64
MAX_EVIDENCE_KEY_CHARS: Final[int] = 64
MAX_EVIDENCE_VALUE_CHARS: Final[int] = 4_096
MAX_OFFENCE_HISTORY: Final[int] = 100_000
MAX_SEVERITY_UNITS: Final[int] = 1_000
MAX_DUPLICATE_COUNT: Final[int] = 100_000
MAX_SYBIL_NODES: Final[int] = 1_000_000
MAX_APPEAL_VOTES: Final[int] = 1_000
MAX_STANDING_LOG_EVENTS: Final[int] = 4_096
#: Pending slashes executed per run of the execution task.
EXECUTE_LIMIT: Final[int] = 1_000

# --- workers -----------------------------------------------------------------------------------
#: Retries of a task that hit a database outage, with exponential backoff.
MAX_RETRIES: Final[int] = 5
#: Default task time limits (soft: the task is told; hard: the process is killed).
TASK_SOFT_TIME_LIMIT_S: Final[int] = 120
TASK_TIME_LIMIT_S: Final[int] = 150
#: An epoch close of a million nodes takes tens of seconds; the audit replays the whole chain.
CLOSE_TIME_LIMIT_S: Final[int] = 900
AUDIT_TIME_LIMIT_S: Final[int] = 3_000
#: Seconds an unacknowledged message waits before Redis redelivers it to another worker.
VISIBILITY_TIMEOUT_S: Final[int] = 300
#: Seconds between runs of the periodic tasks.
SWEEP_INTERVAL_S: Final[float] = 30.0
EXECUTE_INTERVAL_S: Final[float] = 60.0
EXPIRE_INTERVAL_S: Final[float] = 60.0
AUDIT_INTERVAL_S: Final[float] = 3600.0
CLOSE_CHECK_INTERVAL_S: Final[float] = 15.0

# --- relations ---------------------------------------------------------------------------------
assert 0 < DEFAULT_PAGE_SIZE <= MAX_PAGE_SIZE
assert MAX_RECEIPTS <= MAX_PAGE_SIZE
# A full telemetry batch of reasonable heartbeats (under 2 kB each) fits the body cap.
assert MAX_TELEMETRY_BATCH * 2_000 >= MAX_TELEMETRY_BODY_BYTES // 2
assert MAX_TELEMETRY_BATCH <= OPTIMISTIC_BATCH
assert NODE_RATE_LIMIT > 0 and NODE_RATE_WINDOW_S > 0
assert SWEEP_AFTER_S <= SWEEP_INTERVAL_S * 2
assert OPTIMISTIC_BATCH <= MAX_BATCH_TRANSFERS
assert EXPIRY_SWEEP_LIMIT <= MAX_BATCH_TRANSFERS
assert MAX_NODES_PER_EPOCH <= MAX_BATCH_TRANSFERS
assert MAX_MERKLE_LEAVES >= MAX_NODES_PER_EPOCH  # one leaf per provider, at most one per node
assert MAX_SYBIL_NODES >= MAX_NODES_PER_EPOCH
assert EXECUTE_LIMIT <= MAX_BATCH_TRANSFERS
assert TASK_SOFT_TIME_LIMIT_S < TASK_TIME_LIMIT_S < VISIBILITY_TIMEOUT_S
assert CLOSE_TIME_LIMIT_S > 60 and AUDIT_TIME_LIMIT_S > 60  # each soft limit is 60 s earlier
assert CLOSE_CHECK_INTERVAL_S < SWEEP_INTERVAL_S < EXPIRE_INTERVAL_S <= AUDIT_INTERVAL_S
# Known gap (issue 10): the close and audit limits exceed the visibility timeout, so a long
# task can be redelivered while it runs (the epoch lock keeps a close exactly once).
