"""What `latchkey serve` hands to uvicorn: the settings a deployment behind a load
balancer tunes (docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from entrypoints import cli


def test_serve_hands_the_trusted_proxies_and_the_keep_alive_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATCHKEY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LATCHKEY_AUTO_MIGRATE", "true")
    monkeypatch.setenv("LATCHKEY_FORWARDED_ALLOW_IPS", "10.0.0.0/8,192.0.2.10")
    monkeypatch.setenv("LATCHKEY_KEEPALIVE_TIMEOUT", "75")
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))

    result = CliRunner().invoke(cli.app, ["serve", "--workers", "3"])

    assert result.exit_code == 0, result.output
    assert started["forwarded_allow_ips"] == "10.0.0.0/8,192.0.2.10"
    assert started["proxy_headers"] is True
    assert started["timeout_keep_alive"] == 75
    assert started["workers"] == 3
