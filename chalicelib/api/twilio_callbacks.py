"""Twilio callbacks: /twilio/voice, /twilio/status, /twilio/amd, /twilio/stream-ended (no API key;
signature required).

Every request must carry a valid ``X-Twilio-Signature`` for the public URL it was sent to
(PUBLIC_BASE_URL + path + query); otherwise 403 and nothing changes. Answers are TwiML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib import errors
from chalicelib.api.framework import ApiRouter, RequestContext
from chalicelib.lazy import lazy_module
from chalicelib.telephony import signature, twiml

if TYPE_CHECKING:
    from chalicelib import settings
else:  # pydantic settings model built on first request, not at import
    settings = lazy_module("chalicelib.settings")

bp = Blueprint(__name__)
api = ApiRouter(bp, "Twilio callbacks")


def _xml(body: str) -> Response:
    return Response(body=body, status_code=200, headers={"Content-Type": "text/xml"})


def _verified_form(ctx: RequestContext, path: str) -> dict[str, str]:
    """The form fields of a request whose Twilio signature checks out; 403 otherwise."""
    s = settings.get_settings()
    form = signature.form_params(ctx.raw_body())
    urls = signature.candidate_urls(s.public_base_url, path, ctx.query)
    if not signature.is_valid(s.twilio_auth_token or "", urls, form, ctx.headers.get("x-twilio-signature"),
                              ctx.headers.get("x-twilio-webhooks-signature-settings")):
        raise errors.Forbidden("Invalid or missing X-Twilio-Signature.")
    return {k: v[0] for k, v in form.items()}


def _call_key(ctx: RequestContext, form: dict[str, str]) -> tuple[str, str] | None:
    org_id, call_id = ctx.query.get("org_id"), ctx.query.get("call_id")
    if org_id and call_id:
        return org_id, call_id
    from chalicelib.services.calls import repo

    sid = form.get("CallSid")
    return repo().find_by_twilio_sid(sid) if sid else None


@api.route("/twilio/voice", "POST", auth=False, prefix="", summary="Twilio incoming-call webhook (TwiML)")
def voice(ctx: RequestContext) -> Response:
    from chalicelib.services.inbound import handle_voice

    return _xml(handle_voice(_verified_form(ctx, "/twilio/voice")))


@api.route("/twilio/status", "POST", auth=False, prefix="", summary="Twilio call status callback")
def status(ctx: RequestContext) -> Response:
    from chalicelib.services.call_events import apply_twilio_status

    form = _verified_form(ctx, "/twilio/status")
    key = _call_key(ctx, form)
    if key is not None:
        apply_twilio_status(key[0], key[1], form)
    return _xml(twiml.empty())


@api.route("/twilio/amd", "POST", auth=False, prefix="", summary="Twilio async answering-machine detection")
def amd(ctx: RequestContext) -> Response:
    from chalicelib.services.call_events import record_amd

    form = _verified_form(ctx, "/twilio/amd")
    key = _call_key(ctx, form)
    if key is not None and form.get("AnsweredBy"):
        record_amd(key[0], key[1], form["AnsweredBy"], form)
    return _xml(twiml.empty())


@api.route("/twilio/stream-ended", "POST", auth=False, prefix="",
           summary="Twilio <Connect action>: the media stream ended (reconnect the caller or hang up)")
def stream_ended(ctx: RequestContext) -> Response:
    from chalicelib.services.stream_recovery import after_stream_ended

    form = _verified_form(ctx, "/twilio/stream-ended")
    key = _call_key(ctx, form)
    return _xml(after_stream_ended(key[0], key[1], form) if key is not None else twiml.hang_up())
