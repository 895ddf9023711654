"""Reading one's own account."""

from __future__ import annotations

from uuid import uuid4

import pytest

from application.profile import GetProfile, UsersInStore
from domain.errors import InvalidToken
from tests.unit.conftest import World


def test_the_profile_is_the_callers_own_account(world: World) -> None:
    principal = world.principal(world.logged_in())
    world.logged_in("someone-else@example.com")

    profile = GetProfile(UsersInStore(world.uow))(principal)

    assert profile == world.stored_user(principal.user_id)


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

    assert found == {ada: world.stored_user(ada), unknown: None, bob: world.stored_user(bob)}
