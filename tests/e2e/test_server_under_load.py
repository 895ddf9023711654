"""A storm of logins against a real `latchkey serve` process: hashing stays bounded and
off the event loop (SECURITY 24), and every login is audited with its own request id
and client address although the routes run in a thread pool (SECURITY 31)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import PASSWORD
from tests.leaks import watch
from tests.server import Server, serving

LOGINS = 100
# Loose on purpose: unbounded hashing would hold 19 MiB per login in flight
# (about 2 GiB for 100); the bound keeps it to a few verifies at a time.
MAX_RSS_GROWTH = 500 * 1024 * 1024
BODY = {"email": "ada@example.com", "password": PASSWORD}


def memory_bytes(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


async def login_storm(base_url: str) -> tuple[list[httpx.Response], list[int]]:
    """Fire every login at once; poll /healthz until they are all answered.

    Returns the login responses and the status of each health check that was
    answered while logins were still waiting.
    """
    limits = httpx.Limits(max_connections=LOGINS + 10, max_keepalive_connections=LOGINS + 10)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        watch(client)
        logins = [
            asyncio.create_task(client.post("/v1/auth/login", json=BODY)) for _ in range(LOGINS)
        ]
        health_during_storm: list[int] = []
        while not all(login.done() for login in logins):
            health = await client.get("/healthz")
            if not all(login.done() for login in logins):
                health_during_storm.append(health.status_code)
            await asyncio.sleep(0.02)
        return [login.result() for login in logins], health_during_storm


def audit_lines(server: Server) -> list[dict[str, Any]]:
    lines = []
    for line in server.log.read_text().splitlines():
        if line.startswith("{") and '"latchkey.audit"' in line:
            lines.append(json.loads(line))
    return lines


def test_a_hundred_parallel_logins_cause_no_5xx_nor_memory_blow_up_and_healthz_answers(
    tmp_path: Path,
) -> None:
    # About hashing cost, not throttling: parallel logins of one account are
    # counted against its attempt budget while in flight, so raise the budget.
    with serving(
        tmp_path / "var",
        f"sqlite:///{tmp_path / 'load.db'}",
        login_max_failures=str(2 * LOGINS),
    ) as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            watch(client)
            user = client.post("/v1/auth/signup", json=BODY).json()
            assert client.post("/v1/auth/login", json=BODY).status_code == 200  # warm
        baseline = memory_bytes(server.pid, "VmRSS")

        responses, health_during_storm = asyncio.run(login_storm(server.base_url))

        peak = memory_bytes(server.pid, "VmHWM")
        assert [r.status_code for r in responses] == [200] * LOGINS
        assert health_during_storm, "no health check was answered while logins were waiting"
        assert set(health_during_storm) == {200}
        assert peak - baseline < MAX_RSS_GROWTH, f"{(peak - baseline) / 2**20:.0f} MiB"

        # Each login wrote one audit line naming its own request, session and client.
        sessions = {r.headers["x-request-id"]: r.json()["session_id"] for r in responses}
        logins = {
            line["request_id"]: line for line in audit_lines(server) if line["event"] == "login"
        }
        assert sessions.keys() <= logins.keys()
        for request_id, session_id in sessions.items():
            line = logins[request_id]
            assert line["session_id"] == session_id
            assert line["user_id"] == user["id"]
            assert line["client_ip"] == "127.0.0.1"
