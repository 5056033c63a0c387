"""Deploy-time configuration (pydantic-settings). Business numbers live in the parameter set.

Only values that differ between deployments belong here: where the database, Redis and the chain
are, where embedded servers keep their data, which role the application assumes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variables; unset DATABASE_URL / REDIS_URL mean "use the embedded servers"."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL"),
        description="PostgreSQL DSN. Unset: an embedded PostgreSQL in data_dir/pg.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL"),
        description="Redis DSN (Celery broker, rate limits). Unset: an embedded Valkey.",
    )
    chain_rpc_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CHAIN_RPC_URL"),
        description="EVM JSON-RPC endpoint for settlement.",
    )
    chain_deployment: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SWARM_CHAIN_DEPLOYMENT"),
        description=(
            "The contracts' addresses (JSON written by the deployment). Unset: "
            "data_dir/chain/deployment.json."
        ),
    )
    root_poster_keystore: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SWARM_ROOT_POSTER_KEYSTORE"),
        description="Encrypted keystore (eth-account JSON) of the ROOT_POSTER_ROLE key.",
    )
    slasher_keystore: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SWARM_SLASHER_KEYSTORE"),
        description="Encrypted keystore of the SLASHER_ROLE key.",
    )
    keystore_password_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SWARM_KEYSTORE_PASSWORD_FILE"),
        description="File holding the keystores' passphrase (else SWARM_KEYSTORE_PASSWORD).",
    )
    keystore_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SWARM_KEYSTORE_PASSWORD"),
        description="The keystores' passphrase (never logged).",
        repr=False,
    )
    fee_cap_gwei: int = Field(
        default=200,
        validation_alias=AliasChoices("SWARM_FEE_CAP_GWEI"),
        description="No settlement transaction pays a max fee per gas above this.",
    )
    priority_fee_gwei: int = Field(
        default=1, validation_alias=AliasChoices("SWARM_PRIORITY_FEE_GWEI")
    )
    confirmations: int = Field(
        default=12,
        validation_alias=AliasChoices("SWARM_CONFIRMATIONS"),
        description="Blocks until final on a chain without a `finalized` block tag.",
    )
    data_dir: Path = Field(
        default=Path(".swarm-ledger"),
        validation_alias=AliasChoices("SWARM_DATA_DIR"),
        description="Where embedded servers keep their data.",
    )
    db_app_role: str = Field(
        default="swarm_ledger_app",
        validation_alias=AliasChoices("SWARM_DB_APP_ROLE"),
        description=(
            "Role the application assumes after connecting (SET ROLE). It may read and append "
            "transfers but never update, delete or truncate them. Empty: connect as is."
        ),
    )
    api_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("SWARM_API_HOST"))
    api_port: int = Field(default=8000, validation_alias=AliasChoices("SWARM_API_PORT"))
    db_pool_size: int = Field(default=10, validation_alias=AliasChoices("SWARM_DB_POOL_SIZE"))
    operator_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SWARM_OPERATOR_TOKEN"),
        description="Bearer token for registry writes. Unset: registry writes are refused.",
    )
    governors: str = Field(
        default="gov-1,gov-2,gov-3",
        validation_alias=AliasChoices("SWARM_GOVERNORS"),
        description="Comma-separated governor names whose votes count on appeals.",
    )
    servers_embedded: bool = Field(
        default=False,
        validation_alias=AliasChoices("SWARM_SERVERS_EMBEDDED"),
        description=(
            "Set by `swarm-ledger demo` for its children: DATABASE_URL / REDIS_URL name the "
            "embedded servers the demo started in data_dir (the banner says so)."
        ),
    )
    params_profile: str = Field(
        default="default",
        validation_alias=AliasChoices("SWARM_PARAMS"),
        description="'default' (SPEC v1: hourly epochs) or 'demo' (60 s epochs, 30 s skew).",
    )

    @property
    def governor_set(self) -> frozenset[str]:
        """The governors whose votes count (SWARM_GOVERNORS, comma-separated)."""
        return frozenset(g.strip() for g in self.governors.split(",") if g.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
