"""flask --app wsgi billing ...: operator and developer commands."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from flask_jwt_extended import create_access_token

from domain.model.organizations import validate_org_id
from entrypoints import migrate
from entrypoints.api.auth import Role
from entrypoints.bootstrap import Container

billing_cli = AppGroup("billing", help="Billing service operations.")


def _container() -> Container:
    value: Container = current_app.extensions["billing"]
    return value


@billing_cli.command("migrate")
def migrate_command() -> None:
    """Apply database migrations (alembic upgrade head)."""
    url = _container().settings.sqlalchemy_url
    migrate.upgrade(url)
    click.echo("database is at the latest migration")


@billing_cli.command("token")
@click.option("--org", "org_id", required=True, help="Organization id (the tenant).")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.OWNER.value,
              show_default=True)
@click.option("--sub", default="dev-user", show_default=True, help="Subject (the user id).")
@click.option("--expires-in", default=3600, show_default=True, help="Lifetime in seconds.")
def token_command(org_id: str, role: str, sub: str, expires_in: int) -> None:
    """Print a signed token for development."""
    settings = _container().settings
    if settings.is_production:
        raise click.ClickException("tokens are minted by your identity provider in production")
    validate_org_id(org_id)
    token = create_access_token(identity=sub, additional_claims={"org_id": org_id, "role": role},
                                expires_delta=timedelta(seconds=expires_in))
    click.echo(token)
