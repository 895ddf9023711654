"""Every setting, from LATCHKEY_* environment variables and .env: one typed object."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    # Errors never echo the rejected value: it may be a secret.
    model_config = SettingsConfigDict(
        env_prefix="LATCHKEY_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    env: Environment = Environment.DEVELOPMENT
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    # Per worker: threads for blocking work (database, waiting for a hash). Few
    # beat many: Python threads contend for the GIL, and with 40 (the default of
    # the server's thread pool) refresh and login throughput fell by a third in
    # `make bench`. Requests beyond them wait on the event loop, which costs nothing.
    worker_threads: int = Field(default=4, ge=1, le=64)
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, "*" for any): the load balancer, never the internet,
    # or a client could pick the address that per-IP throttling counts.
    forwarded_allow_ips: str = "127.0.0.1"
    # Seconds an idle HTTP keep-alive connection stays open; a proxy in front
    # must drop idle upstream connections sooner (deploy/nginx/latchkey.conf).
    keepalive_timeout: int = Field(default=5, ge=1)
    # FastAPI's own OpenTelemetry spans, metrics and logs, for a deployment that
    # installs an OpenTelemetry SDK (docs/deployment.md). Off, FastAPI no longer
    # looks for a configured provider on every request: about 9% of the CPU of a
    # cached /v1/users/me (measured).
    opentelemetry: bool = False
    data_dir: Path = Path("var")
    database_url: str = ""
    # Per worker process: each holds up to pool_size + max_overflow connections
    # (docs/deployment.md, connection budgeting).
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=0, ge=0)
    auto_migrate: bool = False

    issuer: str = "http://127.0.0.1:8000"
    audience: str = "latchkey"
    access_token_ttl: int = Field(default=900, gt=0)
    refresh_token_ttl: int = Field(default=604800, gt=0)
    session_max_age: int = Field(default=7776000, gt=0)
    refresh_reuse_grace: int = Field(default=10, ge=0)
    clock_leeway: int = Field(default=10, ge=0, le=60)
    signing_alg: Literal["ES256", "EdDSA", "RS256"] = "ES256"
    # Only seeds the first key of a fresh database; keys then live there, sealed
    # under the key-encryption key, and `latchkey keys rotate` replaces them.
    signing_key: SecretStr | None = None
    # At least 32 characters (e.g. `openssl rand -base64 32`); AES-GCM seals
    # the private signing keys stored in the database under a key derived from it.
    key_encryption_key: SecretStr | None = Field(default=None, min_length=32)
    # While the key-encryption key is being replaced (docs/deployment.md): a
    # second one that opens stored keys too, and never seals.
    other_key_encryption_key: SecretStr | None = Field(default=None, min_length=32)
    refresh_token_key: SecretStr | None = None

    password_min_length: int = Field(default=12, ge=8, le=1024)
    login_max_failures: int = Field(default=10, ge=1)
    login_failure_window: int = Field(default=900, ge=1)
    # Requests per client IP and window, failed or not: generous enough for a
    # busy NAT, tight enough to stop scripted account creation and token churn.
    signup_max_per_ip: int = Field(default=50, ge=1)
    signup_window: int = Field(default=3600, ge=1)
    refresh_max_per_ip: int = Field(default=600, ge=1)
    refresh_window: int = Field(default=60, ge=1)
    redis_url: SecretStr | None = None
    # Prefixes every throttling key, so that deployments can share one Redis.
    redis_key_prefix: str = Field(default="latchkey", min_length=1, max_length=64)

    @field_validator("database_url")
    @classmethod
    def _a_database_latchkey_speaks(cls, url: str) -> str:
        """SQLite, or PostgreSQL through psycopg 3; `postgresql://` and
        `postgres://` (what most tools print) mean the latter."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if not url:
            return url
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            # Not echoed: the rejected value may hold a password.
            raise ValueError("is not a database URL") from None
        if parsed.drivername in ("postgresql", "postgres"):
            return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
            raise ValueError("must be sqlite:///PATH or postgresql+psycopg://…")
        return url

    @model_validator(mode="after")
    def _other_key_encryption_key_beside_a_given_one(self) -> Settings:
        # Without a given key-encryption key a development one would be made up,
        # and `keys reseal` would seal every key under it, on one machine only.
        other = self.other_key_encryption_key
        if other is not None and self.key_encryption_key is None:
            raise ValueError(
                "LATCHKEY_OTHER_KEY_ENCRYPTION_KEY needs LATCHKEY_KEY_ENCRYPTION_KEY to be set"
            )
        if other is not None and self.key_encryption_key == other:
            raise ValueError(
                "LATCHKEY_OTHER_KEY_ENCRYPTION_KEY must differ from LATCHKEY_KEY_ENCRYPTION_KEY"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_its_secrets(self) -> Settings:
        # Generated development keys would differ per machine and live on local
        # disk: in production every instance must be given the same secrets.
        if self.env is Environment.PRODUCTION:
            missing = [
                name
                for name, value in (
                    ("LATCHKEY_KEY_ENCRYPTION_KEY", self.key_encryption_key),
                    ("LATCHKEY_REFRESH_TOKEN_KEY", self.refresh_token_key),
                    ("LATCHKEY_DATABASE_URL", self.database_url or None),
                )
                if value is None
            ]
            if missing:
                raise ValueError(
                    "LATCHKEY_ENV=production requires " + ", ".join(missing) + " to be set"
                )
        return self

    @cached_property
    def audiences(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.audience.split(",") if a.strip())

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'latchkey.db').as_posix()}"

    def masked(self) -> dict[str, object]:
        """The effective values with secrets (and the password inside a database URL) hidden."""
        values: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = "**********" if value.get_secret_value() else ""
            values[f"LATCHKEY_{name.upper()}"] = value
        values["LATCHKEY_DATABASE_URL"] = _mask_url(self.effective_database_url)
        return values


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    # libpq also takes its password, and a client key's, as URL parameters.
    hidden = {name: "masked" for name in parsed.query if "password" in name.lower()}
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)
