"""The HTTP edge's layout: one blueprint per resource, its URL prefix named like its file, no
blueprint importing another's views, and the older guide's URLs served by one alias helper."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import entrypoints.api
from entrypoints.api.blueprint import LEGACY, Blueprint

API = Path(entrypoints.api.__file__).parent
ALIASES = {
    "/api/billing/customer": ("post", "/api/v1/billing/customer"),
    "/api/billing/subscription": ("post", "/api/v1/billing/subscription"),
    "/api/billing/generate-usage-invoice": ("post", "/api/v1/billing/generate-usage-invoice"),
    "/api/billing/dashboard": ("get", "/api/v1/billing/dashboard"),
    "/api/billing/webhook": ("post", "/api/v1/billing/webhook"),
}


def resources() -> dict[str, Blueprint]:
    found = {}
    for module in pkgutil.iter_modules([str(API)]):
        loaded = importlib.import_module(f"entrypoints.api.{module.name}")
        if isinstance(getattr(loaded, "blp", None), Blueprint):
            found[module.name] = loaded.blp
    return found


RESOURCES = resources()


def words(text: str) -> set[str]:
    return {w for w in re.split(r"[/_\-]", text) if w and w not in ("api", "v1")}


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_each_blueprint_is_named_like_its_file_and_its_url_prefix(name):
    blp = RESOURCES[name]
    assert blp.name == name
    if name == "health":  # the probes live at the root, where orchestrators look
        assert blp.url_prefix is None
        return
    prefix = words(blp.url_prefix)
    for word in name.split("_"):
        assert word in prefix or f"{word}s" in prefix or word.removesuffix("s") in prefix, (
            name,
            blp.url_prefix,
        )


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_no_blueprint_imports_another_ones_module(name):
    tree = ast.parse((API / f"{name}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.removeprefix("entrypoints.api."))
            if node.module == "entrypoints.api":
                imported.update(alias.name for alias in node.names)
    assert imported & (set(RESOURCES) - {name}) == set()


def test_every_alias_is_on_the_legacy_blueprint(app):
    legacy_rules = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{LEGACY.name}.")
    }
    assert legacy_rules == set(ALIASES)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_an_alias_is_documented_as_its_canonical_operation_deprecated(client, alias):
    method, canonical = ALIASES[alias]
    paths = client.get("/api/openapi.json").get_json()["paths"]
    old, new = paths[alias][method], paths[canonical][method]
    assert old.pop("deprecated") is True and "deprecated" not in new
    assert old.pop("summary") == f"Deprecated alias of `{method.upper()} {canonical}`."
    assert old.pop("tags") == ["legacy"]
    for key in ("description", "summary", "tags"):
        new.pop(key, None)
    assert old == new


def test_presenters_are_defined_once():
    """A view function shapes a domain object only in presenters.py."""
    for path in API.glob("*.py"):
        if path.name == "presenters.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^def (_?view|.*_view)\(", text, re.MULTILINE), path.name
