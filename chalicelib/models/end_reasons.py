"""The closed set of call end reasons (contract.md "End reasons"; docs/calls.md explains each).

A stored or emitted ``end_reason`` is always one of ``END_REASONS``: anything else (raw exception
text such as ``error: ConnectionRefusedError(111, ...)`` from before this set existed) is mapped by
``normalize_end_reason`` when it is written and again when an old row is read.
"""

from __future__ import annotations

from typing import Literal, get_args

EndReason = Literal[
    "customer_hangup", "assistant_hangup", "control_end_call", "max_duration", "silence_timeout", "voicemail",
    "transferred", "no_answer", "busy", "failed_to_connect", "assistant_request_rejected", "insufficient_credits",
    "provider_error", "media_failure", "error",
]
END_REASONS: tuple[str, ...] = get_args(EndReason)
_KNOWN = frozenset(END_REASONS)


def normalize_end_reason(value: object) -> str | None:
    """``value`` when it is in the closed set, None for no reason, else ``error`` (never raw text)."""
    if value is None or value == "":
        return None
    text = str(value)
    return text if text in _KNOWN else "error"
