# The two commands: `make dev` runs the platform locally, `make test` runs the whole suite.
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: dev test bootstrap lint bench synth clean

bootstrap:
	@bash scripts/bootstrap.sh

dev: bootstrap
	$(PY) -m devstack.run

test: bootstrap
	$(PY) -m ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

lint: bootstrap
	$(PY) -m ruff check .

bench: bootstrap
	$(PY) bench/run_all.py

clean:
	rm -rf .local .pytest_cache .ruff_cache
