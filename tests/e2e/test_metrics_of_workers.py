"""With several workers, /metrics counts the requests of all of them, whichever
worker answers the scrape; the files that hold the counts go when the server stops."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from entrypoints import serving
from tests.server import serving as running

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
    database = f"sqlite:///{tmp_path / 'metrics.db'}"
    with running(tmp_path / "var", database, workers=2) as server:
        # Until both workers have answered: the second may start listening a
        # little after the first answers /healthz.
        answered_by: set[str] = set()
        sent = 0
        while sent < REQUESTS or len(answered_by) < 2:
            assert sent < 50 * REQUESTS, "one worker answered every request: nothing to sum"
            # A connection per request: the kernel spreads connections over the workers.
            answer = httpx.get(f"{server.base_url}/v1/users/me")
            assert answer.status_code == 401
            sent += 1
            # A request id starts with its worker's own random prefix.
            answered_by.add(answer.headers["x-request-id"][:16])
        for _ in range(SCRAPES):
            scraped = httpx.get(f"{server.base_url}/metrics")
            assert _me_requests_counted(scraped.text) == sent
        assert any(scratch.iterdir())
    assert not any(scratch.iterdir())


def test_a_directory_that_cannot_be_made_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(prefix: str) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/an/inherited/one")
    refusal = pytest.raises(serving.MetricsDirectoryError, match=r"TMPDIR.*Permission denied")
    with refusal, serving._shared_metrics():
        pass
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == "/an/inherited/one"


def test_the_variable_is_the_servers_own_directory_while_it_serves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # what TMPDIR sets
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/an/inherited/one")
    with serving._shared_metrics():
        own = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        assert own.parent == tmp_path
        assert own.is_dir()
        assert not any(own.iterdir())
    assert not own.exists()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == "/an/inherited/one"
