"""Developer tooling run from the Makefile (bootstrap, import checks); never shipped."""
