# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test bench lint format migrate clean

install: $(VENV)/.installed

# uv lives in its own small venv so that `uv sync` never removes itself.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

run: install
	LATCHKEY_AUTO_MIGRATE=true $(BIN)/latchkey serve

test: install
	$(BIN)/pytest

# Figures against same-run ceilings (bench/README.md); under 10 minutes, never
# part of `make test`. wrk comes from the distribution when missing. The time
# budget counts from here, before installing, so that installing counts too.
bench: BENCH_STARTED_AT := $(shell date +%s)
bench: install
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk || \
		(apt-get update && apt-get install -y wrk)
	$(BIN)/python -m bench.run --started-at $(BENCH_STARTED_AT) $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: install
	$(BIN)/latchkey migrate

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
