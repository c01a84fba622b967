"""The platform stack (``platform.py``) and the constructs it composes: tables, API, workflows, media service."""
