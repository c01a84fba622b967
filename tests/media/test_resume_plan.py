"""A call whose stream was cut resumes on another task from the persisted transcript."""

from __future__ import annotations

from media.call.transcript import transcript
from media.conversation import new_context
from media.plan import build_plan

CONFIG = {"first_message": "Hello Ann!", "voicemail_detection": True,
          "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                         "messages": [{"role": "system", "content": "You book cleanings."}]}}
STORED = [
    {"role": "assistant", "content": "Hello Ann!"},
    {"role": "user", "content": "Is Tuesday free?"},
    {"role": "tool_call", "name": "lookup", "arguments": '{"day": "tue"}', "tool_call_id": "call_1"},
    {"role": "tool", "tool_call_id": "call_1", "content": "10:00 free"},
    {"role": "assistant", "content": "Tuesday at ten is free."},
    {"role": "user", "content": "Book it please."},
]


def test_a_fresh_call_greets_and_a_resumed_one_carries_on_from_the_stored_transcript():
    fresh = build_plan("o", "c", "outbound", {"config": CONFIG})
    assert not fresh.resumed and fresh.first_message == "Hello Ann!" and fresh.voicemail_detection

    resumed = build_plan("o", "c", "outbound", {"config": CONFIG, "messages": STORED})
    assert resumed.resumed and resumed.first_message is None and not resumed.voicemail_detection
    # The new task's context holds the system prompt plus exactly the stored turns, tool calls included,
    # so its transcript (what it writes to the row) starts with the stored one and never shortens it.
    context = new_context(resumed)
    assert context.get_messages()[0] == {"role": "system", "content": "You book cleanings."}
    assert transcript(context) == STORED
