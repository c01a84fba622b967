"""The per-call Pipecat pipeline: its assembly and our processors (turn-taking, speculation, probes)."""
