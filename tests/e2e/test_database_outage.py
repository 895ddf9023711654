"""A real PostgreSQL that goes away: a private cluster that these tests stop and start,
and server connections that they cut in the middle of a request (SECURITY 25-27)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text

from adapters.sql.migrate import upgrade
from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.e2e.conftest import OTHER_PASSWORD, PASSWORD, Api, build_api, make_settings
from tests.fakes import FakeClock
from tests.leaks import watch
from tests.pgcluster import PrivateCluster, private_cluster
from tests.relay import Relay

UNAVAILABLE = {
    "type": "urn:latchkey:problem:service_unavailable",
    "title": "Service Unavailable",
    "status": 503,
    "detail": "the service is temporarily unavailable, try again shortly",
    "code": "service_unavailable",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as running:
        yield running


@dataclass
class Outage:
    cluster: PrivateCluster
    url: str
    tmp_path: Path


@pytest.fixture
def outage(cluster: PrivateCluster, tmp_path: Path) -> Iterator[Outage]:
    """A fresh, migrated database in the cluster, which is up when the test starts."""
    if not cluster.is_running():
        cluster.start()
    name = f"outage_{uuid4().hex}"
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = cluster.url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield Outage(cluster=cluster, url=url, tmp_path=tmp_path)
    if not cluster.is_running():
        cluster.start()
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg(outage: Outage) -> Iterator[Api]:
    yield from build_api(make_settings(outage.tmp_path, outage.url))


def assert_unavailable(response: httpx.Response) -> None:
    """503, Retry-After, a body that says nothing about the cause, and no token."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == UNAVAILABLE
    assert int(response.headers["retry-after"]) >= 1


