"""Logins wait for their hash on threads of their own: a burst of them does not
hold up the requests that only need the database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dependency_injector import providers

from tests.e2e.conftest import PASSWORD, Api


class HeldHasher:
    """The real hasher, except that verifying waits until the test lets go."""

    def __init__(self, real: Any, gate: threading.Event) -> None:
        self._real = real
        self._gate = gate
        self.waiting = threading.Semaphore(0)

    def verify(self, password: str, password_hash: str) -> bool:
        self.waiting.release()
        self._gate.wait(timeout=30)
        return bool(self._real.verify(password, password_hash))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_burst_of_logins_waiting_for_their_hash_does_not_hold_up_refreshes(api: Api) -> None:
    api.signup()
    pair = api.login()
    threads = api.container.settings().worker_threads
    gate = threading.Event()
    held = HeldHasher(api.container.hasher(), gate)
    api.container.hasher.override(providers.Object(held))
    burst = threads + 2
    credentials = {"email": "ada@example.com", "password": PASSWORD}
    with ThreadPoolExecutor(max_workers=burst + 1) as pool:
        try:
            logins = [
                pool.submit(api.client.post, "/v1/auth/login", json=credentials)
                for _ in range(burst)
            ]
            for _ in range(threads):  # every hashing thread is taken
                assert held.waiting.acquire(timeout=10)

            refresh = pool.submit(api.refresh, pair["refresh_token"])
            assert refresh.result(timeout=10).status_code == 200
            assert api.me(pair["access_token"]).status_code == 200
        finally:
            gate.set()
            api.container.hasher.reset_override()
        assert [login.result(timeout=30).status_code for login in logins] == [200] * burst
