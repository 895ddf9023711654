"""Hooks for the whole run: every output line and log record is kept, so that the
last test can show that none holds a password or a refresh token (SECURITY 30)."""

from __future__ import annotations

import logging

import pytest

from tests.leaks import LEDGER, LedgerHandler

_HANDLER = LedgerHandler()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "last: run after every other test (it reads their output)")
    config.addinivalue_line("markers", "timing: measures response times (SECURITY 18)")
    logging.getLogger().addHandler(_HANDLER)


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(_HANDLER)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: everything else keeps its order.
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Each report repeats the sections of the earlier phases; keep each once.
    for title, content in report.sections:
        if title.startswith("Captured ") and title.endswith(f" {report.when}"):
            LEDGER.record(f"{report.nodeid} ({title})", content)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Output after the last test (session fixture teardown) is checked here."""
    leaks = LEDGER.leaks(start=LEDGER.checked_until)
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("SECRETS IN LOG OUTPUT (SECURITY 30):", red=True)
            for leak in leaks[:20]:
                reporter.write_line(f"  {leak}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
