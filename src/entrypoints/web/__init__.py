"""The billing pages people look at: /billing for an organization, /admin for operators.

Server-rendered shells; small scripts shipped with the service call the JSON API with the
caller's token. Nothing is loaded from a CDN."""

from __future__ import annotations

from flask import Blueprint, render_template

pages = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/billing",
)


@pages.get("/billing")
def billing_page() -> str:
    return render_template("billing.html")


@pages.get("/billing/invoices/<invoice_id>")
def invoice_page(invoice_id: str) -> str:
    # The id only names what the script asks the API for, with the caller's token; the API
    # answers 404 for an invoice of another organization.
    return render_template("invoice.html", invoice_id=invoice_id)


@pages.get("/admin")
def admin_page() -> str:
    return render_template("admin.html")
