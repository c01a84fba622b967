"""How long to wait after the caller's last word, by how the transcript ends (Vapi's transcription endpointing).

A sentence that ends in punctuation is probably finished; a number is often dictated in groups with
pauses between them ("zero six, one two ... three four"); anything else (a trailing comma, no
punctuation) may go on. Pure functions, no Pipecat types.
"""

from __future__ import annotations

import re

from media.plan import TurnSettings

NUMBER_WORDS = frozenset((
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "double",
    "triple", "nul", "een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen",
))
_LAST_TOKEN_RE = re.compile(r"([\w'-]+)\W*$")


def ending(text: str) -> str:
    """How ``text`` ends: "punctuation", "number" or "open"."""
    stripped = text.strip()
    if not stripped:
        return "open"
    match = _LAST_TOKEN_RE.search(stripped)
    last = match.group(1).lower() if match else ""
    number = last.isdigit() or last in NUMBER_WORDS
    if stripped[-1] in ".?!":
        # "... five six seven eight." ends a dictated number; "... one two" without a stop does not.
        return "punctuation"
    return "number" if number else "open"


def words_wait(text: str, settings: TurnSettings) -> float:
    """Seconds after the caller's speech ended before the reply may start, for this transcript."""
    kind = ending(text)
    if kind == "punctuation":
        return settings.on_punctuation_seconds
    if kind == "number":
        return settings.on_number_seconds
    return settings.on_no_punctuation_seconds
