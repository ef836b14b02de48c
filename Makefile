# The README's two commands: `make run` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help run test test-fast lint check bench clean mutation

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## run the gateway on the embedded default (SQLite, ./data, sandbox); PORT=8080 to move it
	$(BIN)/reelgate serve $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST))

test: $(STAMP)  ## lint, type-check and run the tests on SQLite and on PostgreSQL
	bash scripts/test

# No subprocess, no sleep: the unit tier and the in-process tier (the app over ASGI on a
# fake upstream), on SQLite. Under 90 s on two cores.
test-fast: $(STAMP)  ## ruff, mypy, lint-imports, then the unit and in-process tests on SQLite
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	REELGATE_TEST_DATABASE=sqlite REELGATE_TEST_REDIS_URL= $(BIN)/pytest -q -p no:cacheprovider tests/unit tests/inprocess

# Tens of minutes: `make mutation MUTANTS='reelgate.domain.*'` runs a part (scripts/mutation).
mutation: $(STAMP)  ## mutation testing (mutmut) of domain, money, lifecycle, idempotency, URL guard
	bash scripts/mutation $(MUTANTS)

lint: $(STAMP)  ## ruff, mypy and the import-linter contracts only
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Podman, runc and mmdebstrap come from apt-get (scripts/ensure-podman); no registry needed.
.PHONY: image image-test
image: $(STAMP)  ## build the container image localhost/reelgate (Containerfile; IMAGE=, BASE=)
	bash scripts/image

# Minutes, and needs podman: not part of `make test`; .ci/run runs it after (docs/containers.md).
image-test: $(STAMP)  ## build the image, then a video from it alone and ten over PostgreSQL+Redis
	$(BIN)/python scripts/image-test

clean:  ## remove the virtual environment and local data
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
