# GMBot developer commands. `make install` once, then `make run` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-integration test-scale lint format migrate check demo emulator bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install ## run the bot (BOT_TOKEN in .env; SQLite and embedded Redis by default)
	$(BIN)/gmbot run

test: install ## fast suite on fakes: no services, no network
	$(BIN)/pytest -m "not postgres and not redis and not nginx and not scale" -q

test-integration: install ## needs PostgreSQL and Redis on 127.0.0.1
	$(BIN)/pytest -m "(postgres or redis) and not scale" -q

test-scale: install ## multi-instance suite: nginx, PostgreSQL, Redis, emulator
	$(BIN)/pytest -m scale -q

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

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache
