"""Signing keys: which key signs, how long a retired key stays published, the
first key of a fresh install and rotation (over the in-memory fakes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from application.keys import SigningKeys
from domain.signing_key import (
    SigningKeyRecord,
    next_generation,
    published_keys,
    signing_key,
)
from tests.fakes import T0, FakeKeyFactory
from tests.unit.conftest import World

RETENTION = timedelta(seconds=915)


def a_key(generation: int, retired_after: float | None = None) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=f"stored-{generation}",
        alg="ES256",
        generation=generation,
        sealed_private_key=b"sealed",
        created_at=T0,
        retired_at=None if retired_after is None else T0 + timedelta(seconds=retired_after),
    )


# -- the rules -----------------------------------------------------------------------------


def test_the_newest_active_key_signs() -> None:
    keys = [a_key(1, retired_after=0), a_key(3), a_key(2)]
    assert signing_key(keys) == a_key(3)


def test_there_is_no_signing_key_before_the_first_one_or_when_all_are_retired() -> None:
    assert signing_key([]) is None
    assert signing_key([a_key(1, retired_after=0)]) is None


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
    return SigningKeys(world.uow, factory, world.clock, world.audit, RETENTION)


def stored(world: World) -> list[SigningKeyRecord]:
    return sorted(world.store.signing_keys.values(), key=lambda k: k.generation)


def test_a_fresh_install_gets_its_seeded_first_key_once(world: World, keys: SigningKeys) -> None:
    keys.ensure()
    keys.ensure()

    [first] = stored(world)
    assert (first.kid, first.generation, first.retired_at) == ("seeded", 1, None)
    assert first.created_at == world.clock.now()
    assert world.audit.names().count("signing_key_created") == 1


def test_when_every_key_is_retired_a_fresh_one_is_made_not_the_seed(
    world: World, keys: SigningKeys
) -> None:
    world.store.signing_keys["stored-1"] = a_key(1, retired_after=0)

    keys.ensure()

    assert [(k.kid, k.generation, k.is_active) for k in stored(world)] == [
        ("stored-1", 1, False),
        ("key-1", 2, True),
    ]


def test_a_changed_algorithm_setting_rotates_to_a_key_of_that_algorithm(
    world: World, keys: SigningKeys, factory: FakeKeyFactory
) -> None:
    keys.ensure()
    world.clock.advance(60)
    factory.alg = "EdDSA"  # LATCHKEY_SIGNING_ALG changed, then the service restarted

    keys.ensure()
    keys.ensure()

    first, second = stored(world)
    assert (first.alg, first.retired_at) == ("ES256", world.clock.now())
    assert first.is_published(world.clock.now(), RETENTION)  # its tokens still verify
    assert (second.alg, second.generation, second.is_active) == ("EdDSA", 2, True)
    assert world.audit.names().count("signing_key_rotated") == 1


def test_rotating_adds_the_next_generation_and_retires_the_others(
    world: World, keys: SigningKeys
) -> None:
    keys.ensure()
    world.clock.advance(60)

    view = keys.rotate()

    first, second = stored(world)
    assert first.retired_at == world.clock.now()
    assert second.is_active
    assert second.generation == 2
    assert (view.kid, view.status, view.published_until) == (second.kid, "active", None)
    assert "signing_key_rotated" in world.audit.names()


def test_rotation_forgets_the_keys_that_left_the_jwks(world: World, keys: SigningKeys) -> None:
    keys.ensure()
    keys.rotate()  # the first key retires now...
    world.clock.advance(RETENTION.total_seconds())
    keys.rotate()  # ...and is no longer published by the next rotation

    assert [k.generation for k in stored(world)] == [2, 3]


def test_listing_shows_each_key_newest_first_with_when_it_leaves_the_jwks(
    world: World, keys: SigningKeys
) -> None:
    keys.ensure()
    keys.rotate()
    keys.rotate()
    leaves_at = world.clock.now() + RETENTION

    views = keys.list()

    assert [(v.status, v.published_until) for v in views] == [
        ("active", None),
        ("retired", leaves_at),
        ("retired", leaves_at),
    ]
    assert [v.kid for v in views] == [k.kid for k in reversed(stored(world))]
    world.clock.advance(RETENTION.total_seconds())
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
