"""An eval's simulated caller, run by the media service against a web call's socket (docs/evals.md).

The control plane places the test call as a web call and asks a media task (``POST
/calls/{id}/caller``, ``chalicelib.models.media.RunCaller``) to be its other party. ``runner`` runs a
Pipecat pipeline (``pipecaller``) that dials the call's ``/web/{call_id}`` socket like a browser and
either plays a persona (an LLM given the scenario's instructions, ``persona``, answers what the agent
said) or speaks scripted lines, with the caller's voice, language and pace (``speech``); it reports
its own failures so the call ends at once with the reason.
"""
