"""What a caller's words mean for turn-taking: backchannels, voicemail greetings, comparable text."""

from __future__ import annotations

import re

BACKCHANNELS = {
    "mhm", "mm", "mmm", "hmm", "uh-huh", "uh", "huh", "um", "yeah", "yes", "yep", "yup", "ok", "okay",
    "right", "sure", "alright", "got", "it", "i", "see", "ah", "oh", "cool", "great", "nice", "ja", "oke",
}
WORD_RE = re.compile(r"[a-zA-Z\u00C0-\u024F'-]+")

VOICEMAIL_PATTERNS = (
    "leave a message", "leave your message", "after the tone", "after the beep", "not available",
    "can't take your call", "cannot take your call", "can't come to the phone", "voicemail", "voice mail",
    "record your message", "mailbox", "please leave", "at the tone", "beep", "unavailable right now",
    "spreek een bericht", "na de piep", "inspreken",
)


def is_backchannel(text: str, max_words: int = 3) -> bool:
    """Short acknowledgements that must not interrupt the agent."""
    words = [w.lower().strip("-'") for w in WORD_RE.findall(text)]
    return 0 < len(words) <= max_words and all(w in BACKCHANNELS for w in words)


def looks_like_voicemail(text: str) -> bool:
    """Does a transcript sound like an answering machine's greeting?"""
    low = text.lower()
    return any(p in low for p in VOICEMAIL_PATTERNS)


def normalize(text: str) -> str:
    """Lower-case words only, for comparing a guessed transcript with the final one."""
    return " ".join(w.lower() for w in WORD_RE.findall(text))
