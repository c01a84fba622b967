"""Hooks from the call lifecycle into workflows (owned by the workflows feature).

``on_call_finished`` is called by the calls feature once a call reaches a final status; the
campaign runner uses it to release the task token that waits for the call's outcome.
"""

from __future__ import annotations

from chalicelib.storage.calls import Call


def on_call_finished(call: Call) -> None:
    """Called once per call when it ends or fails. No-op until campaigns use it."""
    return None
