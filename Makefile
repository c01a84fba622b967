# The two commands: `make dev` runs the platform locally, `make test` runs the whole suite.
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: dev dev-aws test test-fast test-integration test-e2e test-infra bootstrap lint bench synth clean

bootstrap:
	@bash scripts/bootstrap.sh

dev: bootstrap
	$(PY) -m devstack

# The deploy-shaped run: the stack's topology (2 media tasks behind HAProxy, Cloud Map stand-in, control
# ports) from infra/config.py on the local stand-ins (docs/deploy.md, "The deploy-shaped local run").
dev-aws: bootstrap
	$(PY) -m devstack.deploy_shape

# make lint first, then the whole suite even when lint failed (both results are worth seeing);
# the exit status is a failure when either failed. One process by default: with two pytest-xdist workers
# (TEST_WORKERS=2, a test module each at a time) the suite takes ~15 min instead of ~28, but two dev stacks
# or browser tests then run at once on two cores and the heaviest simulated calls can time out.
test: bootstrap
	@lint=0; $(MAKE) --no-print-directory lint || { lint=1; echo "make test: lint failed (above); running the tests anyway"; }; \
	$(PY) -m pytest -q -p no:cacheprovider -n $${TEST_WORKERS:-0} --dist loadfile; tests=$$?; \
	[ $$lint -eq 0 ] && [ $$tests -eq 0 ]

# One lane of the suite (tests/conftest.py assigns each test one; README "Tests").
test-fast: bootstrap
	$(PY) -m pytest -q -p no:cacheprovider -m unit

test-integration: bootstrap
	$(PY) -m pytest -q -p no:cacheprovider -m integration

test-e2e: bootstrap
	$(PY) -m pytest -q -p no:cacheprovider -m e2e

test-infra: bootstrap
	$(PY) -m pytest -q -p no:cacheprovider -m infra

# ruff, the type checker (basedpyright, pyright "basic" + strict folders) and the import contracts
# (import-linter: layers and cycles), all configured in pyproject.toml. All three run; any failure fails.
lint: bootstrap
	@status=0; \
	echo "== ruff"; $(PY) -m ruff check . || status=1; \
	echo "== basedpyright"; $(PY) -m basedpyright || status=1; \
	echo "== import-linter"; .venv/bin/lint-imports --no-cache || status=1; \
	exit $$status

bench: bootstrap
	$(PY) bench/run_all.py

# Synthesize the CloudFormation templates into infra/cdk.out/ (offline; no AWS account needed).
# Example: make synth SYNTH_ARGS="stage=prod certificate_arn=arn:... media_domain=media.example.com"
synth: bootstrap
	rm -rf infra/cdk.out
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(PY) infra/app.py $(SYNTH_ARGS)

clean:
	rm -rf .local .pytest_cache .ruff_cache
