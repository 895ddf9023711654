"""With several workers, /metrics counts the requests of all of them, whichever
worker answers the scrape; the files that hold the counts go when the server stops."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server import serving

REQUESTS = 24
SCRAPES = 6


def _me_requests_counted(metrics_text: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "latchkey_http_request_duration_seconds_count" and sample.labels == {
                "method": "GET",
                "route": "/v1/users/me",
            }:
                return sample.value
    return 0.0


def test_every_scrape_counts_the_requests_of_both_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the server makes its directory
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    database = f"sqlite:///{tmp_path / 'metrics.db'}"
    with serving(tmp_path / "var", database, workers=2) as server:
        answered_by = set()
        for _ in range(REQUESTS):
            # A connection per request: the kernel spreads connections over the workers.
            answer = httpx.get(f"{server.base_url}/v1/users/me")
            assert answer.status_code == 401
            # A request id starts with its worker's own random prefix.
            answered_by.add(answer.headers["x-request-id"][:16])
        assert len(answered_by) == 2, "one worker answered every request: nothing to sum"
        for _ in range(SCRAPES):
            scraped = httpx.get(f"{server.base_url}/metrics")
            assert _me_requests_counted(scraped.text) == REQUESTS
        assert any(scratch.iterdir())
    assert not any(scratch.iterdir())
