"""Signing keys: which key signs, a new key published before it signs, how long a
retired key stays published, the first key of a fresh install and rotation (over
the in-memory fakes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.keys import SigningKeys
from application.ports import NewSigningKey
from domain.errors import InvalidInput
from domain.signing_key import (
    SigningKeyRecord,
    current_key,
    next_generation,
    published_keys,
    signing_key,
)
from tests.fakes import T0, FakeAuditLog, FakeClock, FakeKeyFactory, FakeUnitOfWorkFactory
from tests.unit.conftest import World

RETENTION = timedelta(seconds=915)
PUBLICATION = timedelta(seconds=330)


def a_key(
    generation: int, retired_after: float | None = None, signs_after: float | None = None
) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=f"stored-{generation}",
        alg="ES256",
        generation=generation,
        sealed_private_key=b"sealed",
        created_at=T0,
        retired_at=None if retired_after is None else T0 + timedelta(seconds=retired_after),
        signs_from=None if signs_after is None else T0 + timedelta(seconds=signs_after),
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- the rules -----------------------------------------------------------------------------


def test_the_newest_key_that_signs_now_signs() -> None:
    keys = [a_key(1, retired_after=0), a_key(3), a_key(2)]
    assert signing_key(keys, T0) == a_key(3)


def test_there_is_no_signing_key_before_the_first_one_or_when_all_are_retired() -> None:
    assert signing_key([], T0) is None
    assert signing_key([a_key(1, retired_after=0)], T0) is None
    assert current_key([a_key(1, retired_after=0)]) is None


def test_a_clock_behind_the_first_keys_creation_still_signs_with_it() -> None:
    first = a_key(1, signs_after=2)  # made by an instance whose clock is 2 s ahead
    assert signing_key([first], at(0)) == first
    ahead = a_key(2, signs_after=300)
    retired_later = replace(first, retired_at=at(300))
    assert signing_key([retired_later, ahead], at(0)) == retired_later


def test_a_key_published_ahead_signs_from_when_the_old_one_retires() -> None:
    old, new = a_key(1, retired_after=300), a_key(2, signs_after=300)
    keys = [old, new]

    assert signing_key(keys, at(299.999)) == old
    assert signing_key(keys, at(300)) == new
    assert [k.status(at(0), RETENTION) for k in keys] == ["active", "pending"]
    assert [k.status(at(300), RETENTION) for k in keys] == ["retired", "active"]
    # Published from the start, so cached copies of the JWKS hold it before it signs.
    assert published_keys(keys, at(0), RETENTION) == [new, old]
    assert current_key(keys) == new
    assert new.starts_signing == at(300)
    assert old.starts_signing == T0  # stored before signs_from existed: from its creation


def test_generations_count_up_from_one() -> None:
    assert next_generation([]) == 1
    assert next_generation([a_key(1), a_key(4, retired_after=0)]) == 5


def test_a_retired_key_stays_published_for_the_retention_and_is_dropped_after() -> None:
    retired, active = a_key(1, retired_after=0), a_key(2)
    keys = [retired, active]
    end = T0 + RETENTION

    assert retired.published_until(RETENTION) == end
    assert active.published_until(RETENTION) is None
    assert published_keys(keys, end - timedelta(microseconds=1), RETENTION) == [active, retired]
    assert published_keys(keys, end, RETENTION) == [active]
    assert published_keys(keys, end + timedelta(days=365), RETENTION) == [active]


# -- the use cases -------------------------------------------------------------------------


@pytest.fixture
def factory() -> FakeKeyFactory:
    return FakeKeyFactory(seed_kid="seeded")


@pytest.fixture
def keys(world: World, factory: FakeKeyFactory) -> SigningKeys:
    return SigningKeys(world.uow, factory, world.clock, world.audit, RETENTION, PUBLICATION)


def stored(world: World) -> list[SigningKeyRecord]:
    return sorted(world.store.signing_keys.values(), key=lambda k: k.generation)


def test_a_fresh_install_gets_its_seeded_first_key_once(world: World, keys: SigningKeys) -> None:
    keys.ensure()
    keys.ensure()

    [first] = stored(world)
    assert (first.kid, first.generation, first.retired_at) == ("seeded", 1, None)
    assert first.created_at == world.clock.now()
    # No verifier knows any key yet: nothing to wait for.
    assert signing_key(stored(world), world.clock.now()) == first
    assert world.audit.names().count("signing_key_created") == 1


def test_when_every_key_is_retired_a_fresh_one_is_made_not_the_seed(
    world: World, keys: SigningKeys
) -> None:
    world.store.signing_keys["stored-1"] = a_key(1, retired_after=0)

    keys.ensure()

    assert [(k.kid, k.generation) for k in stored(world)] == [("stored-1", 1), ("key-1", 2)]
    # Nothing signs until it does: it signs at once.
    assert signing_key(stored(world), world.clock.now()) == stored(world)[1]


def test_a_changed_algorithm_setting_rotates_to_a_key_of_that_algorithm_at_once(
    world: World, keys: SigningKeys, factory: FakeKeyFactory
) -> None:
    keys.ensure()
    world.clock.advance(60)
    factory.alg = "EdDSA"  # LATCHKEY_SIGNING_ALG changed, then the service restarted

    keys.ensure()
    keys.ensure()

    first, second = stored(world)
    now = world.clock.now()
    # API.md: a token's alg is the configured one.
    assert (second.alg, second.generation, second.signs_from) == ("EdDSA", 2, now)
    assert signing_key(stored(world), now) == second
    assert first.retired_at == now
    assert first.is_published(now, RETENTION)  # its tokens still verify
    assert world.audit.names().count("signing_key_rotated") == 1


def test_a_key_of_the_configured_algorithm_rotated_in_ahead_is_kept(
    world: World, keys: SigningKeys, factory: FakeKeyFactory
) -> None:
    keys.ensure()
    factory.alg = "EdDSA"
    keys.rotate()  # `keys rotate` with the new setting, before the restarts

    keys.ensure()  # a restart with the new setting

    first, second = stored(world)
    assert second.signs_from == world.clock.now() + PUBLICATION
    assert signing_key(stored(world), world.clock.now()) == first


def test_rotating_publishes_the_next_generation_ahead_and_retires_the_others_then(
    world: World, keys: SigningKeys
) -> None:
    keys.ensure()
    world.clock.advance(60)

    view = keys.rotate()

    first, second = stored(world)
    starts = world.clock.now() + PUBLICATION
    assert (second.generation, second.signs_from, second.retired_at) == (2, starts, None)
    assert first.retired_at == starts
    assert (view.kid, view.status, view.signs_from) == (second.kid, "pending", starts)
    assert view.published_until is None
    assert signing_key(stored(world), starts - timedelta(microseconds=1)) == first
    assert signing_key(stored(world), starts) == second
    assert world.audit.events[-1]["signs_from"] == starts.isoformat()


def test_rotating_before_any_key_exists_makes_one_that_signs_at_once(
    world: World, keys: SigningKeys
) -> None:
    view = keys.rotate()  # `latchkey keys rotate` on a database no server has used yet

    [only] = stored(world)
    assert (view.status, only.signs_from) == ("active", world.clock.now())


def test_rotating_at_once_signs_now_and_overtakes_a_key_published_ahead(
    world: World, keys: SigningKeys
) -> None:
    keys.ensure()
    keys.rotate()  # published ahead...
    world.clock.advance(60)

    view = keys.rotate(at_once=True)  # ...then the signing key leaked

    first, ahead, now_signing = stored(world)
    now = world.clock.now()
    assert (view.kid, view.status, view.signs_from) == (now_signing.kid, "active", now)
    assert signing_key(stored(world), now) == now_signing
    assert first.retired_at == ahead.retired_at == now
    assert ahead.status(now, RETENTION) == "retired"  # it never signs


def test_a_leaked_key_is_dropped_with_every_older_one_by_a_rotation_at_once(
    world: World, keys: SigningKeys
) -> None:
    keys.ensure()
    keys.rotate()

    view = keys.rotate(at_once=True, drop_older=True)

    assert [k.kid for k in stored(world)] == [view.kid]
    assert view.status == "active"
    assert world.audit.events[-1]["dropped"] == ["seeded", "key-1"]


def test_dropping_the_older_keys_needs_a_key_that_signs_at_once(
    world: World, keys: SigningKeys
) -> None:
    keys.ensure()

    with pytest.raises(InvalidInput, match="at once"):
        keys.rotate(drop_older=True)

    assert len(stored(world)) == 1


def test_the_publication_delay_counts_from_after_the_key_is_made(world: World) -> None:
    class SlowFactory(FakeKeyFactory):  # an RSA key takes a while
        def generate(self) -> NewSigningKey:
            world.clock.advance(2)
            return super().generate()

    keys = SigningKeys(world.uow, SlowFactory(), world.clock, world.audit, RETENTION, PUBLICATION)
    keys.ensure()

    view = keys.rotate()

    assert view.signs_from == world.clock.now() + PUBLICATION


def test_rotation_forgets_the_keys_that_left_the_jwks(world: World, keys: SigningKeys) -> None:
    keys.ensure()
    keys.rotate()  # the first key retires once the second signs...
    world.clock.advance((PUBLICATION + RETENTION).total_seconds())
    keys.rotate()  # ...and is no longer published by the next rotation

    assert [k.generation for k in stored(world)] == [2, 3]


def test_listing_shows_each_key_newest_first_with_when_it_leaves_the_jwks(
    world: World, keys: SigningKeys
) -> None:
    keys.ensure()
    keys.rotate(at_once=True)
    keys.rotate()
    ahead = world.clock.now() + PUBLICATION

    views = keys.list()

    assert [(v.status, v.published_until) for v in views] == [
        ("pending", None),
        ("active", ahead + RETENTION),
        ("retired", world.clock.now() + RETENTION),
    ]
    assert [v.signs_from for v in views] == [ahead, world.clock.now(), world.clock.now()]
    assert [v.kid for v in views] == [k.kid for k in reversed(stored(world))]
    world.clock.advance((PUBLICATION + RETENTION).total_seconds())
    assert [v.status for v in keys.list()] == ["active", "dropped", "dropped"]


def test_resealing_seals_every_stored_key_again_and_changes_nothing_else(
    world: World, keys: SigningKeys
) -> None:
    keys.ensure()
    keys.rotate()
    before = stored(world)

    assert keys.reseal() == 2

    after = stored(world)
    assert [replace(k, sealed_private_key=b"") for k in after] == [
        replace(k, sealed_private_key=b"") for k in before
    ]
    assert [k.sealed_private_key for k in after] == [
        b"resealed " + k.sealed_private_key for k in before
    ]
    assert world.audit.events[-1] == {
        "event": "signing_keys_resealed",
        "user_id": None,
        "session_id": None,
        "count": 2,
    }


# -- over any sequence of rotations --------------------------------------------------------

STEPS = st.lists(
    st.tuples(st.integers(0, 1500), st.sampled_from(["wait", "rotate", "rotate now"])),
    max_size=12,
)


@given(STEPS)
def test_one_key_signs_at_a_time_published_ahead_and_kept_for_its_tokens(
    steps: list[tuple[int, str]],
) -> None:
    clock = FakeClock()
    uow = FakeUnitOfWorkFactory()
    keys = SigningKeys(uow, FakeKeyFactory(), clock, FakeAuditLog(), RETENTION, PUBLICATION)
    keys.ensure()
    at_once = {"key-1"}  # the first key signs as soon as it exists
    seen: dict[str, SigningKeyRecord] = {}  # every key, as last stored
    checked = clock.now()

    for seconds, action in steps:
        clock.advance(seconds)
        with uow() as work:
            records = work.signing_keys.list_all()
        seen.update({r.kid: r for r in records})
        # Every instant at which the signing key may change, up to now, and now.
        instants = {r.starts_signing for r in seen.values()}
        instants |= {r.retired_at for r in seen.values() if r.retired_at is not None}
        for now in sorted(t for t in instants | {clock.now()} if checked <= t <= clock.now()):
            signing = [r for r in seen.values() if r.signs_at(now)]
            assert len(signing) == 1, now
            [key] = signing
            if key.kid not in at_once:
                # Every copy of the JWKS cached before the key existed has expired.
                assert now - key.created_at >= PUBLICATION
        checked = clock.now()
        # Each key is kept for RETENTION after it stops signing (a token lives
        # that long at most: its TTL, the leeway, the reload delay).
        published = {r.kid for r in published_keys(records, clock.now(), RETENTION)}
        for kid, record in seen.items():
            if record.retired_at is None or clock.now() < record.retired_at + RETENTION:
                assert kid in published, kid
        if action != "wait":
            view = keys.rotate(at_once=action == "rotate now")
            if action == "rotate now":
                at_once.add(view.kid)
