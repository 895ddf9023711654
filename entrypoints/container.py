"""The composition root: the only place that knows the concrete classes."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector import containers, providers
from sqlalchemy import make_url

from adapters.audit import StructlogAuditLog
from adapters.caches import (
    MAX_CLIENT_ENTRIES,
    CachedDirectory,
    CachedLiveSessions,
    CachedTokenVerifier,
    RevocationEpoch,
)
from adapters.client_secrets import HmacClientSecrets
from adapters.clock import RandomIds, SystemClock
from adapters.hashing import Argon2PasswordHasher
from adapters.jwt import JwtAccessTokenSigner
from adapters.key_encryption import SealedKeyFactory, SigningKeyCipher
from adapters.key_store import RELOAD_INTERVAL_SECONDS, DatabaseKeySet
from adapters.metrics import CountingAuditLog, Metrics
from adapters.sql.engine import make_engine
from adapters.sql.revocation_notices import RevocationListener
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.strength import ZxcvbnStrengthChecker
from adapters.throttle import LimitsLoginThrottle, LimitsRequestThrottle
from adapters.tokens import HmacRefreshTokenCodec, load_or_create_secret
from application.admin import ManageUsers
from application.authenticate import Authenticate, SessionsInStore
from application.clients import ClientAuthenticator, ClientsInStore, ManageClients
from application.keys import SigningKeys
from application.login import LogIn
from application.logout import LogOut
from application.oauth import ExchangeGrant, Introspect, RevokeToken
from application.password import ChangePassword, DeleteAccount
from application.profile import GetProfile, UsersInStore
from application.refresh import Refresh
from application.sessions import ListSessions, RevokeSession
from application.signup import PasswordRules, SignUp
from application.throttling import LimitRequests
from application.tokens import TokenServices
from domain.password_policy import PasswordPolicy
from domain.session import SessionPolicy
from entrypoints.cpu import usable_cores
from entrypoints.settings import Settings


def revocation_listener(
    settings: Settings, revocations: RevocationEpoch
) -> RevocationListener | None:
    """A serving process's ear for revocations committed elsewhere; PostgreSQL only."""
    url = settings.effective_database_url
    if make_url(url).get_backend_name() != "postgresql":
        return None
    return RevocationListener(url, revocations)


def key_encryption_key(settings: Settings) -> bytes:
    if settings.key_encryption_key is not None:
        return settings.key_encryption_key.get_secret_value().encode()
    return load_or_create_secret(settings.data_dir / "key-encryption-key")


def other_key_encryption_key(settings: Settings) -> bytes | None:
    other = settings.other_key_encryption_key
    return other.get_secret_value().encode() if other is not None else None


def signing_key_seed(settings: Settings) -> str | None:
    return settings.signing_key.get_secret_value() if settings.signing_key else None


# How long a verifier or an HTTP cache may keep the JWKS (entrypoints/http/well_known.py).
JWKS_MAX_AGE_SECONDS = 300
# Beyond the clocks' leeway: the rotating host's commit, a slow reload, a slow network.
PUBLICATION_MARGIN_SECONDS = 15


def signing_key_publication(settings: Settings) -> timedelta:
    """How long a new signing key is published before it signs: every instance
    has read it, and every copy of the JWKS cached before that has expired, even
    by a clock `LATCHKEY_CLOCK_LEEWAY` ahead of the one that rotated."""
    seconds = (
        JWKS_MAX_AGE_SECONDS
        + RELOAD_INTERVAL_SECONDS
        + settings.clock_leeway
        + PUBLICATION_MARGIN_SECONDS
    )
    return timedelta(seconds=seconds)


def signing_key_retention(settings: Settings) -> timedelta:
    # A retired key must outlive every token it signed, including those that
    # instances signed with it before they reloaded the keys and saw the rotation.
    seconds = settings.access_token_ttl + settings.clock_leeway + RELOAD_INTERVAL_SECONDS
    return timedelta(seconds=seconds)


