# Two commands are the whole set-up on a fresh machine with Python 3.11 and pip:
#   make reproduce   (the main job)        make test   (the test suite)
# Both create .venv and install circuitlab with its dev, interop, pretrained and tutorials extras first.
# make tutorials   executes docs/tutorials/*.py at full size and writes HTML to docs/tutorials/_build/.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
DEVICE ?= cpu
PROFILE ?= quick
JOBS   ?= 2

.PHONY: install test test-fast reproduce bench bench-quick lint clean tutorials

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,interop,pretrained,tutorials]'
	@touch $(STAMP)

# The tests run as $(JOBS) xdist workers on as many cores; the one long training test uses two
# threads while the other worker still runs. OpenMP threads that spin while they wait slow it ~3x
# when a core is shared (docs/benchmarks.md); sleeping waits cost nothing measurable when it is not.
TEST_ENV := OMP_WAIT_POLICY=PASSIVE

test: lint
	$(TEST_ENV) $(BIN)/python -m pytest -n $(JOBS) -q $(ARGS)

test-fast: install
	$(TEST_ENV) $(BIN)/python -m pytest -n $(JOBS) -q -m "not slow" $(ARGS)

reproduce: install
	$(BIN)/circuitlab reproduce --profile $(PROFILE) --device $(DEVICE) $(ARGS)

bench: install
	$(BIN)/python benchmarks/run.py --device $(DEVICE) $(ARGS)

bench-quick: install
	$(BIN)/python benchmarks/run.py --quick --device $(DEVICE) $(ARGS)

tutorials: install
	$(BIN)/python -m circuitlab.tutorials docs/tutorials --out docs/tutorials/_build $(ARGS)

lint: install
	$(BIN)/ruff check src tests benchmarks docs/tutorials
	$(BIN)/ruff format --check src tests benchmarks docs/tutorials

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
