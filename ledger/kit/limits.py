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
#: Accepted heartbeats per node and rate window (the default; the service scales it to the
#: profile's heartbeat interval: NODE_RATE_HEADROOM heartbeats for every one expected).
NODE_RATE_LIMIT: Final[int] = 10
NODE_RATE_WINDOW_S: Final[int] = 60
NODE_RATE_HEADROOM: Final[int] = 10
#: Signature verifications per client (remote address) and rate window, before any signature
#: is checked: an unauthenticated flood cannot buy unlimited CPU.
CLIENT_VERIFY_LIMIT: Final[int] = 120_000
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
#: Seconds an unacknowledged message waits before Redis redelivers it to another worker. It
#: must exceed every task's hard time limit, or a task still running is delivered a second
#: time. Recovery from a killed worker does not wait for it: beat's due checks re-enqueue the
#: work that is missing (an unfinished close, an unevaluated epoch, a batch not rolled up).
VISIBILITY_TIMEOUT_S: Final[int] = 3_600
#: Worker processes of the prefork pool per worker: the pool that enforces time limits
#: (Celery 5.7's solo and threads pools enforce none). Scale by running more workers.
WORKER_CONCURRENCY: Final[int] = 1
#: Messages a worker process reserves ahead: one, so a long close does not hold others back.
WORKER_PREFETCH: Final[int] = 1
#: Restarts of a demo child (worker, beat, simulator) before the demo stops with exit code 1;
#: how often the demo looks at its children, and how long a child gets to stop.
MAX_CHILD_RESTARTS: Final[int] = 3
SUPERVISE_POLL_S: Final[float] = 0.5
CHILD_STOP_TIMEOUT_S: Final[int] = 30
#: Redeliveries of one task (its worker died under it: killed, out of memory, a hard time
#: limit) before it is dead-lettered instead of run; a message that kills every worker that
#: takes it would otherwise be requeued forever. Retries are bounded apart (MAX_RETRIES).
MAX_REDELIVERIES: Final[int] = 3
#: Undecodable or failed messages kept for a person to read (the oldest are dropped).
MAX_DEAD_LETTERS: Final[int] = 10_000
#: Longest raw payload kept per dead letter.
MAX_DEAD_LETTER_BYTES: Final[int] = 64_000
#: Seconds between runs of the periodic tasks.
SWEEP_INTERVAL_S: Final[float] = 30.0
EXECUTE_INTERVAL_S: Final[float] = 60.0
#: Beat sends the settlement outbox and follows open transactions this often.
SETTLEMENT_INTERVAL_S: Final[float] = 5.0
EXPIRE_INTERVAL_S: Final[float] = 60.0
AUDIT_INTERVAL_S: Final[float] = 3600.0
CLOSE_CHECK_INTERVAL_S: Final[float] = 15.0
#: Seconds between sweeps for closed epochs that were never evaluated.
EVALUATE_CHECK_INTERVAL_S: Final[float] = 20.0
#: Closed epochs looked at per sweep for a missing evaluation (the newest ones).
EVALUATE_SWEEP_EPOCHS: Final[int] = 48

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
# No task outlives the visibility timeout, so none is delivered twice while it runs (the
# worker checks every registered task's limit again at start-up).
assert max(TASK_TIME_LIMIT_S, CLOSE_TIME_LIMIT_S, AUDIT_TIME_LIMIT_S) < VISIBILITY_TIMEOUT_S
# A killed close is found again by the next due check, well inside a minute.
assert CLOSE_CHECK_INTERVAL_S * 2 <= 60 and EVALUATE_CHECK_INTERVAL_S * 2 <= 60
assert WORKER_CONCURRENCY >= 1 and WORKER_PREFETCH >= 1
assert 1 <= MAX_REDELIVERIES <= MAX_RETRIES
assert MAX_DEAD_LETTER_BYTES <= MAX_TELEMETRY_BODY_BYTES

# --- HTTP input (issue 10) ---------------------------------------------------------------------
#: Largest request body of any route but telemetry (checked before the body is read).
MAX_BODY_BYTES: Final[int] = 1_048_576
#: Deepest nesting of arrays and objects a JSON body may have.
MAX_JSON_DEPTH: Final[int] = 32
#: Smallest signed 64-bit integer (PostgreSQL bigint).
MIN_INT64: Final[int] = -(2**63)
#: Largest Unix time in seconds an input may carry (year 36812; far below bigint).
MAX_UNIX_TS_S: Final[int] = 2**40
#: The last second a datetime can hold (9999-12-31T23:59:59Z): times turned into dates.
MAX_DATETIME_S: Final[int] = 253_402_300_799
#: Longest free text (ids, references, evidence values) any input may carry.
MAX_TEXT_CHARS: Final[int] = 4_096
#: Seconds a client is told to wait (Retry-After) while PostgreSQL or Redis is down, and seconds
#: between two log lines about the same outage.
OUTAGE_RETRY_AFTER_S: Final[int] = 2
OUTAGE_LOG_INTERVAL_S: Final[int] = 30

assert MAX_BODY_BYTES <= MAX_TELEMETRY_BODY_BYTES
# A full violation report (every evidence item at its longest, 3 UTF-8 bytes a char) fits.
assert MAX_EVIDENCE_ITEMS * (MAX_EVIDENCE_KEY_CHARS + MAX_EVIDENCE_VALUE_CHARS) * 3 < MAX_BODY_BYTES
assert MAX_EVIDENCE_VALUE_CHARS <= MAX_TEXT_CHARS
assert 2 <= MAX_JSON_DEPTH < 1_000  # below the JSON parser's own recursion limit
assert MIN_INT64 == -MAX_INT64 - 1 and 0 < MAX_UNIX_TS_S < MAX_INT64
assert 0 < OUTAGE_RETRY_AFTER_S <= OUTAGE_LOG_INTERVAL_S