def hashing_threads(settings: Settings) -> int:
    """Each worker's share of the cores: all workers' hashes together use each core once.

    More concurrent Argon2 runs than cores gain nothing, and each evicts the
    others' 19 MiB from the CPU caches (measured: 7% fewer verifies per second).
    The cores are those a container's CPU limit leaves (entrypoints/cpu.py).
    """
    return max(1, usable_cores() // settings.workers)


def refresh_token_key(settings: Settings) -> bytes:
    if settings.refresh_token_key is not None:
        return settings.refresh_token_key.get_secret_value().encode()
    return load_or_create_secret(settings.data_dir / "refresh-token-key")


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        access_token_ttl=timedelta(seconds=settings.access_token_ttl),
        refresh_idle_ttl=timedelta(seconds=settings.refresh_token_ttl),
        max_age=timedelta(seconds=settings.session_max_age),
        reuse_grace=timedelta(seconds=settings.refresh_reuse_grace),
    )


def throttle_storage(settings: Settings) -> str:
    return settings.redis_url.get_secret_value() if settings.redis_url else "memory://"


def throttle_namespace(settings: Settings, action: str) -> str:
    return f"{settings.redis_key_prefix}-{action}"


class Container(containers.DeclarativeContainer):
    wiring_config = containers.WiringConfiguration(packages=["entrypoints.http"])

    settings = providers.ThreadSafeSingleton(Settings)

    engine = providers.ThreadSafeSingleton(
        make_engine,
        url=settings.provided.effective_database_url,
        pool_size=settings.provided.database_pool_size,
        max_overflow=settings.provided.database_max_overflow,
    )
    # A Factory, passed on as a provider: every call is a new unit of work.
    revocations = providers.ThreadSafeSingleton(RevocationEpoch)
    uow = providers.Factory(SqlUnitOfWork, engine=engine, revocations=revocations)
    # One for each lifespan of the web app, which starts and stops it (entrypoints/http/app.py).
    revocation_listener = providers.Factory(revocation_listener, settings, revocations)

    clock = providers.ThreadSafeSingleton(SystemClock)
    ids = providers.ThreadSafeSingleton(RandomIds)
    metrics = providers.ThreadSafeSingleton(Metrics)
    audit = providers.ThreadSafeSingleton(
        CountingAuditLog, providers.ThreadSafeSingleton(StructlogAuditLog), metrics
    )
    hasher = providers.ThreadSafeSingleton(
        Argon2PasswordHasher,
        max_concurrency=providers.ThreadSafeSingleton(hashing_threads, settings),
    )
    policy = providers.ThreadSafeSingleton(session_policy, settings)
    key_cipher = providers.ThreadSafeSingleton(
        SigningKeyCipher,
        providers.ThreadSafeSingleton(key_encryption_key, settings),
        providers.ThreadSafeSingleton(other_key_encryption_key, settings),
    )
    key_retention = providers.ThreadSafeSingleton(signing_key_retention, settings)
    signing_keys = providers.Factory(
        SigningKeys,
        uow.provider,
        providers.ThreadSafeSingleton(
            SealedKeyFactory,
            key_cipher,
            settings.provided.signing_alg,
            providers.ThreadSafeSingleton(signing_key_seed, settings),
        ),
        clock,
        audit,
        key_retention,
        providers.ThreadSafeSingleton(signing_key_publication, settings),
    )
    keys = providers.ThreadSafeSingleton(
        DatabaseKeySet,
        uow.provider,
        key_cipher,
        clock,
        key_retention,
        ensure=signing_keys.provided.ensure,
    )
    leeway = providers.ThreadSafeSingleton(timedelta, seconds=settings.provided.clock_leeway)
    jwt_signer = providers.ThreadSafeSingleton(
        JwtAccessTokenSigner,
        keys,
        issuer=settings.provided.issuer,
        audience=settings.provided.audiences,
        ttl=policy.provided.access_token_ttl,
        leeway=leeway,
    )
    signer = providers.ThreadSafeSingleton(CachedTokenVerifier, jwt_signer, leeway)
    live_sessions = providers.ThreadSafeSingleton(
        CachedLiveSessions,
        providers.ThreadSafeSingleton(SessionsInStore, uow.provider),
        revocations,
    )
    codec = providers.ThreadSafeSingleton(
        HmacRefreshTokenCodec, providers.ThreadSafeSingleton(refresh_token_key, settings)
    )
    throttle_store = providers.ThreadSafeSingleton(throttle_storage, settings)
    throttle = providers.ThreadSafeSingleton(
        LimitsLoginThrottle,
        storage_uri=throttle_store,
        max_failures=settings.provided.login_max_failures,
        window_seconds=settings.provided.login_failure_window,
        namespace=providers.Factory(throttle_namespace, settings, "login"),
    )
    signup_throttle = providers.ThreadSafeSingleton(
        LimitsRequestThrottle,
        storage_uri=throttle_store,
        max_requests=settings.provided.signup_max_per_ip,
        window_seconds=settings.provided.signup_window,
        namespace=providers.Factory(throttle_namespace, settings, "signup"),
    )
    refresh_throttle = providers.ThreadSafeSingleton(
        LimitsRequestThrottle,
        storage_uri=throttle_store,
        max_requests=settings.provided.refresh_max_per_ip,
        window_seconds=settings.provided.refresh_window,
        namespace=providers.Factory(throttle_namespace, settings, "refresh"),
    )
    password_rules = providers.ThreadSafeSingleton(
        PasswordRules,
        policy=providers.ThreadSafeSingleton(
            PasswordPolicy, min_length=settings.provided.password_min_length
        ),
        strength=providers.ThreadSafeSingleton(ZxcvbnStrengthChecker),
    )
    tokens = providers.ThreadSafeSingleton(
        TokenServices, signer=signer, codec=codec, clock=clock, ids=ids, policy=policy
    )

    limit_signups = providers.Factory(LimitRequests, signup_throttle, audit, "signup")
    sign_up = providers.Factory(
        SignUp, uow.provider, hasher, password_rules, clock, ids, audit, limit_signups
    )
    log_in = providers.Factory(LogIn, uow.provider, hasher, tokens, throttle, audit)
    limit_refreshes = providers.Factory(LimitRequests, refresh_throttle, audit, "refresh")
    refresh = providers.Factory(Refresh, uow.provider, tokens, audit, limit_refreshes)
    authenticate = providers.Factory(Authenticate, signer, live_sessions, clock)
    log_out = providers.Factory(LogOut, uow.provider, clock, audit)
    list_sessions = providers.Factory(ListSessions, uow.provider, clock, policy)
    revoke_session = providers.Factory(RevokeSession, uow.provider, clock, audit, policy)
    change_password = providers.Factory(
        ChangePassword, uow.provider, hasher, throttle, password_rules, clock, audit
    )
    delete_account = providers.Factory(DeleteAccount, uow.provider, hasher, throttle, audit)
    users = providers.ThreadSafeSingleton(
        CachedDirectory, providers.ThreadSafeSingleton(UsersInStore, uow.provider), revocations
    )
    get_profile = providers.Factory(GetProfile, users)
    manage_users = providers.Factory(ManageUsers, uow.provider, clock, audit)

    client_secrets = providers.ThreadSafeSingleton(
        HmacClientSecrets, providers.ThreadSafeSingleton(refresh_token_key, settings)
    )
    service_clients = providers.ThreadSafeSingleton(
        CachedDirectory,
        providers.ThreadSafeSingleton(ClientsInStore, uow.provider),
        revocations,
        # Client ids come from unauthenticated requests: the bound keeps a flood
        # of made-up ones (cached as unknown) from growing memory.
        max_entries=MAX_CLIENT_ENTRIES,
    )
    client_authenticator = providers.ThreadSafeSingleton(
        ClientAuthenticator, client_secrets, service_clients
    )
    manage_clients = providers.Factory(
        ManageClients, uow.provider, client_secrets, clock, ids, audit
    )
    exchange_grant = providers.Factory(ExchangeGrant, client_authenticator, log_in, refresh)
    introspect = providers.Factory(
        Introspect,
        uow.provider,
        client_authenticator,
        tokens,
        authenticate,
        settings.provided.issuer,
    )
    revoke_token = providers.Factory(
        RevokeToken,
        uow.provider,
        client_authenticator,
        tokens,
        authenticate,
        settings.provided.issuer,
        audit,
    )
