"""Local stand-ins for AWS and API Gateway (used by `make dev` and the tests; never deployed)."""
