"""Signing keys in the shared database: sealed at rest, created once by racing
workers, rotated by one instance and seen by the others, dropped when expired."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import uuid4

import pytest

from adapters.jwt import JwtAccessTokenSigner
from adapters.key_encryption import (
    KeyDecryptionError,
    SealedKeyFactory,
    SeedKeyError,
    SigningKeyCipher,
)
from adapters.key_store import UNKNOWN_KID_RELOAD_GAP_SECONDS, DatabaseKeySet
from adapters.keys import generate_signing_key
from application.keys import SigningKeys
from application.ports import UnitOfWork, UnitOfWorkFactory
from domain.errors import InvalidToken, ServiceUnavailable, SigningKeyConflict
from tests.fakes import FakeAuditLog, FakeClock

KEK = bytes(range(32))
NEW_KEK = bytes(range(100, 132))
RETENTION = timedelta(seconds=915)
PUBLICATION = timedelta(seconds=330)
USER, SESSION = uuid4(), uuid4()


# -- sealing -----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_a_sealed_key_opens_to_the_same_key_and_holds_no_plaintext(alg: str) -> None:
    cipher = SigningKeyCipher(KEK)
    key = generate_signing_key(alg)

    sealed = cipher.seal(key)

    assert b"PRIVATE KEY" not in sealed
    assert key.private_pem().encode() not in sealed
    opened = cipher.open(key.kid, alg, sealed)
    assert (opened.kid, opened.alg, opened.private_pem()) == (key.kid, alg, key.private_pem())
    assert cipher.seal(key) != sealed  # a fresh nonce each time


def test_a_key_sealed_under_another_encryption_key_does_not_open() -> None:
    key = generate_signing_key("ES256")
    sealed = SigningKeyCipher(KEK).seal(key)

    with pytest.raises(KeyDecryptionError, match="LATCHKEY_KEY_ENCRYPTION_KEY"):
        SigningKeyCipher(bytes(range(1, 33))).open(key.kid, "ES256", sealed)


def test_while_the_encryption_key_changes_the_previous_one_opens_and_the_new_one_seals() -> None:
    key = generate_signing_key("ES256")
    sealed_before = SigningKeyCipher(KEK).seal(key)
    changing = SigningKeyCipher(NEW_KEK, other=KEK)

    assert changing.open(key.kid, "ES256", sealed_before).private_pem() == key.private_pem()
    sealed_now = changing.seal(key)
    assert SigningKeyCipher(NEW_KEK).open(key.kid, "ES256", sealed_now).kid == key.kid
    with pytest.raises(KeyDecryptionError):
        SigningKeyCipher(KEK).open(key.kid, "ES256", sealed_now)


def test_a_sealed_key_moved_to_another_row_or_damaged_does_not_open() -> None:
    cipher = SigningKeyCipher(KEK)
    key = generate_signing_key("ES256")
    sealed = cipher.seal(key)

    for kid, alg, blob in [
        ("another-kid", "ES256", sealed),
        (key.kid, "RS256", sealed),
        (key.kid, "ES256", sealed[:-1] + bytes([sealed[-1] ^ 1])),
        (key.kid, "ES256", b"\x02" + sealed[1:]),
        (key.kid, "ES256", b""),
    ]:
        with pytest.raises(KeyDecryptionError):
            cipher.open(kid, alg, blob)


def test_an_encryption_key_shorter_than_256_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SigningKeyCipher(b"too short")


def test_a_configured_pem_seeds_the_first_key_and_must_fit_the_algorithm() -> None:
    cipher = SigningKeyCipher(KEK)
    seed = generate_signing_key("ES256")

    factory = SealedKeyFactory(cipher, "ES256", seed.private_pem())

    assert factory.initial().kid == seed.kid
    assert factory.generate().kid != seed.kid
    with pytest.raises(SeedKeyError, match="RS256 needs an RSA"):
        SealedKeyFactory(cipher, "RS256", seed.private_pem()).initial()
    with pytest.raises(SeedKeyError, match="not an unencrypted private key in PEM"):
        SealedKeyFactory(cipher, "ES256", "not a key").initial()


def test_a_seed_that_does_not_fit_is_not_read_to_generate_a_key() -> None:
    # README: the configured key becomes the first key, and is ignored afterwards;
    # a later change of algorithm rotates to a new key of it.
    seed = generate_signing_key("ES256").private_pem()
    factory = SealedKeyFactory(SigningKeyCipher(KEK), "EdDSA", seed)

    assert factory.generate().alg == "EdDSA"


# -- the shared key set ------------------------------------------------------------------


class Instance:
    """What one Latchkey process holds: its key set cache, its signer, its use cases."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: FakeClock,
        reload_interval: float = 3600,
        unknown_kid_gap: float = UNKNOWN_KID_RELOAD_GAP_SECONDS,
        cipher: SigningKeyCipher | None = None,
    ) -> None:
        cipher = cipher or SigningKeyCipher(KEK)
        self.signing_keys = SigningKeys(
            uow, SealedKeyFactory(cipher, "ES256"), clock, FakeAuditLog(), RETENTION, PUBLICATION
        )
        self.keys = DatabaseKeySet(
            uow,
            cipher,
            clock,
            RETENTION,
            self.signing_keys.ensure,
            reload_interval=reload_interval,
            unknown_kid_gap=unknown_kid_gap,
        )
        self.signer = JwtAccessTokenSigner(
            self.keys,
            issuer="https://auth.example.test",
            audience=["latchkey"],
            ttl=timedelta(seconds=900),
            leeway=timedelta(seconds=10),
        )
        self.clock = clock

    def token(self) -> str:
        return self.signer.issue(
            user_id=USER, session_id=SESSION, client_id="latchkey", now=self.clock.now()
        )[0]

    def accepts(self, token: str) -> bool:
        return self.signer.verify(token, self.clock.now()).subject == USER


