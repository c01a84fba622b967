"""Sandbox providers: local servers that speak the real wire protocols (tests and `make dev`)."""
