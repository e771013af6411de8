"""flask --app wsgi billing reconcile: compare our books with Stripe's, by hand."""

from __future__ import annotations

from collections import Counter

import click
from flask import current_app
from flask.cli import with_appcontext

from domain.errors import DomainError
from domain.model.organizations import validate_org_id
from domain.model.reconciliation import Drift
from domain.services.reconciliation import open_run, reconcile
from entrypoints.bootstrap import Container, reconciliation


def _line(drift: Drift) -> str:
    return (
        f"{drift.action.value:<13} {drift.kind.value:<30} {drift.org_id or '-':<20} "
        f"{drift.object_type.value} {drift.object_id}: ours {drift.ours!s} / "
        f"Stripe {drift.theirs!s}" + ("" if drift.new else "  (seen before)")
    )


@click.command("reconcile")
@with_appcontext
@click.option("--org", "org_id", default=None, help="Only this organization.")
@click.option("--fix", is_flag=True, help="Repair what Stripe owns (through the webhook handlers).")
@click.option("--dry-run", is_flag=True, help="Compare and print; store and change nothing.")
def reconcile_command(org_id: str | None, fix: bool, dry_run: bool) -> None:
    """Compare customers, subscriptions, usage invoices and purchases with Stripe's lists;
    report each difference, and with --fix repair the ones Stripe owns."""
    container: Container = current_app.extensions["billing"]
    deps = reconciliation(container)
    try:
        if org_id is not None:
            validate_org_id(org_id)
        deps.payments.require_gateway()
        with deps.payments.uow() as uow:
            books = uow.reconciliation.books(org_id)
        expected = len(books.customers) + len(books.subscriptions) + len(books.invoices)
        run = open_run(deps, org_id=org_id, fix=fix, dry_run=dry_run, actor="cli:reconcile")
        with click.progressbar(
            length=max(expected, 1), label=f"comparing with Stripe ({run.id})"
        ) as bar:
            result = reconcile(deps, run, bar.update)
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    for drift in result.drifts:
        click.echo(_line(drift))
    counts = result.run.counts
    kinds = Counter(d.kind.value for d in result.drifts)
    click.echo(
        ("dry run, nothing stored or changed: " if dry_run else f"run {result.run.id}: ")
        + f"{counts.objects_compared} Stripe objects compared, {counts.drifts} drifts "
        f"({counts.new_drifts} new, {counts.repaired} repaired, {counts.reported} reported), "
        f"{counts.events_recovered} missed events recovered of {counts.events_listed} listed, "
        f"{counts.other_api_version_events} events of another API version"
    )
    if kinds:
        click.echo("by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
