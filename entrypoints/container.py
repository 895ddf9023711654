"""The composition root: the only place that knows the concrete classes."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector import containers, providers

from adapters.audit import StructlogAuditLog
from adapters.clock import RandomIds, SystemClock
from adapters.hashing import Argon2PasswordHasher
from adapters.jwt import JwtAccessTokenSigner
from adapters.keys import SigningKeySet, load_or_create_signing_key, signing_key_from_pem
from adapters.sql.engine import make_engine
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.strength import ZxcvbnStrengthChecker
from adapters.throttle import LimitsLoginThrottle
from adapters.tokens import HmacRefreshTokenCodec, load_or_create_secret
from application.admin import ManageUsers
from application.authenticate import Authenticate
from application.login import LogIn
from application.logout import LogOut
from application.password import ChangePassword, DeleteAccount
from application.profile import GetProfile
from application.refresh import Refresh
from application.sessions import ListSessions, RevokeSession
from application.signup import PasswordRules, SignUp
from application.tokens import TokenServices
from domain.password_policy import PasswordPolicy
from domain.session import SessionPolicy
from entrypoints.settings import Settings


def signing_keys(settings: Settings) -> SigningKeySet:
    if settings.signing_key is not None:
        key = signing_key_from_pem(settings.signing_key.get_secret_value(), settings.signing_alg)
    else:
        path = settings.data_dir / f"signing-key-{settings.signing_alg}.pem"
        key = load_or_create_signing_key(path, settings.signing_alg)
    return SigningKeySet.single(key)


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


class Container(containers.DeclarativeContainer):
    wiring_config = containers.WiringConfiguration(packages=["entrypoints.http"])

    settings = providers.Singleton(Settings)

    engine = providers.Singleton(
        make_engine,
        url=settings.provided.effective_database_url,
        pool_size=settings.provided.database_pool_size,
    )
    # A Factory, passed on as a provider: every call is a new unit of work.
    uow = providers.Factory(SqlUnitOfWork, engine=engine)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIds)
    audit = providers.Singleton(StructlogAuditLog)
    hasher = providers.Singleton(Argon2PasswordHasher)
    policy = providers.Singleton(session_policy, settings)
    keys = providers.Singleton(signing_keys, settings)
    signer = providers.Singleton(
        JwtAccessTokenSigner,
        keys,
        issuer=settings.provided.issuer,
        audience=settings.provided.audiences,
        ttl=policy.provided.access_token_ttl,
        leeway=providers.Factory(timedelta, seconds=settings.provided.clock_leeway),
    )
    codec = providers.Singleton(
        HmacRefreshTokenCodec, providers.Singleton(refresh_token_key, settings)
    )
    throttle = providers.Singleton(
        LimitsLoginThrottle,
        storage_uri=providers.Singleton(throttle_storage, settings),
        max_failures=settings.provided.login_max_failures,
        window_seconds=settings.provided.login_failure_window,
    )
    password_rules = providers.Singleton(
        PasswordRules,
        policy=providers.Singleton(
            PasswordPolicy, min_length=settings.provided.password_min_length
        ),
        strength=providers.Singleton(ZxcvbnStrengthChecker),
    )
    tokens = providers.Singleton(
        TokenServices, signer=signer, codec=codec, clock=clock, ids=ids, policy=policy
    )

    sign_up = providers.Factory(SignUp, uow.provider, hasher, password_rules, clock, ids, audit)
    log_in = providers.Factory(LogIn, uow.provider, hasher, tokens, throttle, audit)
    refresh = providers.Factory(Refresh, uow.provider, tokens, audit)
    authenticate = providers.Factory(Authenticate, uow.provider, signer, clock)
    log_out = providers.Factory(LogOut, uow.provider, clock, audit)
    list_sessions = providers.Factory(ListSessions, uow.provider, clock, policy)
    revoke_session = providers.Factory(RevokeSession, uow.provider, clock, audit, policy)
    change_password = providers.Factory(
        ChangePassword, uow.provider, hasher, password_rules, clock, audit
    )
    delete_account = providers.Factory(DeleteAccount, uow.provider, hasher, audit)
    get_profile = providers.Factory(GetProfile, uow.provider)
    manage_users = providers.Factory(ManageUsers, uow.provider, clock, audit)
