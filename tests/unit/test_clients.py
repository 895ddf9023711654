"""Service clients: registration, secrets kept only as hashes, and who a request comes from."""

from __future__ import annotations

import pytest

from application.clients import (
    ClientAuthenticator,
    ClientsInStore,
    ManageClients,
    PresentedClient,
    presented_client,
)
from domain.errors import (
    ClientNotFound,
    InvalidClient,
    InvalidInput,
    InvalidRefreshToken,
    InvalidToken,
)
from tests.fakes import FakeClientSecrets
from tests.unit.conftest import World


@pytest.fixture
def secrets() -> FakeClientSecrets:
    return FakeClientSecrets()


@pytest.fixture
def clients(world: World, secrets: FakeClientSecrets) -> ManageClients:
    return ManageClients(world.uow, secrets, world.clock, world.ids, world.audit)


@pytest.fixture
def authenticator(world: World, secrets: FakeClientSecrets) -> ClientAuthenticator:
    return ClientAuthenticator(secrets, ClientsInStore(world.uow))


def test_a_new_client_gets_a_long_random_secret_of_which_only_a_hash_is_stored(
    world: World, clients: ManageClients, secrets: FakeClientSecrets
) -> None:
    created = clients.create("  billing  ")

    stored = world.store.clients[created.client.id]
    assert stored.name == "billing"
    assert stored.created_at == world.clock.now()
    assert stored.secret_hash == secrets.digest(created.secret)
    assert created.secret not in repr(world.store)
    assert len(created.secret) >= 43  # 32 random bytes, base64url
    assert clients.create("billing").secret != created.secret
    assert "client_created" in world.audit.names()


@pytest.mark.parametrize("name", ["", "   ", "x" * 256, "line\nbreak"])
def test_a_client_name_must_be_short_printable_text(clients: ManageClients, name: str) -> None:
    with pytest.raises(InvalidInput, match="client name"):
        clients.create(name)


def test_clients_are_listed_oldest_first_and_deleted_by_id(
    world: World, clients: ManageClients
) -> None:
    first = clients.create("billing").client
    world.clock.advance(1)
    second = clients.create("reports").client

    assert list(clients.list()) == [first, second]
    clients.delete(first.id)
    assert list(clients.list()) == [second]
    with pytest.raises(ClientNotFound):
        clients.delete(first.id)
    assert "client_deleted" in world.audit.names()


def test_deleting_a_client_ends_its_sessions_and_its_id_stays_taken(
    world: World, clients: ManageClients, authenticator: ClientAuthenticator
) -> None:
    created = clients.create("billing")
    client_id = created.client.id
    # A session that the client started, and one of another client.
    its = world.logged_in(client_id=client_id)
    other = world.logged_in(client_id="my-spa")
    world.rotated(its, client_id=client_id)  # with its credentials, before

    clients.delete(client_id)

    # Its refresh tokens do not become bearer tokens that need no secret...
    with pytest.raises(InvalidRefreshToken):
        world.rotated(its)
    with pytest.raises(InvalidToken):
        world.principal(its)
    # ...its secret no longer works, and nobody can name themselves after it.
    with pytest.raises(InvalidClient):
        authenticator.authenticate(PresentedClient(client_id, created.secret))
    with pytest.raises(InvalidClient):
        authenticator.identify(PresentedClient(client_id))
    assert world.principal(other).session_id == other.session_id
    assert list(clients.list()) == []


def test_a_client_authenticates_with_its_secret_only(
    world: World, clients: ManageClients, authenticator: ClientAuthenticator
) -> None:
    created = clients.create("billing")

    found = authenticator.authenticate(PresentedClient(created.client.id, created.secret))
    assert found == created.client
    for wrong in (
        None,
        PresentedClient(created.client.id),
        PresentedClient(created.client.id, created.secret + "x"),
        PresentedClient("nobody", created.secret),
    ):
        with pytest.raises(InvalidClient):
            authenticator.authenticate(wrong)


def test_an_id_no_client_could_have_is_unknown_without_a_lookup(
    secrets: FakeClientSecrets,
) -> None:
    # A NUL, say: PostgreSQL would refuse to compare it (a 400 instead of 401).
    asked: list[str] = []

    class Directory:
        def get(self, client_id: str) -> None:
            asked.append(client_id)

    authenticator = ClientAuthenticator(secrets, Directory())
    for client_id in ("a\x00b", "", "x" * 256, "caf\u00e9"):
        with pytest.raises(InvalidClient):
            authenticator.authenticate(PresentedClient(client_id, "a secret"))
    assert asked == []


def test_identifying_a_request_tells_public_and_service_clients_apart(
    world: World, clients: ManageClients, authenticator: ClientAuthenticator
) -> None:
    created = clients.create("billing")

    assert authenticator.identify(None) is None
    assert authenticator.identify(PresentedClient("my-spa")) == "my-spa"
    service = PresentedClient(created.client.id, created.secret)
    assert authenticator.identify(service) == created.client.id
    with pytest.raises(InvalidClient):
        authenticator.identify(PresentedClient(created.client.id))


# -- what a request presents: HTTP Basic and the client_id parameter (RFC 6749 2.3) -------


@pytest.mark.parametrize(
    ("basic", "body_client_id", "expected"),
    [
        (None, None, None),
        (None, "my-spa", PresentedClient("my-spa")),
        (("svc", "s3cret"), None, PresentedClient("svc", "s3cret")),
        (("svc", "s3cret"), "svc", PresentedClient("svc", "s3cret")),
        # What Swagger UI sends when no client is filled in, and with only an id.
        (("", ""), None, None),
        (("my-spa", ""), None, PresentedClient("my-spa")),
    ],
)
def test_basic_credentials_and_the_client_id_parameter_merge_into_one_client(
    basic: tuple[str, str] | None, body_client_id: str | None, expected: PresentedClient | None
) -> None:
    assert presented_client(basic, body_client_id) == expected


def test_a_client_id_parameter_contradicting_basic_credentials_is_an_invalid_client() -> None:
    with pytest.raises(InvalidClient):
        presented_client(("svc", "s3cret"), "other")
