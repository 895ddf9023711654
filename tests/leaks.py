"""The secrets of the whole test run and everything it printed or logged, so that a
last test can show that no log line holds a password or a refresh token (SECURITY 30).

Secrets come from the HTTP clients of the tests (`watch`: every password sent,
every refresh token received) and from the known test passwords. Output comes
from pytest's per-test capture (stdout, stderr, log), from a handler on the
root logger, and from server processes (`record`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx

# Shorter values ("short", "x" * 5) are not secrets worth the name and occur in
# ordinary text, so they would only cause false alarms.
MIN_SECRET_LENGTH = 12
_SECRET_FIELDS = ("password", "refresh_token", "client_secret")
_TOKEN_RUN = re.compile(rf"[A-Za-z0-9_\-]{{{MIN_SECRET_LENGTH},}}")
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-]+")


@dataclass
class Ledger:
    # Opaque tokens are found by cutting text into base64url runs (fast over a
    # lot of output); other secrets (passwords, with spaces) by substring search.
    tokens: set[str] = field(default_factory=set)
    phrases: set[str] = field(default_factory=set)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    # How many outputs the last check has read.
    checked_until: int = 0

    def remember(self, value: object) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        if _TOKEN_LIKE.fullmatch(value):
            self.tokens.add(value)
        else:
            self.phrases.add(value)

    def record(self, where: str, text: str) -> None:
        if text:
            self.outputs.append((where, text))

    def leaks(self, start: int = 0) -> list[str]:
        """One description per leaking line of the outputs recorded from `start` on,
        with the secret itself replaced: the report must not leak it again."""
        found = []
        for where, text in self.outputs[start:]:
            for line in text.splitlines():
                secrets = set(self._secrets_in(line))
                if not secrets:
                    continue
                for secret in secrets:
                    line = line.replace(secret, "<SECRET>")
                names = ", ".join(sorted(_fingerprint(secret) for secret in secrets))
                found.append(f"{where}: {names} in: {line[:200]}")
        return found

    def _secrets_in(self, line: str) -> Iterator[str]:
        yield from (phrase for phrase in self.phrases if phrase in line)
        if not self.tokens:
            return
        lengths = {len(token) for token in self.tokens}
        for run in _TOKEN_RUN.findall(line):
            for length in lengths:
                for start in range(len(run) - length + 1):
                    if run[start : start + length] in self.tokens:
                        yield run[start : start + length]


def _fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


LEDGER = Ledger()


def _secret_fields(value: object) -> Iterator[object]:
    if isinstance(value, dict):
        for key, item in value.items():
            if any(name in str(key).lower() for name in _SECRET_FIELDS):
                yield item
            yield from _secret_fields(item)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_fields(item)


def _remember_body(content: bytes, content_type: str) -> None:
    if not content:
        return
    try:
        if "json" in content_type:
            payload: object = json.loads(content)
        elif "x-www-form-urlencoded" in content_type:
            payload = dict(parse_qsl(content.decode("utf-8", "replace")))
        else:
            return
    except (ValueError, RecursionError):  # tests send broken and hostile bodies on purpose
        return
    for secret in _secret_fields(payload):
        LEDGER.remember(secret)


def _on_request(request: httpx.Request) -> None:
    # A streamed body (a generator) cannot be read twice; the tests that
    # stream send nothing secret.
    if isinstance(request.stream, httpx.ByteStream):
        _remember_body(request.content, request.headers.get("content-type", ""))


def _on_response(response: httpx.Response) -> None:
    response.read()
    _remember_body(response.content, response.headers.get("content-type", ""))


async def _on_request_async(request: httpx.Request) -> None:
    _on_request(request)


async def _on_response_async(response: httpx.Response) -> None:
    await response.aread()
    _remember_body(response.content, response.headers.get("content-type", ""))


def watch(client: httpx.Client | httpx.AsyncClient) -> None:
    """Remember every password this client sends and every refresh token it receives."""
    if isinstance(client, httpx.AsyncClient):
        client.event_hooks = {"request": [_on_request_async], "response": [_on_response_async]}
    else:
        client.event_hooks = {"request": [_on_request], "response": [_on_response]}


class LedgerHandler(logging.Handler):
    """Keeps every record that reaches the root logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            LEDGER.record(f"log record {record.name}", self.format(record))
        except Exception:  # a broken record must not break the test that logged it
            self.handleError(record)
