"""Contract tests: the OpenAPI document against the running app (responses, generated client, fuzzing)."""
