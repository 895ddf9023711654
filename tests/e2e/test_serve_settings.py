"""What `latchkey serve` hands to uvicorn: the settings a deployment behind a load
balancer tunes (docs/deployment.md)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from anyio import to_thread
from dependency_injector import providers
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from entrypoints import cli, cpu, serving
from entrypoints.container import Container, hashing_threads
from entrypoints.http.app import create_app
from tests.e2e.conftest import make_settings


def test_serve_hands_the_trusted_proxies_and_the_keep_alive_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATCHKEY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LATCHKEY_AUTO_MIGRATE", "true")
    # `serve` sets it for its workers; monkeypatch restores it afterwards.
    monkeypatch.setenv("LATCHKEY_WORKERS", "1")
    monkeypatch.setenv("LATCHKEY_FORWARDED_ALLOW_IPS", "10.0.0.0/8,192.0.2.10")
    monkeypatch.setenv("LATCHKEY_KEEPALIVE_TIMEOUT", "75")
    started: dict[str, Any] = {}

    def serve(app: str, **options: Any) -> None:
        started.update(options, app=app, workers_setting=os.environ["LATCHKEY_WORKERS"])

    monkeypatch.setattr(serving, "serve", serve)

    result = CliRunner().invoke(cli.app, ["serve", "--workers", "3"])

    assert result.exit_code == 0, result.output
    assert started["app"] == "entrypoints.asgi:app"
    assert started["forwarded_allow_ips"] == "10.0.0.0/8,192.0.2.10"
    assert started["proxy_headers"] is True
    assert started["timeout_keep_alive"] == 75
    assert started["workers"] == 3
    # The workers' own settings say how many of them share the machine.
    assert started["workers_setting"] == "3"


def test_serve_on_a_port_already_taken_fails_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATCHKEY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LATCHKEY_AUTO_MIGRATE", "true")
    # `serve` sets it for its workers; monkeypatch restores it afterwards.
    monkeypatch.setenv("LATCHKEY_WORKERS", "1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli.app, ["serve", "--port", str(port), "--workers", "2"])

    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


@pytest.mark.parametrize(
    "options",
    [
        ["--port", "99999"],
        ["--port", "0"],
        ["--port", "-5"],
        ["--workers", "0"],
        ["--workers", "-1"],
        ["--host", ""],
    ],
)
def test_serve_refuses_a_port_or_worker_count_out_of_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str]
) -> None:
    # Before: 99999 listened on 34463 (its remainder), 0 on the default port,
    # and -1 workers ended in a traceback.
    monkeypatch.setenv("LATCHKEY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setattr(serving, "serve", lambda app, **options: pytest.fail("it served"))

    result = CliRunner().invoke(cli.app, ["serve", *options])

    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output
    assert options[0] in result.output


@pytest.mark.parametrize(("workers", "threads"), [(1, 2), (2, 1), (4, 1)])
def test_the_workers_share_the_cores_for_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, threads: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(cpu, "CGROUP_ROOT", tmp_path)  # no CPU limit
    monkeypatch.setattr(cpu, "PROC_CGROUP", tmp_path / "none")
    settings = make_settings(tmp_path, "sqlite://", workers=workers)
    assert hashing_threads(settings) == threads


def test_a_container_cpu_limit_bounds_the_hashing_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    (tmp_path / "cpu.max").write_text("200000 100000\n")
    (tmp_path / "own").write_text("0::/\n")
    monkeypatch.setattr(cpu, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(cpu, "PROC_CGROUP", tmp_path / "own")
    assert hashing_threads(make_settings(tmp_path, "sqlite://", workers=1)) == 2


def test_each_worker_runs_blocking_work_on_the_configured_number_of_threads(
    tmp_path: Path,
) -> None:
    container = Container()
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db'}", worker_threads=3)
    container.settings.override(providers.Object(settings))
    app = create_app(container)

    @app.get("/test/threads")
    async def threads() -> int:
        return int(to_thread.current_default_thread_limiter().total_tokens)

    try:
        with TestClient(app) as client:
            assert client.get("/test/threads").json() == 3
    finally:
        container.unwire()
