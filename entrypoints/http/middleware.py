"""Pure ASGI middleware: request ids, the body size limit and route latency."""

from __future__ import annotations

import itertools
import os
import secrets
import time

import orjson
import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.metrics import Metrics
from entrypoints.http.metrics import METRICS_PATH
from entrypoints.http.oauth_errors import OAUTH_PREFIX
from entrypoints.http.problems import PROBLEM_JSON

MAX_BODY_BYTES = 64 * 1024

# Request ids only need to be unique, not secret: a random prefix per process
# and a counter cost nothing per request, unlike a uuid4 (a getrandom call).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def _new_id_prefix() -> None:
    # A forked worker (a pre-loading server) must not repeat its parent's ids.
    global _ID_PREFIX
    _ID_PREFIX = secrets.token_hex(8)


os.register_at_fork(after_in_child=_new_id_prefix)
REQUEST_ID_HEADER = b"x-request-id"
# Latency label values come from this set and from route templates only: a
# client inventing methods or paths cannot grow the number of time series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """Raised while a streamed body is read. An HTTPException, because FastAPI turns
    any other error raised while it reads a body into a 400."""

    def __init__(self) -> None:
        super().__init__(413, f"the request body exceeds {MAX_BODY_BYTES} bytes")


async def _send_too_large(send: Send, path: str) -> None:
    detail = f"the request body exceeds {MAX_BODY_BYTES} bytes"
    content_type = PROBLEM_JSON
    extra: list[tuple[bytes, bytes]] = []
    body = orjson.dumps(
        {
            "type": "urn:latchkey:problem:payload_too_large",
            "title": "Request Entity Too Large",
            "status": 413,
            "detail": detail,
            "code": "payload_too_large",
        }
    )
    if path.startswith(OAUTH_PREFIX):
        # Under /oauth/ every error has the RFC 6749 shape (oauth_errors.py), this one too.
        content_type = "application/json"
        body = orjson.dumps({"error": "invalid_request", "error_description": detail})
        extra = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestPipeline:
    """What every HTTP request goes through, in one ASGI layer (it was three
    nested ones; merging them was no measurable speed-up, only less code):

    - an id, kept from X-Request-ID when sane, sent back in X-Request-ID and
      bound, with the client IP, to every log line of the request;
    - bodies over 64 KiB refused before anything parses them, declared or streamed;
    - the time the request took, observed per route template.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _incoming_id(scope) or f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"
        client = scope.get("client")
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, client_ip=client[0] if client else None
        )
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        max_bytes = self.max_bytes
        received = 0
        started = False
        method = scope["method"]
        head = method == "HEAD"
        if head:
            # RFC 9110 9.3.2: HEAD is GET without the body (health probes use
            # it). FastAPI's routes answer only the methods they name.
            scope = {**scope, "method": "GET"}

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            if _declared_too_large(scope, max_bytes):
                await _send_too_large(send_with_id, scope["path"])
            else:
                await self.app(scope, counting_receive, send_with_id)
        except BodyTooLarge:
            if not started:
                await _send_too_large(send_with_id, scope["path"])
        finally:
            # The method as asked: HEAD probes are not GETs of the same route.
            self._observe(scope, method, time.perf_counter() - start)

    def _observe(self, scope: Scope, method: str, seconds: float) -> None:
        # The router records the matched route in the scope it was given.
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        if route != METRICS_PATH:  # scraping does not count itself
            label = method if method in _METHODS else "OTHER"
            self.metrics.observe_request(label, route, seconds)


def _declared_too_large(scope: Scope, max_bytes: int) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                if int(value) > max_bytes:
                    return True
            except ValueError:
                return True
    return False


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            text = bytes(value).decode("latin-1")
            # Only ids that cannot inject anything into logs or headers.
            if 0 < len(text) <= 128 and all(_safe_id_char(c) for c in text):
                return text
    return None


def _safe_id_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "-_.")
