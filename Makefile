# One target per habit. Each sets up the virtualenv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# requirements/*.lock: the pinned, hashed dependency sets `make lock` writes from pyproject.toml:
# prod.lock is what the image installs, local.lock adds `make run`'s ([local]), dev.lock the tests'
# and tools' ([dev]). pip-compile runs from a throwaway virtualenv with these tools.
LOCK_TOOLS := pip==26.3 pip-tools==7.7.0
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: setup setup-local lock run test browser mutation lint audit format contracts bench soak cluster clean

# The virtualenv with one lock's packages, exactly those versions and hashes, then this project itself
# (editable, --no-deps: the lock already holds its dependencies). A changed lock or pyproject.toml
# installs again. setup: requirements/dev.lock; setup-local (what `make run` needs): local.lock.
$(VENV)/.installed-%: pyproject.toml requirements/%.lock
	@$(PYTHON) -m venv $(VENV) || { echo "make: '$(PYTHON) -m venv' failed; on Debian or Ubuntu its venv module is a package of its own: sudo apt-get install -y python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/$*.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/python -m pip check || { echo "make: pyproject.toml asks for more than requirements/$*.lock holds: run 'make lock'" >&2; exit 1; }
	touch $@

setup: $(STAMP)

setup-local: $(VENV)/.installed-local

## lock: regenerate requirements/*.lock from pyproject.toml with pip-compile (in a throwaway virtualenv),
## keeping every pin that still fits; LOCK_ARGS=--upgrade (or --upgrade-package NAME) to move pins up
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	&& $(PYTHON) -m venv "$$tmp" && "$$tmp/bin/python" -m pip install --quiet $(LOCK_TOOLS) \
	&& export CUSTOM_COMPILE_COMMAND="make lock" \
	&& "$$tmp/bin/pip-compile" $(LOCK_FLAGS) $(LOCK_ARGS) -o requirements/prod.lock pyproject.toml \
	&& "$$tmp/bin/pip-compile" $(LOCK_FLAGS) $(LOCK_ARGS) --extra local -c requirements/prod.lock -o requirements/local.lock pyproject.toml \
	&& "$$tmp/bin/pip-compile" $(LOCK_FLAGS) $(LOCK_ARGS) --extra dev -c requirements/local.lock -o requirements/dev.lock pyproject.toml

## run: start NATS, the store writer and intake on embedded defaults (data in var/); Ctrl-C stops all
run: setup-local
	$(BIN)/referral-loop run

## test: the whole suite against real nats-server, SQLite, embedded PostgreSQL and Debian's Chromium
test: browser setup
	$(BIN)/pytest -q

## browser: Debian's chromium for the browser tests, installed when missing if this user can (root or
## sudo without a password); otherwise fails at once with the command to run (.ci/chromium.sh)
browser:
	@bash .ci/chromium.sh

## mutation: mutmut over the domain rules' modules against their fast unit tests ([tool.mutmut] in
## pyproject.toml), then the score per module; fails under 95% (see docs/mutation.md); MUTATION_ARGS="--jobs 2"
mutation: setup
	$(BIN)/python .ci/mutation.py $(MUTATION_ARGS)

## lint: ruff and mypy, as CI runs them
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts referral_loop services launcher

## audit: bandit over the code (config in pyproject [tool.bandit]) and pip-audit over the installed packages;
## fails on a finding or a known vulnerability, only warns when the vulnerability database is unreachable
audit: setup
	$(BIN)/bandit -c pyproject.toml -r contracts referral_loop services launcher -q
	$(BIN)/python .ci/pip_audit.py

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## contracts: export the JSON Schema of every event version and the AsyncAPI document
contracts: setup
	$(BIN)/python -m contracts.export

## bench: the whole pipeline against its parts' ceilings, 3 repeats (see docs/performance.md); BENCH_ARGS="--store postgres" etc.
bench: setup
	PYTHONPATH=. $(BIN)/python bench/run_bench.py $(BENCH_ARGS)

## soak: the whole stack under load for SOAK_ARGS="--minutes 10" (default) with random kill -9 of random processes, then the checker (see docs/reliability.md); --seed N, --store postgres
soak: setup
	PYTHONPATH=. $(BIN)/python -m reliability.soak $(SOAK_ARGS)

## cluster: the scale-out topology on this machine (3 clustered nats-servers, PostgreSQL, two replicas of each service); Ctrl-C stops it
cluster: setup
	PYTHONPATH=. $(BIN)/python -m reliability.cluster_run $(CLUSTER_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache mutants