def _auth(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_while_postgresql_is_down_every_route_answers_503_with_retry_after_and_no_token(
    pg: Api, outage: Outage
) -> None:
    pg.signup()
    pair = pg.login()
    outage.cluster.stop()

    calls = [
        ("POST", "/v1/auth/signup", {"email": "bob@example.com", "password": PASSWORD}, {}),
        ("POST", "/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}, {}),
        ("POST", "/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, {}),
        ("GET", "/v1/users/me", None, _auth(pair)),
        ("GET", "/v1/sessions", None, _auth(pair)),
        ("DELETE", f"/v1/sessions/{pair['session_id']}", None, _auth(pair)),
        (
            "POST",
            "/v1/users/me/password",
            {"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
            _auth(pair),
        ),
        ("DELETE", "/v1/users/me", {"password": PASSWORD}, _auth(pair)),
        ("POST", "/v1/auth/logout", {"scope": "global"}, _auth(pair)),
    ]
    for method, path, body, headers in calls:
        assert_unavailable(pg.client.request(method, path, json=body, headers=headers))


def test_readyz_turns_503_while_postgresql_is_down_and_healthz_stays_200(
    pg: Api, outage: Outage
) -> None:
    assert pg.client.get("/readyz").status_code == 200
    outage.cluster.stop()

    ready = pg.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["code"] == "service_unavailable"
    assert int(ready.headers["retry-after"]) >= 1
    assert pg.client.get("/healthz").status_code == 200

    outage.cluster.start()
    assert pg.client.get("/readyz").status_code == 200


def test_the_next_request_after_postgresql_is_back_succeeds_without_a_restart(
    pg: Api, outage: Outage
) -> None:
    pg.signup()
    pair = pg.login()
    outage.cluster.stop()
    assert_unavailable(pg.refresh(pair["refresh_token"]))

    outage.cluster.start()

    # The pool held connections to the old server; each is replaced at checkout.
    assert pg.me(pair["access_token"]).status_code == 200
    fresh = pg.refresh(pair["refresh_token"])
    assert fresh.status_code == 200
    assert pg.me(fresh.json()["access_token"]).status_code == 200
    pg.login()


@contextmanager
def instance_without_migrating(outage: Outage) -> Iterator[Api]:
    container = Container()
    container.settings.override(providers.Object(make_settings(outage.tmp_path, outage.url)))
    clock = FakeClock()
    container.clock.override(providers.Object(clock))
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        watch(client)
        yield Api(client=client, clock=clock, container=container)
    container.engine().dispose()
    container.unwire()


def test_an_instance_started_while_postgresql_is_down_answers_503_then_serves_once_it_is_up(
    outage: Outage,
) -> None:
    outage.cluster.stop()
    with instance_without_migrating(outage) as api:
        # The engine's very first connect fails here.
        body = {"email": "ada@example.com", "password": PASSWORD}
        assert_unavailable(api.client.post("/v1/auth/signup", json=body))
        assert_unavailable(api.client.post("/v1/auth/login", json=body))
        assert api.client.get("/readyz").status_code == 503

        outage.cluster.start()

        assert api.client.get("/readyz").status_code == 200
        api.signup()
        assert api.me(api.login()["access_token"]).status_code == 200


@contextmanager
def connection_cut_before(
    engine: Engine, cluster: PrivateCluster, statement: str
) -> Iterator[None]:
    """Terminate the server side of the connection that is about to run `statement`
    (a prefix such as "INSERT INTO refresh_tokens"), once."""
    armed = True

    def before_statement(conn: Connection, _: Any, sent: str, *__: Any) -> None:
        nonlocal armed
        if armed and sent.lstrip().upper().startswith(statement):
            armed = False
            cluster.terminate_backend(conn.connection.dbapi_connection.info.backend_pid)  # type: ignore[union-attr]

    event.listen(engine, "before_cursor_execute", before_statement)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before_statement)
    assert not armed, f"no {statement} was run"


def _count(url: str, query: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


# On PostgreSQL the user's lock and the inserts of the session and its first
# token are one statement (data-modifying CTEs, the first named `locked`), which
# commits as it runs: there is no COMMIT to cut.
def test_a_login_whose_connection_drops_mid_request_answers_503_and_issues_nothing(
    pg: Api, outage: Outage
) -> None:
    pg.signup()
    body = {"email": "ada@example.com", "password": PASSWORD}

    with connection_cut_before(pg.container.engine(), outage.cluster, "WITH LOCKED AS"):
        response = pg.client.post("/v1/auth/login", json=body)

    assert_unavailable(response)
    assert _count(outage.url, "SELECT count(*) FROM sessions") == 0
    assert _count(outage.url, "SELECT count(*) FROM refresh_tokens") == 0
    assert pg.me(pg.login()["access_token"]).status_code == 200


# On PostgreSQL the spend, the successor's insert and the session's touch are one
# statement (data-modifying CTEs, the first named `spent`), which commits as it
# runs: there is no COMMIT to cut.
def test_a_refresh_whose_connection_drops_mid_request_answers_503_and_spends_nothing(
    pg: Api, outage: Outage
) -> None:
    pg.signup()
    pair = pg.login()

    with connection_cut_before(pg.container.engine(), outage.cluster, "WITH SPENT AS"):
        response = pg.refresh(pair["refresh_token"])

    assert_unavailable(response)
    assert _count(outage.url, "SELECT count(*) FROM refresh_tokens") == 1
    unspent = "SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NULL"
    assert _count(outage.url, unspent) == 1
    # The token was not spent, so presenting it again is a plain rotation, not reuse.
    retry = pg.refresh(pair["refresh_token"])
    assert retry.status_code == 200
    assert pg.refresh(retry.json()["refresh_token"]).status_code == 200


@pytest.fixture
def relay(outage: Outage) -> Iterator[Relay]:
    """A relay in front of the outage cluster, which can lose an answer."""
    url = make_url(outage.url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    yield relay
    relay.close()


@pytest.fixture
def relayed(outage: Outage, relay: Relay) -> Iterator[Api]:
    """The service on the outage database, through `relay` (torn down first)."""
    url = make_url(outage.url).set(host="127.0.0.1", port=relay.port)
    yield from build_api(make_settings(outage.tmp_path, url.render_as_string(False)))


def test_a_refresh_whose_committed_rotation_lost_its_answer_is_handed_back_on_retry(
    relayed: Api, relay: Relay, outage: Outage
) -> None:
    # The rotation commits as it runs (no transaction): when its answer is
    # lost, the token is spent though the client got a 503. The client's retry
    # within the grace window is the way back, as for a lost HTTP response.
    api = relayed
    api.signup()
    pair = api.login()

    armed = True

    def lose_the_answer(conn: Connection, _: Any, sent: str, *__: Any) -> None:
        nonlocal armed
        if armed and sent.lstrip().upper().startswith("WITH SPENT AS"):
            armed = False
            relay.lose_next_answer()

    event.listen(api.container.engine(), "before_cursor_execute", lose_the_answer)
    response = api.refresh(pair["refresh_token"])
    event.remove(api.container.engine(), "before_cursor_execute", lose_the_answer)

    assert_unavailable(response)
    spent = "SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NOT NULL"
    assert _count(outage.url, spent) == 1
    retry = api.refresh(pair["refresh_token"])
    assert retry.status_code == 200, retry.text
    assert _count(outage.url, "SELECT count(*) FROM refresh_tokens") == 2  # one successor
    assert api.refresh(retry.json()["refresh_token"]).status_code == 200


def test_readyz_is_503_when_the_database_accepts_connections_but_never_answers(
    tmp_path: Path,
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/latchkey"
    container = Container()
    container.settings.override(providers.Object(make_settings(tmp_path, url)))
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["code"] == "service_unavailable"
            assert client.get("/healthz").status_code == 200
            # Resets the connection that readyz gave up on, so that its thread ends now.
            silent.close()
    finally:
        silent.close()
        container.unwire()
