"""An eval's simulated caller, run by the media service against a web call's socket (docs/evals.md).

The control plane places the test call as a web call and asks a media task (``POST
/calls/{id}/caller``, ``chalicelib.models.media.RunCaller``) to be its other party. ``runner`` dials
the call's ``/web/{call_id}`` socket like a browser and either plays a persona, a Pipecat pipeline
(``pipecaller``: an LLM given the scenario's instructions (``persona``) answers what the agent said,
spoken by streaming TTS), or speaks scripted lines through a simple real-time player (``peer`` and
``speech``: the caller's voice, language and pace).
"""
