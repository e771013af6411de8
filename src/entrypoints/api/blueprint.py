"""The service's flask-smorest Blueprint: unknown query parameters are refused (422) like
unknown body fields, instead of being silently dropped; integers too long to be any field's
value reach the schema as a marker it refuses (422 naming the field), not a parser crash.

A route may name the URL the older guide used (`legacy=`): the same view answers there too,
documented as a deprecated alias, on the one LEGACY blueprint."""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import deepcopy
from typing import Any, NoReturn, TypeVar, cast

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


def bounded_int(literal: str) -> int | OversizeInteger:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        return OversizeInteger(literal[:12] + "...")
    return int(literal)


def abort(status: int, **kwargs: Any) -> NoReturn:
    """flask-smorest's abort, declared as never returning (the library ships no types)."""
    flask_smorest.abort(status, **kwargs)
    raise AssertionError("abort returned")  # pragma: no cover - it always raises


class StrictParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(
                f"not UTF-8: {exc.reason}", str(exc.object), exc.start
            ) from exc
        return json.loads(text, parse_int=bounded_int)


F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V")


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest ships no types: its decorators are declared here as keeping the type of
    what they decorate, so the views stay type-checked."""

    ARGUMENTS_PARSER = StrictParser()

    def arguments(self, schema: Any, **kwargs: Any) -> Callable[[F], F]:
        return cast(Callable[[F], F], super().arguments(schema, **kwargs))

    def response(self, status_code: int, schema: Any = None, **kwargs: Any) -> Callable[[F], F]:
        return cast(Callable[[F], F], super().response(status_code, schema, **kwargs))

    def alt_response(self, status_code: int, **kwargs: Any) -> Callable[[F], F]:
        return cast(Callable[[F], F], super().alt_response(status_code, **kwargs))

    def doc(self, **kwargs: Any) -> Callable[[F], F]:
        return cast(Callable[[F], F], super().doc(**kwargs))

    def route(self, rule: str, *, legacy: str | None = None, **options: Any) -> Callable[[V], V]:
        register = super().route(rule, **options)

        def decorator(view: V) -> V:
            register(view)
            if legacy is not None:
                canonical = (self.url_prefix or "") + rule
                LEGACY.add_url_rule(
                    legacy, view_func=deprecated_alias(cast(type[MethodView], view), canonical)
                )
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

    methods = {
        verb.lower(): alias_of(getattr(view, verb.lower()), verb)
        for verb in sorted(view.methods or ())
    }
    return type(f"Legacy{view.__name__}", (view,), methods)


def documented(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """The OpenAPI documentation the flask-smorest `decorators` give (arguments, responses,
    errors), without their wrappers at run time: for a view on every request of a product, which
    reads its body and builds its answer itself (the documentation stays the same)."""

    def decorator(view: F) -> F:
        wrapped = view
        for apply in reversed(decorators):
            wrapped = apply(wrapped)
        view._apidoc = wrapped._apidoc  # type: ignore[attr-defined]
        return view

    return decorator


LEGACY = Blueprint(
    "legacy", __name__, description="Deprecated unversioned aliases of the older guide."
)
