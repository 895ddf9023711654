"""Set-up calls to the running service (not measured): sign-up, logins, a service client."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

import httpx

from bench.servers import BIN, REPO


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


def sign_up(base_url: str, email: str, password: str) -> None:
    response = httpx.post(
        f"{base_url}/v1/auth/signup", json={"email": email, "password": password}, timeout=30
    )
    if response.status_code != 201:
        raise RuntimeError(f"sign-up failed: {response.status_code} {response.text[:300]}")


def log_in_many(
    base_url: str, emails: Sequence[str], password: str, threads: int = 8
) -> list[TokenPair]:
    """One new session per email (an email may repeat), through the API."""

    def log_in(client: httpx.Client, email: str) -> TokenPair:
        response = client.post(
            "/v1/auth/login",
            json={"email": email, "password": password, "device_name": "bench"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"login failed: {response.status_code} {response.text[:300]}")
        body = response.json()
        return TokenPair(body["access_token"], body["refresh_token"])

    limits = httpx.Limits(max_connections=threads)
    with (
        httpx.Client(base_url=base_url, timeout=60, limits=limits) as client,
        ThreadPoolExecutor(max_workers=threads) as pool,
    ):
        return list(pool.map(lambda email: log_in(client, email), emails))


def introspect_exists(base_url: str) -> bool:
    """False while /oauth/introspect is not built (404); any other answer means it is."""
    response = httpx.post(f"{base_url}/oauth/introspect", data={"token": "x"}, timeout=30)
    return response.status_code != 404


def create_service_client(env: Mapping[str, str]) -> tuple[str, str] | str:
    """(client_id, client_secret) from `latchkey clients create --json`, or why not."""
    result = subprocess.run(
        [str(BIN / "latchkey"), "clients", "create", "bench-introspect", "--json"],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        return f"`latchkey clients create --json` failed: {result.stderr.strip()[-200:]}"
    try:
        created = json.loads(result.stdout.strip().splitlines()[-1])
        return str(created["client_id"]), str(created["client_secret"])
    except (ValueError, KeyError, IndexError):
        return f"`latchkey clients create --json` printed no JSON: {result.stdout[-200:]!r}"


def basic_auth(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: both parts form-urlencoded before base64.
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return base64.b64encode(pair.encode()).decode()


def probe_introspect(base_url: str, basic: str, access_token: str) -> str | None:
    """None when /oauth/introspect says the token is active, else why it cannot be measured."""
    try:
        response = httpx.post(
            f"{base_url}/oauth/introspect",
            data={"token": access_token, "token_type_hint": "access_token"},
            headers={"Authorization": f"Basic {basic}"},
            timeout=30,
        )
    except httpx.HTTPError as error:
        return f"POST /oauth/introspect failed: {error}"
    if response.status_code == 404:
        return "POST /oauth/introspect answers 404 (not built yet)"
    if response.status_code != 200:
        return f"POST /oauth/introspect answers {response.status_code}"
    try:
        active = response.json().get("active")
    except ValueError:
        active = None
    if active is not True:
        return f"POST /oauth/introspect does not say active: {response.text[:200]}"
    return None


def write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path
