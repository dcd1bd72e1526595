"""`python -m auth_service`: serve; `python -m auth_service create-admin`: create (or reset) an admin."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import click
from nats.errors import NoServersError

from auth_service.admin_cli import create_account, seed_demo
from auth_service.app import create_app
from auth_service.bootstrap import AuthServiceSettings
from podium_runtime.main import serve

T = TypeVar("T")


@click.group(invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Podium's identity service. Without a command, serve it."""
    if ctx.invoked_subcommand is None:
        settings = AuthServiceSettings()
        serve(create_app(settings), settings)


def _run(settings: AuthServiceSettings, command: Coroutine[Any, Any, T]) -> T:
    """A command on the service's bootstrap: it needs NATS (to tell the gateways the token version) as well as
    PostgreSQL, and changes nothing when NATS stays unreachable."""
    try:
        return asyncio.run(command)
    except NoServersError:
        raise click.ClickException(f"NATS is unreachable at {settings.nats_url}; nothing was changed") from None


@main.command("create-admin")
@click.option("--name", required=True, help="the admin's login name")
@click.password_option("--password", help="prompted (twice) when not given; or set PODIUM_ADMIN_PASSWORD",
                       envvar="PODIUM_ADMIN_PASSWORD")
def create_admin(name: str, password: str) -> None:
    """Create the first admin, or reset an existing admin's password (which revokes its tokens)."""
    settings = AuthServiceSettings()
    click.echo(_run(settings, create_account(settings, name=name, password=password, role="admin")))


@main.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo admin and team of the local stack if missing, and print their credentials."""
    settings = AuthServiceSettings()
    for line in _run(settings, seed_demo(settings)):
        click.echo(line)


if __name__ == "__main__":
    main()
