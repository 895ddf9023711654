"""Two instances on one PostgreSQL database and one Redis behave as one service:
sessions, revocation, throttling counts and signing keys are shared, concurrent
refreshes spread over both fork nothing, and nginx in front of them passes the
real client address on (docs/deployment.md)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from uuid import UUID

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, func, select

from adapters.key_store import RELOAD_INTERVAL_SECONDS, UNKNOWN_KID_RELOAD_GAP_SECONDS
from adapters.sql.tables import refresh_tokens, sessions
from tests.multi_instance.deployment import (
    ISSUER,
    LOGIN_MAX_FAILURES,
    Api,
    Deployment,
    new_email,
    poll,
    two_instances,
)
from tests.multi_instance.nginx import running_nginx
from tests.server import free_port

# This service refuses a revoked session's access tokens at once (API.md). An
# instance may cache "this session is live" in memory for at most one second;
# a revocation committed by the other instance reaches it sooner, as a notice
# (tests/e2e/test_revocation_across_processes.py shows that without the second);
# the margin covers a loaded machine. Refresh tokens always go to the
# database, so they are refused at once everywhere.
CROSS_INSTANCE_REVOCATION_SECONDS = 1.5
# Each worker rereads the signing keys at most this long after a rotation, and a
# token naming a key it has not loaded makes it reread within a second.
KEY_RELOAD_SECONDS = RELOAD_INTERVAL_SECONDS + UNKNOWN_KID_RELOAD_GAP_SECONDS + 2
CONCURRENT_REFRESHES = 8
RACE_ROUNDS = 3


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # B runs two workers: a worker is no different from another instance.
    workdir = tmp_path_factory.mktemp("two-instances")
    with two_instances(workdir, workers=(1, 2)) as started:
        yield started


@pytest.fixture(scope="module")
def load_balancer(deployment: Deployment) -> Iterator[str]:
    """nginx in front of both instances, from deploy/nginx/latchkey.conf."""
    upstreams = [instance.address for instance in deployment.instances]
    with running_nginx(deployment.workdir / "nginx", free_port(), upstreams) as base_url:
        yield base_url


def kid(access_token: str) -> str:
    return str(jwt.get_unverified_header(access_token)["kid"])


def published_kids(api: Api) -> set[str]:
    return {key["kid"] for key in api.jwks()["keys"]}


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code


def test_a_session_logged_out_on_one_instance_is_refused_on_the_other(
    deployment: Deployment,
) -> None:
    a, b = deployment.a.api, deployment.b.api
    email = new_email()
    a.signup(email)
    pair = a.tokens(email)
    assert b.me(pair["access_token"]).status_code == 200

    assert a.logout(pair["access_token"]).status_code == 204

    assert_refused(b.refresh(pair["refresh_token"]), "invalid_refresh_token")
    assert_refused(a.me(pair["access_token"]), "invalid_token")
    answer = poll(
        lambda: b.me(pair["access_token"]),
        until=lambda response: response.status_code == 401,
        within=CROSS_INSTANCE_REVOCATION_SECONDS,
    )
    assert_refused(answer, "invalid_token")


def test_a_token_retried_on_the_other_instance_within_the_grace_window_gets_the_same_successor(
    deployment: Deployment,
) -> None:
    # B can only answer with the successor that A sealed if both hold the same
    # LATCHKEY_REFRESH_TOKEN_KEY.
    a, b = deployment.a.api, deployment.b.api
    email = new_email()
    a.signup(email)
    parent = a.tokens(email)["refresh_token"]

    first = a.refresh(parent)
    retried = b.refresh(parent)

    assert first.status_code == retried.status_code == 200, retried.text
    assert retried.json()["refresh_token"] == first.json()["refresh_token"]
    assert b.me(first.json()["access_token"]).status_code == 200


def test_failed_logins_of_one_account_are_counted_across_both_instances(
    deployment: Deployment,
) -> None:
    a, b = deployment.a.api, deployment.b.api
    email = new_email()
    a.signup(email)
    # A new client address for each try: only the account count can add up.
    for attempt in range(LOGIN_MAX_FAILURES):
        instance = (a, b)[attempt % 2]
        wrong = instance.login(email, "not the password", forwarded_for=f"198.51.100.{attempt}")
        assert wrong.status_code == 401, wrong.text

    for instance in (a, b):
        throttled = instance.login(email, forwarded_for="198.51.100.200")
        assert throttled.status_code == 429, throttled.text
        assert int(throttled.headers["retry-after"]) >= 1


def test_failed_logins_from_one_address_are_counted_across_both_instances(
    deployment: Deployment,
) -> None:
    a, b = deployment.a.api, deployment.b.api
    email = new_email()
    a.signup(email)
    stuffer = "203.0.113.7"
    for attempt in range(LOGIN_MAX_FAILURES):
        instance = (a, b)[attempt % 2]
        assert instance.login(new_email(), forwarded_for=stuffer).status_code == 401

    for instance in (a, b):
        assert instance.login(email, forwarded_for=stuffer).status_code == 429
    assert b.login(email, forwarded_for="203.0.113.8").status_code == 200


def test_a_key_rotated_with_the_cli_is_published_and_verified_by_both_instances(
    deployment: Deployment,
) -> None:
    email = new_email()
    deployment.a.api.signup(email)
    before = deployment.a.api.tokens(email)
    old_kid = kid(before["access_token"])

    # A rotation published ahead: in both JWKS within seconds, signing only later.
    ahead = re.search(r"new key (\S+) ", deployment.cli("keys", "rotate"))
    assert ahead is not None
    for instance in deployment.instances:
        published = poll(
            partial(published_kids, instance.api),
            until=lambda kids: ahead.group(1) in kids,
            within=KEY_RELOAD_SECONDS,
        )
        assert published == {old_kid, ahead.group(1)}, instance.name
        assert kid(instance.api.tokens(email)["access_token"]) == old_kid, instance.name

    # Then one at once (a key that leaked): both sign with it within seconds.
    rotated = re.search(r"new active key (\S+) ", deployment.cli("keys", "rotate", "--now"))
    assert rotated is not None
    new_kid = rotated.group(1)
    assert new_kid != old_kid

    for instance in deployment.instances:
        published = poll(
            partial(published_kids, instance.api),
            until=lambda kids: new_kid in kids,
            within=KEY_RELOAD_SECONDS,
        )
        # The old keys stay published until the tokens they signed have expired.
        assert published == {old_kid, ahead.group(1), new_kid}, instance.name

    for signer in deployment.instances:
        token = _token_signed_with(signer.api, new_kid, email)
        for verifier in deployment.instances:
            answer = poll(
                partial(verifier.api.me, token),
                until=lambda response: response.status_code == 200,
                within=KEY_RELOAD_SECONDS,
            )
            assert answer.status_code == 200, f"{signer.name} -> {verifier.name}: {answer.text}"
            _verify_offline(token, verifier.api.jwks())
    for verifier in deployment.instances:
        assert verifier.api.me(before["access_token"]).status_code == 200


def _token_signed_with(api: Api, wanted_kid: str, email: str) -> str:
    """An access token from `api` signed with `wanted_kid`: each of its workers
    starts signing with a new key when it rereads the keys."""
    refresh_token = api.tokens(email)["refresh_token"]

    def next_access_token() -> str:
        nonlocal refresh_token
        response = api.refresh(refresh_token)
        assert response.status_code == 200, response.text
        refresh_token = response.json()["refresh_token"]
        return str(response.json()["access_token"])

    return poll(next_access_token, lambda t: kid(t) == wanted_kid, within=KEY_RELOAD_SECONDS)


def _verify_offline(token: str, jwks: dict[str, object]) -> None:
    """As another service does with the JWKS (docs/integrating.md)."""
    key = jwt.PyJWKSet.from_dict(jwks)[kid(token)]
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience="latchkey", issuer=ISSUER)
    assert claims["sid"]


def _race(clients: list[Api], refresh_token: str) -> list[httpx.Response]:
    """The same refresh token, presented by every client at the same moment."""
    start = threading.Barrier(len(clients))

    def present(client: Api) -> httpx.Response:
        start.wait()
        return client.refresh(refresh_token)

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(present, clients))


@pytest.mark.parametrize("through", ["both instances directly", "the load balancer"])
def test_concurrent_refreshes_of_one_token_spread_over_both_instances_fork_nothing(
    deployment: Deployment, through: str, request: pytest.FixtureRequest
) -> None:
    if through == "the load balancer":
        # nginx sends consecutive requests to the instances in turn.
        base_url: str = request.getfixturevalue("load_balancer")
        urls = [base_url] * CONCURRENT_REFRESHES
    else:
        urls = [deployment.instances[n % 2].base_url for n in range(CONCURRENT_REFRESHES)]
    # One client (one connection) each, so that nothing queues on the client side.
    clients = [deployment.client(url) for url in urls]
    email = new_email()
    deployment.a.api.signup(email)
    pair = deployment.a.api.tokens(email)
    token = pair["refresh_token"]

    for _ in range(RACE_ROUNDS):
        answers = _race(clients, token)

        assert {r.status_code for r in answers} <= {200, 401}, [r.text for r in answers]
        for refused in (r for r in answers if r.status_code == 401):
            assert refused.json()["code"] == "invalid_refresh_token"
        successors = {r.json()["refresh_token"] for r in answers if r.status_code == 200}
        # At most one successor (no fork), and at least one (the session lives on).
        assert len(successors) == 1, [r.text for r in answers]
        [token] = successors
        access_token = next(r for r in answers if r.status_code == 200).json()["access_token"]

    session_id = UUID(pair["session_id"])
    engine = create_engine(deployment.database_url)
    try:
        with engine.connect() as connection:
            issued = connection.scalar(
                select(func.count())
                .select_from(refresh_tokens)
                .where(refresh_tokens.c.session_id == session_id)
            )
            revoked_at = connection.scalar(
                select(sessions.c.revoked_at).where(sessions.c.id == session_id)
            )
    finally:
        engine.dispose()
    # One chain: the login's token and one successor per round, nothing else.
    assert issued == RACE_ROUNDS + 1
    assert revoked_at is None
    for instance in deployment.instances:
        assert instance.api.me(access_token).status_code == 200
    assert deployment.b.api.refresh(token).status_code == 200


def test_behind_the_load_balancer_throttling_counts_the_real_client_address(
    deployment: Deployment, load_balancer: str
) -> None:
    # Clients on other loopback addresses: nginx sees 127.0.0.3 and 127.0.0.4, the
    # instances see nginx (127.0.0.1, LATCHKEY_FORWARDED_ALLOW_IPS) and believe
    # the address that nginx puts in X-Forwarded-For.
    stuffer = deployment.client(load_balancer, local_address="127.0.0.3")
    bystander = deployment.client(load_balancer, local_address="127.0.0.4")
    email = new_email()
    bystander.signup(email)

    for attempt in range(LOGIN_MAX_FAILURES):
        # nginx replaces the forged header, so each try counts against 127.0.0.3.
        forged = f"192.0.2.{attempt}"
        assert stuffer.login(new_email(), forwarded_for=forged).status_code == 401

    assert stuffer.login(email, forwarded_for="192.0.2.99").status_code == 429
    # Had the instances counted nginx's own address, everyone would be throttled now.
    assert bystander.login(email).status_code == 200
    # nginx took turns: both instances served the stuffer, and logged its address.
    for instance in deployment.instances:
        assert '"client_ip": "127.0.0.3"' in instance.log.read_text(), instance.name


def test_a_client_that_is_no_trusted_proxy_cannot_choose_its_address(
    deployment: Deployment,
) -> None:
    direct = deployment.client(deployment.a.base_url, local_address="127.0.0.5")
    email = new_email()
    deployment.a.api.signup(email)

    for attempt in range(LOGIN_MAX_FAILURES):
        forged = f"192.0.2.{100 + attempt}"
        assert direct.login(new_email(), forwarded_for=forged).status_code == 401

    assert direct.login(email, forwarded_for="192.0.2.200").status_code == 429


def test_the_instances_keep_nothing_on_their_local_disks(deployment: Deployment) -> None:
    # Every secret came from the environment and every record went to the shared
    # stores: a replacement instance on a fresh machine serves the same sessions.
    for instance in deployment.instances:
        assert list(instance.data_dir.iterdir()) == [], instance.name
