"""The service's flask-smorest Blueprint: unknown query parameters are refused (422) like
unknown body fields, instead of being silently dropped; integers too long to be any field's
value reach the schema as a marker it refuses (422 naming the field), not a parser crash."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import flask
import flask_smorest
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
