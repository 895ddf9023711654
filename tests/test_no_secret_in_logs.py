"""Run last: no line that the whole test run printed or logged holds a password
that a test sent or a refresh token that a test received (SECURITY 30)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import OTHER_PASSWORD
from tests.e2e.conftest import PASSWORD as E2E_PASSWORD
from tests.leaks import LEDGER, Ledger
from tests.unit.conftest import PASSWORD as UNIT_PASSWORD


def test_the_leak_check_finds_a_secret_anywhere_in_a_line_and_does_not_repeat_it() -> None:
    ledger = Ledger()
    token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
    ledger.remember(token)
    ledger.remember("my long passphrase 1")
    ledger.remember("short")
    ledger.record("a", f'{{"event": "refresh", "t": "{token}"}}\nclean line\nshort')
    ledger.record("b", f"prefix{token}suffix and my long passphrase 1")

    leaks = ledger.leaks()

    assert len(leaks) == 2  # one per leaking line
    assert not any(token in leak or "passphrase" in leak for leak in leaks)


@pytest.mark.last
def test_no_log_line_of_the_whole_run_holds_a_password_or_a_refresh_token(
    request: pytest.FixtureRequest,
) -> None:
    if request.config.getoption("capture") == "no":
        pytest.skip("output is not captured under -s, so there is nothing to check")
    for password in (E2E_PASSWORD, OTHER_PASSWORD, UNIT_PASSWORD):
        LEDGER.remember(password)

    # Guards the guard: when HTTP tests ran, their clients must have reported tokens.
    if any("tests/e2e/" in where for where, _ in LEDGER.outputs):
        assert LEDGER.tokens, "no refresh token was recorded: is tests.leaks.watch wired?"

    leaks = LEDGER.leaks()
    LEDGER.checked_until = len(LEDGER.outputs)

    assert not leaks, "\n".join(leaks[:20])
