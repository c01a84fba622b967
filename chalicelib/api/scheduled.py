"""Scheduled Lambdas (EventBridge rules ``chalice package`` writes into the stack)."""

from __future__ import annotations

import logging

from chalice.app import Blueprint, Rate

bp = Blueprint(__name__)
log = logging.getLogger("voice.scheduled")


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="call_reaper")
def call_reaper(event) -> dict[str, object]:  # noqa: ANN001, ARG001 - chalice CloudWatchEvent, unused
    """End calls whose media task stopped heartbeating (``chalicelib.services.call_reaper``)."""
    from chalicelib.services.call_reaper import reap_stale_calls

    return reap_stale_calls().model_dump()
