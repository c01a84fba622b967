"""Text for the TTS cut at the reply's first clause, then at sentences (issue 14 item 6).

Pipecat's TTS services speak the LLM's text a sentence at a time (``SimpleTextAggregator``): the first
audio waits for the whole first sentence (~110 ms of tokens in the reference profile, more for a long
one). ``ClauseFirstTextAggregator`` lets the first clause go as soon as it is whole -- a comma,
semicolon, colon or dash once the reply has at least ``min_words`` words -- and cuts everything after
it at sentence ends as before, so only the reply's first chunk is a clause (prosody stays sentence-sized
after the first breath). A clause mark counts only once the next character is a space, so "1,000" and
"3:30" are never cut.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

CLAUSE_MARKS = frozenset(",;:\u2013\u2014")  # comma, semicolon, colon, en and em dash
SPACED_DASH = " -"  # a hyphen standing alone (" - ") is a dash; inside a word it is not
MIN_CLAUSE_WORDS = 3  # "Sure, ..." alone is too short to give the voice a natural contour


def ends_in_clause_mark(text: str) -> bool:
    """Does ``text`` end where a clause does (a first-clause cut, not a sentence)?"""
    text = text.rstrip()
    return bool(text) and (text[-1] in CLAUSE_MARKS or text.endswith(SPACED_DASH))


class ClauseFirstTextAggregator(SimpleTextAggregator):
    """Sentence aggregation whose first aggregation per reply may end at a clause.

    A reply ends at ``flush`` (Pipecat calls it at the LLM response's end) or ``handle_interruption``;
    the next text starts a new reply with its own first clause.
    """

    def __init__(self, *, min_words: int = MIN_CLAUSE_WORDS, language: str | None = None) -> None:
        super().__init__(aggregation_type=TextType.SENTENCE, language=language)  # pyright: ignore[reportUnknownMemberType] - Pipecat leaves **kwargs untyped
        self.min_words = min_words
        self._first = True  # the next aggregation is the reply's first

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        for char in text:
            self._text += char
            clause = self._clause_end(char) if self._first else None
            result = clause or await self._check_sentence_with_lookahead(char)
            if result is not None:
                self._first = False
                yield result

    def _clause_end(self, char: str) -> Aggregation | None:
        """At the space after a clause mark with enough words before it: the clause, taken from the buffer."""
        if not char.isspace():
            return None
        head = self._text[:-1]
        if not ends_in_clause_mark(head) or len(head.split()) < self.min_words:
            return None
        self._text = ""
        self._reset_lookahead()
        return Aggregation(text=head.strip(" "), type=TextType.SENTENCE)

    def _reset_lookahead(self) -> None:
        # The clause took the whole buffer: no sentence candidate is pending any more.
        from pipecat.utils.text.simple_text_aggregator import _LookaheadState  # pyright: ignore[reportPrivateUsage] - the parent's own state machine

        self._lookahead_state = _LookaheadState.IDLE

    async def flush(self) -> Aggregation | None:
        self._first = True
        return await super().flush()

    async def handle_interruption(self) -> None:
        self._first = True
        await super().handle_interruption()

    async def reset(self) -> None:
        self._first = True
        await super().reset()
