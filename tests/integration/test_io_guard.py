"""Answering from memory on the event loop: what may run there, and what is sent
to a worker thread instead because it would block."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from adapters.io_guard import WouldBlock, allow_io, memory_only
from adapters.key_encryption import SealedKeyFactory, SigningKeyCipher
from adapters.key_store import DatabaseKeySet
from application.keys import SigningKeys
from application.ports import UnitOfWorkFactory
from entrypoints.http.offload import answer
from tests.fakes import FakeAuditLog, FakeClock
from tests.integration.test_signing_key_store import KEK, PUBLICATION, RETENTION


def _thread_of(io: bool) -> int:
    if io:
        allow_io()
    return threading.get_ident()


def test_a_call_that_needs_no_io_is_answered_on_the_event_loop() -> None:
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await answer(_thread_of, False)

    loop_thread, ran_on = asyncio.run(main())
    assert ran_on == loop_thread


def test_a_call_that_reaches_io_is_run_again_in_a_worker_thread() -> None:
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await answer(_thread_of, True)

    loop_thread, ran_on = asyncio.run(main())
    assert ran_on != loop_thread


def test_no_catch_all_error_handler_can_swallow_the_signal() -> None:
    def parse() -> str:
        try:
            allow_io()
        except Exception:  # what a parser of untrusted input does
            return "refused"
        return "parsed"

    with memory_only(), pytest.raises(WouldBlock):
        parse()
    assert parse() == "parsed"


def test_a_unit_of_work_is_not_opened_on_the_event_loop(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    with memory_only(), pytest.raises(WouldBlock), sql_uow_factory():
        pass
    with sql_uow_factory() as uow:
        assert uow.clients.get("nobody") is None


def test_signing_keys_due_for_a_reload_are_not_reloaded_on_the_event_loop(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    cipher, clock = SigningKeyCipher(KEK), FakeClock()
    signing_keys = SigningKeys(
        sql_uow_factory,
        SealedKeyFactory(cipher, "ES256"),
        clock,
        FakeAuditLog(),
        RETENTION,
        PUBLICATION,
    )
    keys = DatabaseKeySet(
        sql_uow_factory, cipher, clock, RETENTION, signing_keys.ensure, reload_interval=0.05
    )
    loaded = keys.current()
    with memory_only():
        assert keys.current() is loaded  # fresh: answered from memory
        time.sleep(0.1)
        with pytest.raises(WouldBlock):
            keys.current()
    assert keys.current().active.kid == loaded.active.kid
