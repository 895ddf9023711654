"""Reading one's own account."""

from __future__ import annotations

from dataclasses import fields
from uuid import uuid4

import pytest

from application.profile import GetProfile, UsersInStore
from domain.errors import InvalidToken
from tests.unit.conftest import World


def test_the_profile_is_the_callers_own_account(world: World) -> None:
    principal = world.principal(world.logged_in())
    world.logged_in("someone-else@example.com")

    profile = GetProfile(UsersInStore(world.uow))(principal)

    assert profile == world.stored_user(principal.user_id).profile()


def test_a_profile_holds_no_password_hash(world: World) -> None:
    """What the account cache keeps for every account in use."""
    ada = world.principal(world.logged_in()).user_id

    found = UsersInStore(world.uow)

    for profile in (found.get(ada), found.get_many([ada])[ada]):
        assert profile is not None
        assert "password_hash" not in {field.name for field in fields(profile)}
        assert world.stored_user(ada).password_hash not in repr(profile)


def test_an_account_deleted_meanwhile_has_no_profile(world: World) -> None:
    principal = world.principal(world.logged_in())
    with world.uow() as uow:
        uow.users.delete(principal.user_id)
        uow.commit()

    with pytest.raises(InvalidToken):
        GetProfile(UsersInStore(world.uow))(principal)


def test_many_accounts_are_read_in_one_go_and_unknown_ids_read_as_none(world: World) -> None:
    ada = world.principal(world.logged_in()).user_id
    bob = world.principal(world.logged_in("bob@example.com")).user_id
    unknown = uuid4()

    found = UsersInStore(world.uow).get_many([ada, unknown, bob])

    assert found == {
        ada: world.stored_user(ada).profile(),
        unknown: None,
        bob: world.stored_user(bob).profile(),
    }
