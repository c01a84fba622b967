"""First-clause text aggregation for the TTS (issue 14 item 6): LLM tokens in, chunks to speak out."""

from __future__ import annotations

import asyncio

from media.providers.clauses import ClauseFirstTextAggregator, ends_in_clause_mark


def chunks(tokens: list[str], aggregator: ClauseFirstTextAggregator | None = None) -> list[str]:
    """Feed ``tokens`` as one reply (then the response end's flush): the texts the TTS would get."""
    agg = aggregator or ClauseFirstTextAggregator()

    async def run() -> list[str]:
        out = [a.text for token in tokens async for a in agg.aggregate(token)]
        rest = await agg.flush()
        return out + ([rest.text] if rest and rest.text else [])

    return asyncio.run(run())


def words(text: str) -> list[str]:
    """LLM-like tokens: each word with its leading space."""
    parts = text.split(" ")
    return [parts[0]] + [" " + p for p in parts[1:]]


def test_the_first_clause_goes_alone_then_whole_sentences():
    reply = "Sure thing, your order ships tomorrow morning, and it arrives by Friday. Anything else, at all?"
    assert chunks(words(reply)) == ["Sure thing, your order ships tomorrow morning,", "and it arrives by Friday.",
                                    "Anything else, at all?"]


def test_a_clause_needs_enough_words_before_it():
    assert chunks(words("Sure, I can check that for you. One moment.")) == [
        "Sure, I can check that for you.", "One moment."]
    assert chunks(words("Okay, let me see, your number is on file.")) == [
        "Okay, let me see,", "your number is on file."]


def test_semicolon_colon_and_dashes_end_a_first_clause():
    assert chunks(words("We open at nine; we close at five.")) == ["We open at nine;", "we close at five."]
    assert chunks(words("Here is what I found: two orders.")) == ["Here is what I found:", "two orders."]
    assert chunks(words("Your order is ready \u2014 pick it up today.")) == [
        "Your order is ready \u2014", "pick it up today."]
    assert chunks(words("Your order is ready - pick it up today.")) == ["Your order is ready -", "pick it up today."]
    assert chunks(words("It is a well-known fact that we open daily.")) == [
        "It is a well-known fact that we open daily."]


def test_numbers_and_times_are_never_cut():
    # The mark must be followed by a space: "1,000" and "3:30" split across tokens stay whole.
    assert chunks(["That comes", " to 1", ",", "000 euros", " at 3", ":", "30 today."]) == [
        "That comes to 1,000 euros at 3:30 today."]


def test_each_reply_gets_its_own_first_clause_and_an_interruption_starts_over():
    agg = ClauseFirstTextAggregator()
    assert chunks(words("Well then, as you wish, we will call you."), agg) == [
        "Well then, as you wish,", "we will call you."]
    assert chunks(words("Of course, no problem, here it is."), agg) == ["Of course, no problem,", "here it is."]

    async def interrupted() -> list[str]:
        out = [a.text async for a in agg.aggregate("Let me look that up, one moment, please")]
        await agg.handle_interruption()  # the rest of that reply is dropped; the next one starts over
        out += [a.text for t in words("Right, of course, no problem, done.") async for a in agg.aggregate(t)]
        return out

    assert asyncio.run(interrupted()) == ["Let me look that up,", "Right, of course,"]


def test_text_split_mid_word_and_mid_mark_still_cuts_at_the_space():
    assert chunks(["Let", " me loo", "k that up", ",", " ", "please wait."]) == ["Let me look that up,", "please wait."]


def test_ends_in_clause_mark_tells_a_clause_from_a_sentence():
    assert ends_in_clause_mark("Okay, let me see,") and ends_in_clause_mark("Ready - ")
    assert not any(ends_in_clause_mark(t) for t in ("All done.", "well-known", ""))
