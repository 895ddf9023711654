"""The `latchkey` command line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from adapters.key_encryption import KeyDecryptionError, SeedKeyError
from adapters.key_store import RELOAD_INTERVAL_SECONDS
from adapters.sql.migrate import (
    SchemaState,
    current_and_head,
    schema_state,
    state_of,
    upgrade,
)
from application.signup import SignUpCommand
from domain.errors import DomainError, ServiceUnavailable
from entrypoints import serving
from entrypoints.container import Container
from entrypoints.logging import configure_logging
from entrypoints.settings import Settings

app = typer.Typer(
    help="Latchkey authentication service.", no_args_is_help=True, pretty_exceptions_enable=False
)
users = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(users, name="users")
clients = typer.Typer(help="Manage service clients (for /oauth/introspect).", no_args_is_help=True)
app.add_typer(clients, name="clients")
keys = typer.Typer(help="Manage the keys that sign access tokens.", no_args_is_help=True)
app.add_typer(keys, name="keys")


def _container() -> Container:
    container = Container()
    try:
        container.settings()
    except ValidationError as error:
        # Name the settings and the rule only: the rejected values may be secrets.
        problems = "; ".join(
            f"{'LATCHKEY_' + '_'.join(map(str, e['loc'])).upper() + ': ' if e['loc'] else ''}"
            f"{e['msg']}"
            for e in error.errors()
        )
        raise _fail(f"invalid settings: {problems}") from None
    return container


OUT_OF_DATE = "the database schema is out of date: run `latchkey migrate` first"


def _database_container() -> Container:
    """A container over a database that this release can use: a clear error,
    not a failing statement, for one never migrated or unreachable."""
    container = _container()
    with _database_errors_as_exit(container.settings()):
        state = schema_state(container.engine())
    if state is SchemaState.BEHIND:
        raise _fail(OUT_OF_DATE)
    return container


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Bind port", min=1, max=65535)] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes", min=1)] = None,
) -> None:
    """Serve the HTTP API."""
    if host == "":  # an unset shell variable, say: not "every interface"
        raise _fail("--host must not be empty")
    container = _container()
    settings = container.settings()
    with _database_errors_as_exit(settings):
        prepare_database(container)
    workers = settings.workers if workers is None else workers
    # The workers read their settings from the environment: they must know how
    # many of them share the machine (each takes its share of the hashing threads).
    os.environ["LATCHKEY_WORKERS"] = str(workers)
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    try:
        serving.serve(
            "entrypoints.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            # Every request already logs through the audit log and the metrics;
            # uvicorn's access line would cost more than the request itself.
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            timeout_keep_alive=settings.keepalive_timeout,
        )
    except serving.MetricsDirectoryError as error:
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


@contextmanager
def _database_errors_as_exit(settings: Settings) -> Iterator[None]:
    try:
        yield
    except (OperationalError, ServiceUnavailable):
        where = settings.masked()["LATCHKEY_DATABASE_URL"]
        raise _fail(f"the database at {where} is unreachable") from None


def prepare_database(container: Container) -> None:
    settings = container.settings()
    state = schema_state(container.engine())
    if state is SchemaState.BEHIND:
        if not settings.auto_migrate:
            raise _fail(OUT_OF_DATE)
        upgrade(settings.effective_database_url)
    elif state is SchemaState.AHEAD:
        # A later release migrated first (expand-only, docs/deployment.md): this
        # one keeps serving, so that a rolling upgrade or a rollback needs no downtime.
        typer.echo("warning: the database schema is newer than this release", err=True)
    # Create the development secrets and the first signing key once, before
    # several workers could race to (they would agree, but why race).
    try:
        # First: the stored keys open with this instance's key-encryption key.
        # A mistyped one must stop this start before it stores a key that
        # every other instance would fail to open.
        container.keys().current()
        # Then a rotation, when LATCHKEY_SIGNING_ALG no longer names the active key's.
        container.signing_keys().ensure()
    except KeyDecryptionError as error:
        raise _fail(str(error)) from None
    except SeedKeyError as error:
        raise _fail(f"LATCHKEY_SIGNING_KEY cannot be the first signing key: {error}") from None
    container.codec()
    container.engine().dispose()


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    container = _container()
    with _database_errors_as_exit(container.settings()):
        try:
            before, head = current_and_head(container.engine())
        finally:
            container.engine().dispose()
        state = state_of(before, head)
        if state is SchemaState.AHEAD:
            # Its revision is a later release's (expand-only): nothing to apply here.
            typer.echo(
                f"warning: the database is at {before}, newer than this release ({head})",
                err=True,
            )
            return
        if state is SchemaState.CURRENT:
            typer.echo(f"the database is already up to date ({head})")
            return
        upgrade(container.settings().effective_database_url)
    typer.echo(f"the database is migrated from {before or 'nothing'} to {head}")


@app.command()
def config() -> None:
    """Print the effective settings, secrets masked."""
    for name, value in _container().settings().masked().items():
        typer.echo(f"{name}={'' if value is None else value}")


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    # Exactly as given, bar the line ending that piping adds.
    # Bytes, decoded here: whatever the locale, no UTF-8 is an error, not a traceback.
    try:
        line = sys.stdin.buffer.readline().decode()
    except UnicodeDecodeError:
        raise _fail("the password is not valid UTF-8") from None
    return line.rstrip("\r\n")


@users.command("create")
def users_create(email: str) -> None:
    """Create a user; the password comes from a prompt or stdin."""
    sign_up = _database_container().sign_up()  # a schema to refuse before the prompt
    password = _read_password()
    try:
        user = sign_up(SignUpCommand(email=email, password=password))
    except DomainError as error:
        raise _fail(str(error)) from None
    typer.echo(json.dumps({"id": str(user.id), "email": str(user.email)}))


def _manage(action: str, email: str) -> None:
    manage = _database_container().manage_users()
    try:
        user = getattr(manage, action)(email)
    except DomainError as error:
        raise _fail(str(error)) from None
    typer.echo(f"{action}d {user.email}")


@users.command("disable")
def users_disable(email: str) -> None:
    """Disable a user and revoke every session at once."""
    _manage("disable", email)


@users.command("enable")
def users_enable(email: str) -> None:
    """Enable a disabled user."""
    _manage("enable", email)


@users.command("delete")
def users_delete(email: str) -> None:
    """Delete a user with all its sessions."""
    _manage("delete", email)


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]


@clients.command("create")
def clients_create(name: str, as_json: JsonOption = False) -> None:
    """Register a service client. Its secret is printed once: only a hash is kept."""
    try:
        created = _database_container().manage_clients().create(name)
    except DomainError as error:
        raise _fail(str(error)) from None
    if as_json:
        typer.echo(json.dumps({"client_id": created.client.id, "client_secret": created.secret}))
        return
    typer.echo(f"client_id:     {created.client.id}")
    typer.echo(f"client_secret: {created.secret}")
    typer.echo("Store the secret now: it cannot be shown again.", err=True)


@clients.command("list")
def clients_list(as_json: JsonOption = False) -> None:
    """List the service clients, oldest first."""
    try:
        found = _database_container().manage_clients().list()
    except DomainError as error:
        raise _fail(str(error)) from None
    rows = [
        {"client_id": c.id, "name": c.name, "created_at": c.created_at.isoformat()} for c in found
    ]
    _print_rows(rows, as_json)


@clients.command("delete")
def clients_delete(client_id: str) -> None:
    """Delete a service client: its secret stops working and its sessions end at once."""
    try:
        _database_container().manage_clients().delete(client_id)
    except DomainError as error:
        raise _fail(str(error)) from None
    typer.echo(f"deleted {client_id}")


AtOnceOption = Annotated[
    bool,
    typer.Option(
        "--now",
        help="Sign with the new key at once: verifiers that cached the JWKS must fetch "
        "it again to accept the new key's tokens",
    ),
]
DropOption = Annotated[
    bool,
    typer.Option(
        "--drop-old",
        help="With --now, for a key that leaked: delete the older keys, so that tokens "
        "they signed (forged ones included) stop verifying here within seconds, and "
        "offline once verifiers' copies of the JWKS expire; users' access tokens end too",
    ),
]


@keys.command("rotate")
def keys_rotate(at_once: AtOnceOption = False, drop_older: DropOption = False) -> None:
    """Add a new signing key, published in the JWKS now, that signs once cached
    copies of the JWKS have expired. The others retire then: they stay in the
    JWKS until every token they signed has expired."""
    if drop_older and not at_once:
        raise _fail("--drop-old needs --now: no key would sign until the new one does")
    try:
        container = _database_container()
        key = container.signing_keys().rotate(at_once=at_once, drop_older=drop_older)
    except DomainError as error:
        raise _fail(str(error)) from None
    if key.status == "active":  # at once, or the first key: nothing signed before it
        typer.echo(
            f"new active key {key.kid} ({key.alg}); every instance signs with it "
            f"within {RELOAD_INTERVAL_SECONDS:g} seconds"
        )
    else:
        typer.echo(
            f"new key {key.kid} ({key.alg}) published; every instance signs with it "
            f"from {key.signs_from.isoformat()}, by its own clock"
        )
    if drop_older:
        typer.echo(
            "the older keys are deleted: their tokens stop verifying on every instance "
            f"within {RELOAD_INTERVAL_SECONDS:g} seconds, and offline once verifiers' "
            "copies of the JWKS expire"
        )


@keys.command("reseal")
def keys_reseal() -> None:
    """Seal every stored signing key again under LATCHKEY_KEY_ENCRYPTION_KEY; keys
    sealed under LATCHKEY_OTHER_KEY_ENCRYPTION_KEY open too (docs/deployment.md)."""
    try:
        count = _database_container().signing_keys().reseal()
    except (KeyDecryptionError, DomainError) as error:
        raise _fail(str(error)) from None
    typer.echo(f"{count} signing keys sealed under the current key-encryption key")


@keys.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """List the signing keys, newest first, with when each signs and when retired
    ones leave the JWKS."""
    try:
        found = _database_container().signing_keys().list()
    except DomainError as error:
        raise _fail(str(error)) from None
    rows = [
        {
            "kid": k.kid,
            "alg": k.alg,
            "created_at": k.created_at.isoformat(),
            "signs_from": k.signs_from.isoformat(),
            "status": k.status,
            "in_jwks_until": k.published_until.isoformat() if k.published_until else None,
        }
        for k in found
    ]
    _print_rows(rows, as_json)


def _print_rows(rows: Sequence[Mapping[str, str | None]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        return
    columns = list(rows[0])
    cells = [[name.upper() for name in columns]]
    cells += [[row[name] or "-" for name in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def main() -> None:
    configure_logging()
    app()
