"""The `latchkey` command line."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from adapters.sql.migrate import is_up_to_date, upgrade
from application.signup import SignUpCommand
from domain.errors import DomainError
from entrypoints.container import Container
from entrypoints.logging import configure_logging

app = typer.Typer(
    help="Latchkey authentication service.", no_args_is_help=True, pretty_exceptions_enable=False
)
users = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(users, name="users")


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


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Bind port")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
) -> None:
    """Serve the HTTP API."""
    container = _container()
    settings = container.settings()
    if settings.auto_migrate:
        upgrade(settings.effective_database_url)
    elif not is_up_to_date(container.engine()):
        raise _fail("the database schema is out of date: run `latchkey migrate` first")
    # Create the development keys once, before several workers could race to.
    container.keys()
    container.codec()
    uvicorn.run(
        "entrypoints.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level="info",
        proxy_headers=True,
    )


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    settings = _container().settings()
    upgrade(settings.effective_database_url)
    typer.echo("database is up to date")


@app.command()
def config() -> None:
    """Print the effective settings, secrets masked."""
    for name, value in _container().settings().masked().items():
        typer.echo(f"{name}={'' if value is None else value}")


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    # Exactly as given, bar the line ending that piping adds.
    return sys.stdin.readline().rstrip("\r\n")


@users.command("create")
def users_create(email: str) -> None:
    """Create a user; the password comes from a prompt or stdin."""
    password = _read_password()
    try:
        user = _container().sign_up()(SignUpCommand(email=email, password=password))
    except DomainError as error:
        raise _fail(str(error)) from None
    typer.echo(json.dumps({"id": str(user.id), "email": str(user.email)}))


def _manage(action: str, email: str) -> None:
    manage = _container().manage_users()
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


def main() -> None:
    configure_logging()
    app()
