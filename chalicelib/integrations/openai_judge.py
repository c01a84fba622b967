"""The eval judge's chat completion: fixed rubric prompt, JSON-schema output, temperature 0."""

from __future__ import annotations

from typing import Any

from chalicelib.integrations.openai_analysis import AnalysisLLM


class JudgeLLM(AnalysisLLM):
    """Same client, key and error mapping as the post-call analysis (UpstreamError on SDK errors)."""

    def judge(self, system: str, user: str, schema: dict[str, Any]) -> str:
        """The raw JSON text of the verdicts (strict structured outputs: the schema is ours)."""
        fmt = {"type": "json_schema", "json_schema": {"name": "verdicts", "schema": schema, "strict": True}}
        return self._complete([{"role": "system", "content": system}, {"role": "user", "content": user}],
                              response_format=fmt)
