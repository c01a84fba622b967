"""``X-Twilio-Signature`` checks with the SDK's RequestValidator against the public URL."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs


class _MultiParams(dict):
    """Form fields with repeated names (RequestValidator reads ``getlist`` when present)."""

    def getlist(self, name: str) -> list[str]:
        return list(self[name])


def form_params(raw_body: bytes) -> dict[str, list[str]]:
    return parse_qs(raw_body.decode("utf-8", errors="replace"), keep_blank_values=True)


def candidate_urls(base_url: str, path: str, query: Mapping[str, str] | None) -> list[str]:
    """The URLs Twilio may have requested, rebuilt from the deployment's public base URL.

    API Gateway hands us the query as a map whose order is not guaranteed, so the query string is
    rebuilt in the received order, in our own generation order (org_id, call_id) and sorted.
    """
    from urllib.parse import urlencode

    url = base_url.rstrip("/") + path
    if not query:
        return [url]
    items = list(query.items())
    ours = sorted(items, key=lambda kv: {"org_id": 0, "call_id": 1}.get(kv[0], 2))
    out: list[str] = []
    for variant in (items, ours, sorted(items)):
        candidate = url + "?" + urlencode(variant)
        if candidate not in out:
            out.append(candidate)
    return out


def is_valid(auth_token: str, urls: list[str], form: dict[str, list[str]], signature: str | None,
             signature_settings: str | None = None) -> bool:
    """True when ``signature`` is Twilio's signature of one of ``urls`` + the form fields."""
    if not signature or not auth_token:
        return False
    from twilio.request_validator import RequestValidator, get_signature_algorithm

    algorithm = get_signature_algorithm(signature_settings)
    validator = RequestValidator(auth_token)
    params = _MultiParams(form)
    return any(validator.validate(url, params, signature, algorithm) for url in urls)


def sign(auth_token: str, url: str, form: Mapping[str, str | list[str]]) -> str:
    """Twilio's signature of a form POST (used by the fake Twilio and tests)."""
    from twilio.request_validator import RequestValidator

    params = _MultiParams({k: (v if isinstance(v, list) else [v]) for k, v in form.items()})
    return RequestValidator(auth_token).compute_signature(url, params)
