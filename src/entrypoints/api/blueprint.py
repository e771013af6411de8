"""The service's flask-smorest Blueprint: unknown query parameters are refused (422) like
unknown body fields, instead of being silently dropped; integers too long to be any field's
value reach the schema as a marker it refuses (422 naming the field), not a parser crash.

A route may name the URL the older guide used (`legacy=`): the same view answers there too,
documented as a deprecated alias, on the one LEGACY blueprint."""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import deepcopy
from typing import Any, ClassVar

import flask
import flask_smorest
from flask.views import MethodView
from flask_smorest.utils import deepupdate
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

# More digits than any count, amount or quantity the API takes (2^63 has 19).
MAX_INTEGER_DIGITS = 30


class OversizeInteger(str):
    """An integer literal with too many digits: no Integer field accepts it."""

    __slots__ = ()


def _bounded_int(literal: str) -> int | OversizeInteger:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        return OversizeInteger(literal[:12] + "...")
    return int(literal)


class StrictParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION: ClassVar[dict[str, str | None]] = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "querystring": None}

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"not UTF-8: {exc.reason}", str(exc.object),
                                       exc.start) from exc
        return json.loads(text, parse_int=_bounded_int)


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = StrictParser()

    def route(self, rule: str, *, legacy: str | None = None,
              **options: Any) -> Callable[[Any], Any]:
        register = super().route(rule, **options)

        def decorator(view: Any) -> Any:
            register(view)
            if legacy is not None:
                canonical = (self.url_prefix or "") + rule
                LEGACY.add_url_rule(legacy, view_func=deprecated_alias(view, canonical))
            return view

        return decorator


def deprecated_alias(view: type[MethodView], canonical: str) -> type[MethodView]:
    """The view under another name, each method documented as a deprecated alias of
    `canonical` (its own documentation otherwise kept)."""

    def alias_of(method: Callable[..., Any], verb: str) -> Callable[..., Any]:
        def alias(self: MethodView, *args: Any, **kwargs: Any) -> Any:
            return method(self, *args, **kwargs)

        alias.__doc__ = f"Deprecated alias of `{verb} {canonical}`."
        doc = deepcopy(getattr(method, "_apidoc", {}))
        doc["manual_doc"] = deepupdate(doc.get("manual_doc", {}), {"deprecated": True})
        alias._apidoc = doc  # type: ignore[attr-defined]
        return alias

    methods = {verb.lower(): alias_of(getattr(view, verb.lower()), verb)
               for verb in sorted(view.methods or ())}
    return type(f"Legacy{view.__name__}", (view,), methods)


LEGACY = Blueprint("legacy", __name__,
                   description="Deprecated unversioned aliases of the older guide.")
