"""What a caller's words mean for turn-taking: backchannels, voicemail greetings, comparable text."""

from __future__ import annotations

import re

BACKCHANNELS = (
    "mhm", "mm", "mmm", "hmm", "uh-huh", "uh", "huh", "um", "yeah", "yes", "yep", "yup", "ok", "okay",
    "right", "sure", "alright", "got", "it", "i", "see", "ah", "oh", "cool", "great", "nice", "ja", "oke",
)
WORD_RE = re.compile(r"[a-zA-Z\u00C0-\u024F'-]+")
_LETTERS_RE = re.compile(r"[^a-z\u00E0-\u024F]")
_REPEATS_RE = re.compile(r"(.)\1+")


def canonical(word: str) -> str:
    """A spelling-independent form: letters only, repeats collapsed ("Mm-hmm." / "mmhmm" / "mhm" -> "mhm")."""
    return _REPEATS_RE.sub(r"\1", _LETTERS_RE.sub("", word.lower()))


_CANONICAL_BACKCHANNELS = frozenset(canonical(w) for w in BACKCHANNELS)

VOICEMAIL_PATTERNS = (
    "leave a message", "leave your message", "after the tone", "after the beep", "not available",
    "can't take your call", "cannot take your call", "can't come to the phone", "voicemail", "voice mail",
    "record your message", "mailbox", "please leave", "at the tone", "beep", "unavailable right now",
    "spreek een bericht", "na de piep", "inspreken",
)


def is_backchannel(text: str, max_words: int = 3, extra: tuple[str, ...] = ()) -> bool:
    """Short acknowledgements that must not interrupt the agent, however the STT spells them.

    ``extra`` adds the assistant's own acknowledgement phrases (their words are accepted too).
    """
    known = _CANONICAL_BACKCHANNELS
    if extra:
        known = known | {canonical(w) for phrase in extra for w in WORD_RE.findall(phrase)}
        max_words = max(max_words, *(len(WORD_RE.findall(p)) for p in extra))
    words = [c for c in (canonical(w) for w in WORD_RE.findall(text)) if c]
    if not 0 < len(words) <= max_words:
        return False
    # "uh huh" and "uh-huh" read the same, and so do "mm hmm" and "mhm".
    return all(w in known for w in words) or canonical("".join(words)) in known


def looks_like_voicemail(text: str) -> bool:
    """Does a transcript sound like an answering machine's greeting?"""
    low = text.lower()
    return any(p in low for p in VOICEMAIL_PATTERNS)


def normalize(text: str) -> str:
    """Lower-case words only, for comparing a guessed transcript with the final one."""
    return " ".join(w.lower() for w in WORD_RE.findall(text))
