"""`python -m auth_service`: serve; `python -m auth_service create-admin`: create (or reset) an admin."""

from __future__ import annotations

import asyncio

import click

from auth_service.admin_cli import create_account, seed_demo
from auth_service.app import create_app
from auth_service.bootstrap import AuthServiceSettings
from podium_runtime.main import serve


@click.group(invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Podium's identity service. Without a command, serve it."""
    if ctx.invoked_subcommand is None:
        settings = AuthServiceSettings()
        serve(create_app(settings), settings)


@main.command("create-admin")
@click.option("--name", required=True, help="the admin's login name")
@click.password_option("--password", help="prompted (twice) when not given; or set PODIUM_ADMIN_PASSWORD",
                       envvar="PODIUM_ADMIN_PASSWORD")
def create_admin(name: str, password: str) -> None:
    """Create the first admin, or reset an existing admin's password (which revokes its tokens)."""
    message = asyncio.run(create_account(AuthServiceSettings(), name=name, password=password, role="admin"))
    click.echo(message)


@main.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo admin and team of the local stack if missing, and print their credentials."""
    for line in asyncio.run(seed_demo(AuthServiceSettings())):
        click.echo(line)


if __name__ == "__main__":
    main()
