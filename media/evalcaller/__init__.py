"""An eval's simulated caller, run by the media service against a web call's socket (docs/evals.md).

The control plane places the test call as a web call and asks a media task (``POST
/calls/{id}/caller``, ``chalicelib.models.media.RunCaller``) to be its other party. ``runner`` dials
the call's ``/web/{call_id}`` socket like a browser (``peer``) and either speaks scripted lines or
plays a persona: an LLM given the scenario's instructions (``persona``) answers what the agent said,
and its replies are spoken with provider TTS (``speech``: the caller's voice, language and pace).
"""
