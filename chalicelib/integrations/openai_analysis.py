"""Post-call analysis through OpenAI chat completions (summary and structured outputs).

The SDK is imported inside the functions (Lambda cold starts) and pointed at
``settings.openai_base_url`` when set (the sandbox fake, a proxy or a compatible provider).
SDK errors become ``UpstreamError`` so the state machine's Retry sees one error name.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import errors
from chalicelib.settings import get_settings

SUMMARY_PROMPT = (
    "You summarize phone calls between an AI assistant and a caller. Write two to four sentences: "
    "why the caller called or was called, what was agreed or resolved, and any follow-up needed. "
    "Write plain text without headings."
)


class AnalysisLLM:
    """One configured client per task invocation (the key is the org's BYOK key or the platform's)."""

    def __init__(self, api_key: str, model: str | None = None, timeout: float = 60.0):
        from openai import OpenAI

        s = get_settings()
        self.model = model or s.analysis_model
        self.client = OpenAI(api_key=api_key, base_url=s.openai_base_url or None, timeout=timeout, max_retries=2)

    def _complete(self, messages: list[dict[str, Any]], response_format: dict[str, Any] | None = None) -> str:
        import openai

        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
        if response_format is not None:
            kwargs["response_format"] = response_format
        try:
            resp = self.client.chat.completions.create(**kwargs)
        except openai.APIStatusError as exc:
            raise errors.UpstreamError(f"OpenAI returned HTTP {exc.status_code}") from exc
        except openai.APIError as exc:
            raise errors.UpstreamError(f"OpenAI request failed: {type(exc).__name__}") from exc
        return resp.choices[0].message.content or ""

    def summarize(self, transcript: str) -> str:
        return self._complete([{"role": "system", "content": SUMMARY_PROMPT},
                               {"role": "user", "content": transcript}]).strip()

    def extract(self, messages: list[dict[str, Any]], schema: dict[str, Any]) -> str:
        """Structured outputs against ``schema``; returns the raw JSON text (validated by the caller).

        ``strict`` is off: user schemas rarely meet strict mode's rules (every property required,
        no additionalProperties), and the result is validated with jsonschema afterwards anyway."""
        fmt = {"type": "json_schema", "json_schema": {"name": "structured_data", "schema": schema, "strict": False}}
        return self._complete(messages, response_format=fmt)


def parse_json(text: str) -> Any:
    """The JSON value in a model reply (tolerates a Markdown code fence around it)."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[4:] if body.lower().startswith("json") else body
    return json.loads(body)
