"""The one renderer of ``{{variable}}`` placeholders (prompts, first messages, campaign and analysis templates).

Names are word characters, dots and hyphens, with optional spaces inside the braces: ``{{ name }}``.
A variable whose value is None counts as unknown. What an unknown name becomes is the caller's choice:
``missing="keep"`` leaves the placeholder as written (so a prompt shows what was not filled),
``missing="empty"`` removes it (text read aloud to a caller).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

_DOUBLE = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")
# {name}, but not inside {{...}}: analysis templates also document single-brace placeholders.
_SINGLE = re.compile(r"(?<!\{)\{([\w.-]+)\}(?!\})")

Missing = Literal["keep", "empty"]


def render(text: str, variables: Mapping[str, object] | None, *, missing: Missing = "keep",
           single_braces: bool = False) -> str:
    """``text`` with each ``{{name}}`` (and ``{name}`` when ``single_braces``) replaced by ``str(value)``."""
    values = variables or {}

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            return match.group(0) if missing == "keep" else ""
        return str(value)

    out = _DOUBLE.sub(fill, text)
    if single_braces:
        out = _SINGLE.sub(fill, out)
    return out
