"""Reuse detection across instances: a refresh token spent on one instance and
replayed on the other after the grace window kills the session on both.

Its own pair of instances, with a one-second grace window so that the replay
can wait it out; the other suite keeps the default window, which its
concurrent refreshes need (a straggler past the window would be reuse)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.multi_instance.deployment import Deployment, new_email, poll, two_instances

GRACE_SECONDS = 1
# See test_two_instances.py: a revocation committed by one instance may take up
# to a second to be seen by the other's in-process session cache.
CROSS_INSTANCE_REVOCATION_SECONDS = 1.5


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("two-instances-short-grace")
    with two_instances(workdir, refresh_reuse_grace=str(GRACE_SECONDS)) as started:
        yield started


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code


def test_a_token_rotated_on_one_instance_and_replayed_on_the_other_kills_the_session_on_both(
    deployment: Deployment,
) -> None:
    a, b = deployment.a.api, deployment.b.api
    email = new_email()
    a.signup(email)
    stolen = a.tokens(email)["refresh_token"]
    rotated = a.refresh(stolen)
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()
    assert b.me(newest["access_token"]).status_code == 200

    time.sleep(GRACE_SECONDS + 0.5)  # past the grace window: a replay is reuse
    assert_refused(b.refresh(stolen), "invalid_refresh_token")

    # The whole session is dead, its newest tokens included, wherever presented.
    for instance in (a, b):
        assert_refused(instance.refresh(newest["refresh_token"]), "invalid_refresh_token")
    assert_refused(b.me(newest["access_token"]), "invalid_token")
    answer = poll(
        lambda: a.me(newest["access_token"]),
        until=lambda response: response.status_code == 401,
        within=CROSS_INSTANCE_REVOCATION_SECONDS,
    )
    assert_refused(answer, "invalid_token")
