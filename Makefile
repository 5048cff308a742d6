# GMBot developer commands. `make install` once, then `make run` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lock run test test-integration test-scale test-faults lint format migrate check demo emulator bench bench-raid clean

# The locks pin every package, the build backend included, by version and hash: two machines
# get the same environment. The package itself goes in last, editable, without dependencies
# and built with the locked setuptools (no build isolation, which would fetch an unpinned one).
DEV_LOCK     := requirements/dev.txt
RUNTIME_LOCK := requirements/runtime.txt

$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# `make lock` moves every pin to the newest release pyproject.toml allows;
# `make lock UPGRADE=` re-resolves after editing pyproject.toml and keeps the other pins;
# `make lock UPGRADE="--upgrade-package aiogram"` moves one package. uv is needed only here.
UV_VERSION ?= 0.13.9
LOCK_VENV  := build/lock-tools
UPGRADE    ?= --upgrade
UV_COMPILE  = $(LOCK_VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(UPGRADE)

lock: ## re-resolve the hash-checked locks in requirements/ (see README, Development)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet 'uv==$(UV_VERSION)'
	$(UV_COMPILE) pyproject.toml requirements/build.in -o $(RUNTIME_LOCK)
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev -o $(DEV_LOCK)

run: install ## run the bot (BOT_TOKEN in .env; SQLite and embedded Redis by default)
	$(BIN)/gmbot run

test: install ## fast suite on fakes: no services, no network
	$(BIN)/pytest -m "not postgres and not redis and not nginx and not scale and not faults" -q

test-integration: install ## needs PostgreSQL and Redis on 127.0.0.1
	$(BIN)/pytest -m "(postgres or redis) and not scale and not faults" -q

test-scale: install ## multi-instance suite: nginx, PostgreSQL, Redis, emulator
	$(BIN)/pytest -m "scale and not faults" -q

test-faults: install ## fault injection: own Redis and PostgreSQL (free ports), nginx, emulator; report in build/
	$(BIN)/pytest -m faults -q tests/faults

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

migrate: install
	$(BIN)/gmbot migrate

check: install
	$(BIN)/gmbot check

demo: install ## see GMBot work offline: the real bot against a local Bot API emulator (no token)
	$(BIN)/gmbot demo

emulator: install
	$(BIN)/gmbot emulator

bench: install ## needs wrk, PostgreSQL and Redis on 127.0.0.1
	$(BIN)/python bench/gate_bench.py
	$(BIN)/python bench/emulator_bench.py

bench-raid: install ## a raid on 1 and 2 instances (nginx, PostgreSQL, Redis, emulator); RAID_ARGS="--runs 1"
	$(BIN)/python bench/raid_bench.py $(RAID_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache
