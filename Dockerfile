# The swarm-ledger application image: the API, the Celery worker and beat (same image, another
# command each). Built and run by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SWARM_API_HOST=0.0.0.0 \
    SWARM_API_PORT=8000 \
    SWARM_DATA_DIR=/var/lib/swarm-ledger

WORKDIR /app

# Dependencies first, from the exact pins, so that a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# Only what the service needs at run time (there is no .dockerignore: copy by name, never `.`,
# which would drag in .venv, .git and local data).
COPY pyproject.toml alembic.ini ./
COPY migrations ./migrations
COPY workers ./workers
COPY ledger ./ledger

# The package is installed in editable mode on purpose: ledger.kit.migrate finds alembic.ini and
# migrations/ relative to its own source file (two directories up), and neither is part of the
# wheel. A plain `pip install .` would import ledger from site-packages, and `swarm-ledger
# migrate` would then fail with "Path doesn't exist: .../site-packages/migrations".
# The second command fails the build if that ever stops holding.
RUN pip install --no-deps -e . \
    && python -c "from alembic.script import ScriptDirectory; \
from ledger.kit.migrate import alembic_config; \
head = ScriptDirectory.from_config(alembic_config('postgresql://build@localhost/check')).get_current_head(); \
assert head, 'no migration head found'; print('migrations head:', head)" \
    && swarm-ledger --help > /dev/null

# Run as an unprivileged user; its home is the data directory of the embedded servers, used only
# when DATABASE_URL / REDIS_URL are unset.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/swarm-ledger \
    --shell /usr/sbin/nologin swarm
USER swarm

EXPOSE 8000

# Migrations run once, in their own container (compose service `migrate`), not in every replica.
CMD ["swarm-ledger", "api", "--no-migrate"]
