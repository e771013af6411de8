"""flask --app wsgi billing ...: operator and developer commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_jwt_extended import create_access_token
from sqlalchemy import make_url

from domain.errors import DomainError
from domain.model.organizations import validate_org_id
from domain.model.webhooks import InboxStatus
from domain.services.catalog_sync import sync_catalog
from domain.services.monthly_invoicing import (
    MonthNotClosed,
    month_cutoff,
    organizations_to_invoice,
    run_invoicing,
)
from domain.services.stripe_events import replay_event
from entrypoints import migrate
from entrypoints.api.auth import Role
from entrypoints.bootstrap import Container, archive_usage
from entrypoints.cli_reconcile import reconcile_command
from entrypoints.startup import debug


class OperatorError(click.ClickException):
    """One line on stderr (`Error: ...`) and exit status 2: the operator must fix something."""

    exit_code = 2


billing_cli = AppGroup("billing", help="Billing service operations.")
billing_cli.add_command(reconcile_command)


def _container() -> Container:
    value: Container = current_app.extensions["billing"]
    return value


@billing_cli.command("migrate")
@click.option(
    "--create-database",
    is_flag=True,
    help="First create the Postgres database DATABASE_URL names, if it does not exist.",
)
def migrate_command(create_database: bool) -> None:
    """Apply database migrations (alembic upgrade head)."""
    settings = _container().settings
    try:
        if create_database and migrate.create_database_if_missing(settings.sqlalchemy_url):
            click.echo(f"created the database {make_url(settings.sqlalchemy_url).database}")
        migrate.upgrade(settings.sqlalchemy_url)
    except Exception as exc:
        if debug():
            raise
        where = settings.database_url and make_url(settings.database_url).render_as_string()
        reason = str(exc).splitlines()[0]
        hint = " (create it: add --create-database)" if "does not exist" in reason else ""
        raise OperatorError(
            f"cannot migrate the database at {where or 'the embedded SQLite file'}: {reason}{hint}"
        ) from None
    click.echo("database is at the latest migration")


@billing_cli.command("token")
@click.option("--org", "org_id", required=True, help="Organization id (the tenant).")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.OWNER.value,
    show_default=True,
)
@click.option("--sub", default="dev-user", show_default=True, help="Subject (the user id).")
@click.option("--expires-in", default=3600, show_default=True, help="Lifetime in seconds.")
def token_command(org_id: str, role: str, sub: str, expires_in: int) -> None:
    """Print a signed token for development."""
    settings = _container().settings
    if settings.is_production:
        raise OperatorError("tokens are minted by your identity provider in production")
    try:
        validate_org_id(org_id)
    except DomainError as exc:
        raise OperatorError(f"--org: {exc.message}") from None
    token = create_access_token(
        identity=sub,
        additional_claims={"org_id": org_id, "role": role},
        expires_delta=timedelta(seconds=expires_in),
    )
    click.echo(token)


@billing_cli.command("stripe-sync")
@click.option("--dry-run", is_flag=True, help="Show what would be created; create nothing.")
def stripe_sync_command(dry_run: bool) -> None:
    """Create or find the catalog's products and prices in Stripe by lookup key (idempotent),
    then print the environment lines that pin them."""
    deps = _container().payments
    try:
        lines = sync_catalog(deps.require_gateway(), deps.catalog, dry_run=dry_run)
    except DomainError as exc:
        raise OperatorError(f"{exc.code}: {exc.message}") from None
    for line in lines:
        click.echo(
            f"{line.tier.value:<12} {line.lookup_key:<30} {line.action:<12} "
            f"{line.price_id or '-'}" + (f"  ({line.note})" if line.note else "")
        )
    env = [line.env_line for line in lines if line.env_line]
    if env:
        click.echo("\n# set these in the service's environment:")
        for entry in env:
            click.echo(entry)


@billing_cli.command("replay-events")
@click.option("--status", type=click.Choice(["dead", "pending", "parked"]), required=True)
@click.option(
    "--since",
    type=click.DateTime(),
    default=None,
    help="Only events received at or after this UTC time (e.g. 2026-11-01T00:00).",
)
@click.option("--limit", default=10_000, show_default=True)
def replay_events_command(status: str, since: datetime | None, limit: int) -> None:
    """Put dead, parked or pending webhook events back in line and enqueue them."""
    c = _container()
    since_utc = since.replace(tzinfo=UTC) if since else None
    with c.uow() as uow:
        events = uow.inbox.search(InboxStatus(status), None, since_utc, limit)
    with click.progressbar(events, label=f"replaying {len(events)} {status} events") as bar:
        for event in bar:
            replay_event(c.uow, c.jobs, event.id)
    click.echo(f"replayed {len(events)} events")


@billing_cli.command("run-invoicing")
@click.option(
    "--period",
    default=None,
    help="The month to close, e.g. 2026-10 (default: the "
    "month before the current one; a month that has not ended is refused). Earlier unbilled "
    "usage is included.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be billed; create nothing.")
def run_invoicing_command(period: str | None, dry_run: bool) -> None:
    """Invoice every organization's unbilled usage up to the end of a closed month."""
    c = _container()
    try:
        cutoff = month_cutoff(c.clock.now(), period)
    except MonthNotClosed as exc:
        raise OperatorError(f"--period {exc}") from None
    except ValueError:
        raise OperatorError("--period: use YYYY-MM, e.g. 2026-10") from None
    orgs = organizations_to_invoice(c.invoicing, cutoff)
    with click.progressbar(
        orgs,
        label=f"{'previewing' if dry_run else 'invoicing'} "
        f"{len(orgs)} organizations before {cutoff:%Y-%m-%d}",
    ) as bar:
        summary = run_invoicing(c.invoicing, cutoff, bar, dry_run, actor="cli:run-invoicing")
    click.echo(("would be: " if dry_run else "") + summary.line())
    for org_id, error in summary.failures.items():
        click.echo(f"failed {org_id}: {error}", err=True)


@billing_cli.command("archive-usage")
@click.option(
    "--older-than",
    "keep_months",
    type=click.IntRange(min=2),
    required=True,
    help="Archive months that ended at least this many months before the current one.",
)
@click.option(
    "--to",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the archive files go (default: INSTANCE_PATH/usage-archive).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be archived; change nothing.")
def archive_usage_command(keep_months: int, directory: Path | None, dry_run: bool) -> None:
    """Archive the raw usage entries of invoiced months to gzip'd JSON lines, then drop them
    from the ledger; invoices keep their lines and totals. A month with unbilled usage is
    refused (exit status 1)."""
    c = _container()
    target = directory or c.settings.instance_path / "usage-archive"
    outcomes = archive_usage(c, keep_months, target, dry_run)
    refused = 0
    for outcome in outcomes:
        month = f"{outcome.month:%Y-%m}"
        if outcome.reason:
            refused += 1
            click.echo(f"{month}  refused: {outcome.reason}")
        elif dry_run:
            click.echo(f"{month}  would archive {outcome.entries:,} entries")
        else:
            click.echo(f"{month}  archived {outcome.entries:,} entries to {outcome.file}")
    if not outcomes:
        click.echo(f"nothing to archive: no month ended {keep_months} months ago or earlier")
    if refused:
        raise click.exceptions.Exit(1)
