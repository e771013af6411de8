"""Marshmallow fields for request bodies."""

from __future__ import annotations

from typing import Any

import marshmallow as ma


class Text(ma.fields.String):
    """A string without NUL or other C0 control characters (Postgres refuses NUL in text, and
    nothing a product sends has a reason to carry control characters)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if any(ord(ch) < 0x20 for ch in text):
            raise ma.ValidationError("control characters are not allowed")
        return text


class SafeEmail(ma.fields.Email, Text):
    pass