def test_the_first_use_creates_one_key_that_every_instance_shares(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    clock = FakeClock()
    one, two = Instance(sql_uow_factory, clock), Instance(sql_uow_factory, clock)

    assert one.keys.current().active.kid == two.keys.current().active.kid
    assert two.accepts(one.token())
    with sql_uow_factory() as uow:
        assert len(uow.signing_keys.list_all()) == 1


def test_workers_starting_together_create_exactly_one_first_key(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    clock = FakeClock()
    workers = [Instance(sql_uow_factory, clock) for _ in range(8)]
    start = threading.Barrier(len(workers))

    def first_key(worker: Instance) -> str:
        start.wait()
        return worker.keys.current().active.kid

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        kids = set(pool.map(first_key, workers))

    assert len(kids) == 1
    with sql_uow_factory() as uow:
        assert [k.kid for k in uow.signing_keys.list_all()] == list(kids)


def test_a_rotation_elsewhere_is_published_at_the_next_reload_and_signs_when_due(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    clock = FakeClock()
    here, elsewhere = Instance(sql_uow_factory, clock), Instance(sql_uow_factory, clock)
    before = here.token()
    old_kid = here.keys.current().active.kid

    new_kid = elsewhere.signing_keys.rotate().kid

    assert set(here.keys.current().verification_keys) == {old_kid}  # cached until the reload
    here.keys.reload()
    assert set(here.keys.current().verification_keys) == {old_kid, new_kid}
    assert here.keys.current().active.kid == old_kid  # published, not signing yet
    clock.advance(PUBLICATION.total_seconds())
    here.keys.reload()
    assert here.keys.current().active.kid == new_kid
    assert here.accepts(before)
    assert elsewhere.accepts(here.token())


def test_a_key_published_ahead_signs_on_time_without_a_reload_and_with_the_database_down(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    down = threading.Event()
    flaky = unavailable_when(down, sql_uow_factory)
    clock = FakeClock()
    instance = Instance(flaky, clock, reload_interval=0)  # a reload before every use
    old_kid = instance.keys.current().active.kid
    new_kid = instance.signing_keys.rotate().kid
    assert set(instance.keys.current().verification_keys) == {old_kid, new_kid}
    down.set()

    clock.advance(PUBLICATION.total_seconds() - 0.001)
    assert instance.keys.current().active.kid == old_kid
    clock.advance(0.001)
    assert instance.keys.current().active.kid == new_kid
    assert kid_of(instance.token()) == new_kid


def test_keys_switch_on_time_between_reloads_without_a_query(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    reads: list[bool] = []

    def counted(*, autocommit: bool = False) -> UnitOfWork:
        reads.append(autocommit)
        return sql_uow_factory(autocommit=autocommit)

    clock = FakeClock()
    instance = Instance(counted, clock)  # rereads only every hour: not in this test
    old_kid = instance.keys.current().active.kid
    new_kid = instance.signing_keys.rotate().kid
    instance.keys.reload()
    reads.clear()

    clock.advance(PUBLICATION.total_seconds() - 0.001)
    assert instance.keys.current().active.kid == old_kid
    clock.advance(0.001)
    assert instance.keys.current().active.kid == new_kid
    clock.advance(RETENTION.total_seconds())
    assert set(instance.keys.current().verification_keys) == {new_kid}
    assert reads == []


def test_a_retired_key_leaves_on_time_without_a_reload_and_with_the_database_down(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    down = threading.Event()
    instance = Instance(unavailable_when(down, sql_uow_factory), FakeClock(), reload_interval=0)
    old_kid = instance.keys.current().active.kid
    instance.signing_keys.rotate(at_once=True)
    instance.keys.reload()
    down.set()

    instance.clock.advance(RETENTION.total_seconds() - 0.001)
    assert old_kid in instance.keys.current().verification_keys
    instance.clock.advance(0.001)
    assert old_kid not in instance.keys.current().verification_keys


def test_a_switch_made_from_older_keys_never_replaces_a_newer_load(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    # A thread read the state, its switch came due, and before it installed the
    # switched set a reload (another thread's) installed newer keys.
    clock = FakeClock()
    instance = Instance(sql_uow_factory, clock)
    instance.keys.current()  # the first key
    instance.signing_keys.rotate()
    instance.keys.reload()
    read_before = instance.keys._state
    assert read_before is not None
    assert read_before.changes_at == clock.now() + PUBLICATION
    clock.advance(PUBLICATION.total_seconds())
    newest = instance.signing_keys.rotate().kid
    instance.keys.reload()

    instance.keys._on_time(read_before)  # the late thread finishes

    assert newest in instance.keys.current().verification_keys


def unavailable_when(down: threading.Event, uow: UnitOfWorkFactory) -> UnitOfWorkFactory:
    """`uow`, except that it raises ServiceUnavailable while `down` is set."""

    def flaky(*, autocommit: bool = False) -> UnitOfWork:
        if down.is_set():
            raise ServiceUnavailable("the database is unavailable")
        return uow(autocommit=autocommit)

    return flaky


def kid_of(token: str) -> str:
    return str(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["kid"])


def test_an_instance_that_has_not_reloaded_yet_accepts_tokens_of_a_new_key_at_once(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    # Else, for up to the reload interval, users of the instance that saw the
    # rotation first would be refused by every other instance.
    clock = FakeClock()
    stale = Instance(sql_uow_factory, clock, unknown_kid_gap=0)
    old_kid = stale.keys.current().active.kid
    fresh = Instance(sql_uow_factory, clock)
    fresh.signing_keys.rotate(at_once=True)  # no publication ahead: a key that leaked

    assert stale.accepts(fresh.token())
    assert stale.keys.current().active.kid != old_kid


def test_the_cache_reloads_by_itself_once_the_interval_has_passed(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    clock = FakeClock()
    instance = Instance(sql_uow_factory, clock, reload_interval=0.2)
    old_kid = instance.keys.current().active.kid

    new_kid = instance.signing_keys.rotate(at_once=True).kid
    assert instance.keys.current().active.kid == old_kid
    time.sleep(0.3)

    assert instance.keys.current().active.kid == new_kid


def test_a_retired_key_is_dropped_once_its_tokens_have_expired(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    clock = FakeClock()
    instance = Instance(sql_uow_factory, clock)
    before = instance.token()
    instance.signing_keys.rotate()  # the old key signs until the new one does

    clock.advance((PUBLICATION + RETENTION).total_seconds() - 1)
    assert len(instance.keys.reload().verification_keys) == 2
    clock.advance(1)
    assert len(instance.keys.reload().verification_keys) == 1
    with pytest.raises(InvalidToken):
        instance.accepts(before)


def test_keys_stay_usable_while_the_database_is_unreachable(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    down = threading.Event()
    flaky = unavailable_when(down, sql_uow_factory)
    clock = FakeClock()
    instance = Instance(flaky, clock)
    token = instance.token()
    down.set()

    assert instance.keys.reload().active.kid == instance.keys.current().active.kid
    assert instance.accepts(token)
    with pytest.raises(ServiceUnavailable):
        Instance(flaky, clock).keys.current()  # nothing cached yet: nothing to fall back on


def test_two_rotations_at_once_never_leave_two_active_keys(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    clock = FakeClock()
    instances = [Instance(sql_uow_factory, clock) for _ in range(4)]
    instances[0].keys.current()
    start = threading.Barrier(len(instances))

    def rotate(instance: Instance) -> str:
        start.wait()
        try:
            return instance.signing_keys.rotate().kid
        except SigningKeyConflict:
            return "conflict"

    with ThreadPoolExecutor(max_workers=len(instances)) as pool:
        outcomes = list(pool.map(rotate, instances))

    assert any(outcome != "conflict" for outcome in outcomes)
    with sql_uow_factory() as uow:
        stored = uow.signing_keys.list_all()
    assert len([k for k in stored if k.is_current]) == 1
    for later in (0, PUBLICATION.total_seconds() - 1, PUBLICATION.total_seconds(), 3600):
        instant = clock.now() + timedelta(seconds=later)
        assert len([k for k in stored if k.signs_at(instant)]) == 1, later
    assert len({k.generation for k in stored}) == len(stored)


def test_resealing_moves_every_stored_key_to_the_new_encryption_key(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    clock = FakeClock()
    before = Instance(sql_uow_factory, clock)
    token = before.token()
    before.signing_keys.rotate(at_once=True)  # two keys: the token's, retired, and the active one
    changing = SigningKeyCipher(NEW_KEK, other=KEK)

    assert Instance(sql_uow_factory, clock, cipher=changing).signing_keys.reseal() == 2

    after = Instance(sql_uow_factory, clock, cipher=SigningKeyCipher(NEW_KEK))
    assert after.accepts(token)
    assert after.accepts(after.token())
    with pytest.raises(KeyDecryptionError):
        Instance(sql_uow_factory, clock).keys.current()  # the old key no longer opens them


def test_resealing_is_all_or_nothing(sql_uow_factory: UnitOfWorkFactory) -> None:
    clock = FakeClock()
    Instance(sql_uow_factory, clock).keys.current()  # a first key, under KEK
    stranger = bytes(range(200, 232))
    Instance(sql_uow_factory, clock, cipher=SigningKeyCipher(stranger)).signing_keys.rotate()
    with sql_uow_factory() as uow:
        stored = [k.sealed_private_key for k in uow.signing_keys.list_all()]
    changing = SigningKeyCipher(NEW_KEK, other=KEK)  # opens the first, not the second

    with pytest.raises(KeyDecryptionError):
        Instance(sql_uow_factory, clock, cipher=changing).signing_keys.reseal()

    with sql_uow_factory() as uow:
        assert [k.sealed_private_key for k in uow.signing_keys.list_all()] == stored
