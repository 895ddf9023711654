"""Two Latchkey instances as production runs them: separate `latchkey serve`
processes on one PostgreSQL database and one Redis, with the same secrets and the
same issuer, and each with its own data dir, so that nothing can be shared
through the disk. Started once per test module: a start costs seconds."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from adapters.sql.migrate import upgrade
from tests.e2e.conftest import PASSWORD
from tests.leaks import watch
from tests.pg import create_database_or_skip, drop_database
from tests.redis_server import REDIS_URL, delete_keys, require_redis, unique_namespace
from tests.server import LATCHKEY, serving

# Not the address of either instance: behind a load balancer they answer for one name.
ISSUER = "https://auth.example.test"
LOGIN_MAX_FAILURES = 3
POLL_STEP_SECONDS = 0.1

T = TypeVar("T")


class Api:
    """The HTTP API at one address: an instance, or the load balancer."""

    def __init__(self, base_url: str, *, local_address: str | None = None) -> None:
        # A client bound to another loopback address (127.0.0.x) is another
        # client IP, as far as the server it connects to can tell.
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        self.http = httpx.Client(base_url=base_url, timeout=15, transport=transport)
        watch(self.http)

    def signup(self, email: str) -> None:
        response = self.http.post("/v1/auth/signup", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text

    def login(
        self, email: str, password: str = PASSWORD, *, forwarded_for: str | None = None
    ) -> httpx.Response:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        return self.http.post(
            "/v1/auth/login", json={"email": email, "password": password}, headers=headers
        )

    def tokens(self, email: str) -> dict[str, Any]:
        """A fresh session's token pair."""
        response = self.login(email)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.http.post("/v1/auth/refresh", json={"refresh_token": refresh_token})

    def me(self, access_token: str) -> httpx.Response:
        return self.http.get("/v1/users/me", headers={"Authorization": f"Bearer {access_token}"})

    def logout(self, access_token: str) -> httpx.Response:
        return self.http.post(
            "/v1/auth/logout", headers={"Authorization": f"Bearer {access_token}"}
        )

    def jwks(self) -> dict[str, Any]:
        response = self.http.get("/.well-known/jwks.json")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        self.http.close()


@dataclass
class Instance:
    name: str
    address: str  # host:port, as a load balancer names it
    api: Api
    data_dir: Path
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"


@dataclass
class Deployment:
    database_url: str
    settings: dict[str, str]  # what every instance and the CLI are given
    workdir: Path
    a: Instance
    b: Instance
    extra_clients: list[Api] = field(default_factory=list)

    @property
    def instances(self) -> tuple[Instance, Instance]:
        return (self.a, self.b)

    def client(self, base_url: str, *, local_address: str | None = None) -> Api:
        """Another client, closed with the deployment."""
        api = Api(base_url, local_address=local_address)
        self.extra_clients.append(api)
        return api

    def cli(self, *args: str) -> str:
        """`latchkey ARGS` as an operator runs it against the shared database."""
        return run_cli(self.settings, self.database_url, self.workdir / "cli", *args)


def run_cli(settings: dict[str, str], database_url: str, data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    env.update({f"LATCHKEY_{k.upper()}": v for k, v in settings.items()})
    env.update(LATCHKEY_DATABASE_URL=database_url, LATCHKEY_DATA_DIR=str(data_dir))
    done = subprocess.run(
        [LATCHKEY, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"latchkey {' '.join(args)}: {done.stderr}"
    return done.stdout


@contextmanager
def two_instances(
    workdir: Path, *, workers: tuple[int, int] = (1, 1), **overrides: str
) -> Iterator[Deployment]:
    """Instances A and B with these worker counts, started together; with
    PostgreSQL or Redis unreachable: skipped, or failed when CI is set."""
    require_redis()
    database_url = create_database_or_skip()
    prefix = unique_namespace()
    settings = {
        "env": "production",
        # Production refuses to start without these; they must be identical on
        # every instance, or B could neither open the signing keys that A stored
        # nor recognise the refresh tokens that A issued.
        "key_encryption_key": secrets.token_urlsafe(32),
        "refresh_token_key": secrets.token_urlsafe(32),
        "issuer": ISSUER,
        "redis_url": REDIS_URL,
        "redis_key_prefix": prefix,  # this run's own counters, deleted afterwards
        "login_max_failures": str(LOGIN_MAX_FAILURES),
        "database_pool_size": "4",
        "database_max_overflow": "4",
        # As in production: `latchkey migrate` runs first, `serve` only checks.
        "auto_migrate": "false",
        **overrides,
    }
    with ExitStack() as stack:
        stack.callback(drop_database, database_url)
        stack.callback(delete_keys, prefix)
        # What `latchkey migrate` does, without the seconds a CLI start costs.
        upgrade(database_url)
        data_dirs = [workdir / "a-data", workdir / "b-data"]
        for data_dir in data_dirs:
            data_dir.mkdir(parents=True)
        # Both at once, as a deployment starts: they also race to create the
        # first signing key of the fresh database, and must agree on one.
        with ThreadPoolExecutor(2) as pool:
            starting = [
                pool.submit(
                    stack.enter_context,
                    serving(data_dir, database_url, workers=count, **settings),
                )
                for data_dir, count in zip(data_dirs, workers, strict=True)
            ]
            servers = [future.result() for future in starting]
        a, b = (
            Instance(
                name=name,
                address=server.base_url.removeprefix("http://"),
                api=Api(server.base_url),
                data_dir=data_dir,
                log=server.log,
            )
            for name, server, data_dir in zip("AB", servers, data_dirs, strict=True)
        )
        deployment = Deployment(database_url, settings, workdir, a, b)
        try:
            yield deployment
        finally:
            for api in [a.api, b.api, *deployment.extra_clients]:
                api.close()


def poll(fetch: Callable[[], T], until: Callable[[T], bool], within: float) -> T:
    """Fetch until the answer satisfies `until` or `within` seconds have passed;
    return the last answer, for the caller to assert on."""
    deadline = time.monotonic() + within
    answer = fetch()
    while not until(answer) and time.monotonic() < deadline:
        time.sleep(POLL_STEP_SECONDS)
        answer = fetch()
    return answer


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"
