"""FastAPI's native OpenTelemetry: off unless LATCHKEY_OPENTELEMETRY asks for it.

Off, no request looks for a configured tracer provider (a cost paid by every
request otherwise); on, FastAPI consults it as usual.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import trace

from tests.e2e.conftest import build_api, make_settings


def _provider_lookups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool) -> int:
    lookups = 0
    real = trace.get_tracer_provider

    def counting() -> trace.TracerProvider:
        nonlocal lookups
        lookups += 1
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counting)
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'otel.db'}", opentelemetry=enabled)
    apis = build_api(settings)
    api = next(apis)
    try:
        before = lookups
        for _ in range(3):
            assert api.client.get("/healthz").status_code == 200
        return lookups - before
    finally:
        next(apis, None)


def test_by_default_requests_never_look_for_an_opentelemetry_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _provider_lookups(tmp_path, monkeypatch, enabled=False) == 0


def test_with_opentelemetry_on_every_request_consults_the_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _provider_lookups(tmp_path, monkeypatch, enabled=True) >= 3
