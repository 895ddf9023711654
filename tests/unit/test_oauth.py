"""The OAuth use cases over the in-memory fakes: the token endpoint's grants,
introspection and revocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from application.clients import ClientAuthenticator, ClientsInStore, ManageClients, PresentedClient
from application.oauth import (
    ExchangeGrant,
    GrantRequest,
    Introspect,
    RevokeToken,
    TokenInfo,
)
from application.tokens import TokenPair, TokenServices
from domain.errors import (
    InvalidClient,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidRequest,
    InvalidToken,
    RefreshTokenReused,
    TooManyRequests,
    UnsupportedGrantType,
)
from domain.session import DEFAULT_CLIENT_ID
from tests.fakes import FakeClientSecrets
from tests.unit.conftest import (
    ACCESS_TTL,
    EMAIL,
    GRACE,
    IDLE_TTL,
    PASSWORD,
    REFRESH_BUDGET,
    World,
)

ISSUER = "https://auth.example.test"


@dataclass
class OAuth:
    world: World
    grant: ExchangeGrant
    introspect: Introspect
    revoke: RevokeToken
    clients: ManageClients

    def password_grant(self, client: PresentedClient | None = None) -> TokenPair:
        if self.world.user_by_email(EMAIL) is None:
            self.world.registered()
        return self.grant(
            GrantRequest("password", client=client, username=EMAIL, password=PASSWORD)
        )

    def refresh_grant(self, token: str, client: PresentedClient | None = None) -> TokenPair:
        return self.grant(GrantRequest("refresh_token", client=client, refresh_token=token))

    def service(self, name: str = "billing") -> PresentedClient:
        created = self.clients.create(name)
        return PresentedClient(created.client.id, created.secret)

    def looked_up(self, token: str, hint: str | None = None) -> TokenInfo | None:
        return self.introspect(self.service(), token, hint)


@pytest.fixture
def oauth(world: World) -> OAuth:
    secrets = FakeClientSecrets()
    authenticator = ClientAuthenticator(secrets, ClientsInStore(world.uow))
    tokens = TokenServices(
        signer=world.signer,
        codec=world.codec,
        clock=world.clock,
        ids=world.ids,
        policy=world.session_policy,
    )
    return OAuth(
        world=world,
        grant=ExchangeGrant(
            authenticator,
            world.log_in,
            world.refresh,
        ),
        introspect=Introspect(world.uow, authenticator, tokens, world.authenticate, ISSUER),
        revoke=RevokeToken(
            world.uow, authenticator, tokens, world.authenticate, ISSUER, world.audit
        ),
        clients=ManageClients(world.uow, secrets, world.clock, world.ids, world.audit),
    )


# -- the password and refresh_token grants ----------------------------------------------


def test_the_password_grant_starts_a_session_for_the_public_client_it_names(
    oauth: OAuth,
) -> None:
    pair = oauth.password_grant(PresentedClient("my-spa"))

    assert oauth.world.stored_session(pair.session_id).client_id == "my-spa"
    assert oauth.world.signer.issued[pair.access_token].client_id == "my-spa"


def test_the_password_grant_without_a_client_gets_the_default_client_id(oauth: OAuth) -> None:
    pair = oauth.password_grant()

    assert oauth.world.stored_session(pair.session_id).client_id == DEFAULT_CLIENT_ID


def test_a_wrong_password_is_invalid_credentials_as_on_the_json_login(oauth: OAuth) -> None:
    oauth.world.registered()
    with pytest.raises(InvalidCredentials):
        oauth.grant(GrantRequest("password", username=EMAIL, password=PASSWORD + "!"))
    assert "login_failed" in oauth.world.audit.names()


def test_the_refresh_grant_rotates_and_keeps_the_client_of_the_session(oauth: OAuth) -> None:
    first = oauth.password_grant(PresentedClient("my-spa"))
    oauth.world.clock.advance(60)

    second = oauth.refresh_grant(first.refresh_token, PresentedClient("my-spa"))
    third = oauth.refresh_grant(second.refresh_token)  # naming no client is allowed

    assert third.session_id == first.session_id
    assert oauth.world.signer.issued[third.access_token].client_id == "my-spa"
    spent = oauth.world.stored_token(first.refresh_token)
    assert spent is not None
    assert spent.is_spent


def test_the_refresh_grant_follows_the_grace_and_reuse_rules_of_refresh(oauth: OAuth) -> None:
    first = oauth.password_grant()
    second = oauth.refresh_grant(first.refresh_token)
    oauth.world.clock.advance(GRACE - 1)

    assert oauth.refresh_grant(first.refresh_token).refresh_token == second.refresh_token

    oauth.world.clock.advance(2)
    with pytest.raises(RefreshTokenReused):
        oauth.refresh_grant(first.refresh_token)
    assert oauth.world.session_is_revoked(first.session_id)


def test_a_refresh_grant_by_another_client_is_refused_and_leaves_the_token_unspent(
    oauth: OAuth,
) -> None:
    pair = oauth.password_grant(PresentedClient("my-spa"))

    with pytest.raises(InvalidRefreshToken):
        oauth.refresh_grant(pair.refresh_token, PresentedClient("other-app"))

    token = oauth.world.stored_token(pair.refresh_token)
    assert token is not None
    assert not token.is_spent


@pytest.mark.parametrize(
    ("request_", "missing"),
    [
        (GrantRequest(""), "grant_type"),
        (GrantRequest("password", password=PASSWORD), "username"),
        (GrantRequest("password", username=EMAIL), "password"),
        (GrantRequest("refresh_token"), "refresh_token"),
    ],
    ids=["grant_type", "username", "password", "refresh_token"],
)
def test_a_missing_parameter_is_an_invalid_request_naming_it(
    oauth: OAuth, request_: GrantRequest, missing: str
) -> None:
    with pytest.raises(InvalidRequest, match=missing):
        oauth.grant(request_)


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code", "PASSWORD"])
def test_other_grant_types_are_unsupported(oauth: OAuth, grant_type: str) -> None:
    with pytest.raises(UnsupportedGrantType):
        oauth.grant(GrantRequest(grant_type, username=EMAIL, password=PASSWORD))


def test_a_registered_client_naming_itself_without_its_secret_is_refused(oauth: OAuth) -> None:
    # Else anyone could get tokens whose client_id claims to be that service.
    service = oauth.service()

    with pytest.raises(InvalidClient):
        oauth.password_grant(PresentedClient(service.client_id))


def test_a_service_client_with_its_secret_may_use_the_password_grant(oauth: OAuth) -> None:
    service = oauth.service()

    pair = oauth.password_grant(service)

    assert oauth.world.stored_session(pair.session_id).client_id == service.client_id


def test_a_wrong_client_secret_is_refused_before_the_password_is_checked(oauth: OAuth) -> None:
    service = oauth.service()
    oauth.world.registered()

    with pytest.raises(InvalidClient):
        oauth.password_grant(PresentedClient(service.client_id, "not the secret"))
    assert "login_failed" not in oauth.world.audit.names()


@pytest.mark.parametrize("client_id", ["x" * 256, "tab\there", "naïve"])
def test_a_malformed_public_client_id_is_an_invalid_request(oauth: OAuth, client_id: str) -> None:
    with pytest.raises(InvalidRequest, match="client_id"):
        oauth.password_grant(PresentedClient(client_id))


# -- introspection -----------------------------------------------------------------------


def test_a_live_access_token_introspects_to_its_claims(oauth: OAuth) -> None:
    pair = oauth.password_grant(PresentedClient("my-spa"))

    info = oauth.looked_up(pair.access_token)

    claims = oauth.world.signer.issued[pair.access_token]
    assert info == TokenInfo(
        token_type="access_token",
        subject=pair.user_id,
        session_id=pair.session_id,
        client_id="my-spa",
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        issuer=claims.issuer,
        audience=claims.audience,
    )


def test_a_live_refresh_token_introspects_to_its_session_with_this_service_as_audience(
    oauth: OAuth,
) -> None:
    pair = oauth.password_grant(PresentedClient("my-spa"))
    now = oauth.world.clock.now()

    info = oauth.looked_up(pair.refresh_token)

    assert info == TokenInfo(
        token_type="refresh_token",
        subject=pair.user_id,
        session_id=pair.session_id,
        client_id="my-spa",
        issued_at=now,
        expires_at=now + timedelta(seconds=IDLE_TTL),
        issuer=ISSUER,
        audience=(ISSUER,),
    )


def test_the_hint_only_decides_which_kind_is_looked_up_first(oauth: OAuth) -> None:
    pair = oauth.password_grant()

    access = oauth.looked_up(pair.access_token, hint="refresh_token")
    refresh = oauth.looked_up(pair.refresh_token, hint="access_token")
    odd = oauth.looked_up(pair.refresh_token, hint="no_such_kind")

    assert access is not None
    assert access.token_type == "access_token"
    assert refresh is not None
    assert refresh.token_type == "refresh_token"
    assert odd == refresh


def test_both_tokens_of_a_revoked_session_are_inactive(oauth: OAuth) -> None:
    pair = oauth.password_grant()
    oauth.world.log_out(oauth.world.principal(pair))

    assert oauth.looked_up(pair.access_token) is None
    assert oauth.looked_up(pair.refresh_token) is None


def test_tokens_of_a_disabled_user_are_inactive(oauth: OAuth) -> None:
    pair = oauth.password_grant()
    oauth.world.manage_users.disable(EMAIL)

    assert oauth.looked_up(pair.access_token) is None
    assert oauth.looked_up(pair.refresh_token) is None


def test_an_expired_access_token_is_inactive(oauth: OAuth) -> None:
    pair = oauth.password_grant()
    oauth.world.clock.advance(ACCESS_TTL + 1)

    assert oauth.looked_up(pair.access_token) is None
    assert oauth.looked_up(pair.refresh_token) is not None


def test_an_expired_refresh_token_is_inactive(oauth: OAuth) -> None:
    pair = oauth.password_grant()
    oauth.world.clock.advance(IDLE_TTL)

    assert oauth.looked_up(pair.refresh_token) is None


def test_a_spent_refresh_token_is_inactive_even_within_the_grace_window(oauth: OAuth) -> None:
    first = oauth.password_grant()
    second = oauth.refresh_grant(first.refresh_token)

    assert oauth.looked_up(first.refresh_token) is None
    assert oauth.looked_up(second.refresh_token) is not None
    assert oauth.looked_up(first.access_token) is not None  # its session lives on


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "x" * 5000])
def test_garbage_is_inactive(oauth: OAuth, garbage: str) -> None:
    oauth.password_grant()
    assert oauth.looked_up(garbage) is None


def test_introspection_needs_a_service_client_with_its_secret(oauth: OAuth) -> None:
    pair = oauth.password_grant()
    service = oauth.service()

    for client in (
        None,
        PresentedClient("my-spa"),
        PresentedClient(service.client_id),
        PresentedClient(service.client_id, "wrong secret"),
        PresentedClient("unknown-client", "any secret"),
    ):
        with pytest.raises(InvalidClient):
            oauth.introspect(client, pair.access_token)


def test_a_deleted_service_client_can_no_longer_introspect(oauth: OAuth) -> None:
    pair = oauth.password_grant()
    service = oauth.service()
    oauth.clients.delete(service.client_id)

    with pytest.raises(InvalidClient):
        oauth.introspect(service, pair.access_token)


# -- revocation --------------------------------------------------------------------------


def test_revoking_a_refresh_token_ends_its_session(oauth: OAuth) -> None:
    pair = oauth.password_grant()

    oauth.revoke(None, pair.refresh_token)

    assert oauth.world.session_is_revoked(pair.session_id)
    with pytest.raises(InvalidRefreshToken):
        oauth.refresh_grant(pair.refresh_token)
    with pytest.raises(InvalidToken):
        oauth.world.principal(pair)
    assert "token_revoked" in oauth.world.audit.names()


def test_revoking_an_access_token_ends_its_session(oauth: OAuth) -> None:
    pair = oauth.password_grant()

    oauth.revoke(None, pair.access_token, hint="access_token")

    assert oauth.world.session_is_revoked(pair.session_id)
    with pytest.raises(InvalidRefreshToken):
        oauth.refresh_grant(pair.refresh_token)


def test_revoking_a_spent_refresh_token_ends_the_session_too(oauth: OAuth) -> None:
    first = oauth.password_grant()
    second = oauth.refresh_grant(first.refresh_token)

    oauth.revoke(None, first.refresh_token)

    assert oauth.world.session_is_revoked(first.session_id)
    with pytest.raises(InvalidRefreshToken):
        oauth.refresh_grant(second.refresh_token)


def test_revoking_an_unknown_or_dead_token_changes_nothing_and_raises_nothing(
    oauth: OAuth,
) -> None:
    pair = oauth.password_grant()
    other = oauth.world.logged_in("grace@example.com")
    oauth.world.log_out(oauth.world.principal(other))
    events = len(oauth.world.audit.events)

    for token in ("garbage", "", other.refresh_token, other.access_token):
        oauth.revoke(None, token)

    assert not oauth.world.session_is_revoked(pair.session_id)
    assert len(oauth.world.audit.events) == events


def test_a_client_cannot_revoke_a_token_issued_to_another_client(oauth: OAuth) -> None:
    pair = oauth.password_grant(PresentedClient("my-spa"))

    oauth.revoke(PresentedClient("other-app"), pair.refresh_token)
    assert not oauth.world.session_is_revoked(pair.session_id)

    oauth.revoke(PresentedClient("my-spa"), pair.refresh_token)
    assert oauth.world.session_is_revoked(pair.session_id)


def test_revocation_with_a_wrong_client_secret_is_invalid_client(oauth: OAuth) -> None:
    pair = oauth.password_grant()
    service = oauth.service()

    with pytest.raises(InvalidClient):
        oauth.revoke(PresentedClient(service.client_id, "wrong"), pair.refresh_token)
    assert not oauth.world.session_is_revoked(pair.session_id)


def test_refresh_grants_spend_the_refresh_budget_of_the_ip(oauth: OAuth) -> None:
    pair = oauth.world.logged_in()
    token = pair.refresh_token
    for _ in range(REFRESH_BUDGET):
        token = oauth.grant(
            GrantRequest(grant_type="refresh_token", refresh_token=token, client_ip="192.0.2.7")
        ).refresh_token
    with pytest.raises(TooManyRequests):
        oauth.grant(
            GrantRequest(grant_type="refresh_token", refresh_token=token, client_ip="192.0.2.7")
        )
