# litmine's two commands:  `make run` (set up, then run the pipeline once)  and  `make test`.
# Set-up is idempotent: a stamp per set-up in .venv, redone only when pyproject.toml changed since.
#   make setup       what the run needs (litmine and its dependencies; no compiler, no notebook stack)
#   make setup-test  that, plus the test extras (llama.cpp built from source, notebooks, Dask, browser test)
#   make llm | make notebooks | make dask   one optional extra added to the run's set-up

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.litmine-base
RUN_STAMP := $(VENV)/.litmine-run
TEST_STAMP := $(VENV)/.litmine-test
# llama.cpp's default native build crashes on some CPUs; this portable x86-64 build does not.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
PIP := $(BIN)/python -m pip install --quiet

.PHONY: setup setup-run setup-test run test check lint llm notebooks dask browser bench clean-env

setup setup-run: $(RUN_STAMP)

setup-test: $(TEST_STAMP)

# The venv, pip and torch: shared by every set-up, done once.
$(BASE_STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "litmine needs Python 3.11, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	@# torch first, pinned: 2.13.0 is the CPU build here; a looser spec pulls GBs of CUDA packages.
	$(PIP) torch==2.13.0
	@touch $@

$(RUN_STAMP): pyproject.toml $(BASE_STAMP)
	$(PIP) -e .
	@touch $@

# Everything the tests need; it includes the run's set-up, so its stamp is renewed too.
$(TEST_STAMP): pyproject.toml $(BASE_STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) -e ".[test]"
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/litmine run

# pytest-xdist: a worker per core (TEST_WORKERS=1 runs it in one process); a file is one unit of work and
# the costliest files go first (tests/conftest.py: GROUPS, HEAVY). One file alone needs none of it.
TEST_WORKERS ?= auto
XDIST = $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)

test: $(TEST_STAMP) browser
	$(BIN)/python -m pytest $(XDIST)

# The edit loop: lint and the unit tests (no real servers, nothing marked slow), on every core too.
check: $(TEST_STAMP)
	$(BIN)/python -m ruff check src tests bench flows scripts
	$(BIN)/python -m pytest -q -m "not slow and not integration" $(XDIST)

lint: $(TEST_STAMP)
	$(BIN)/python -m ruff check src tests bench flows scripts

# Optional extras for the run: LITMINE_LLM_BACKEND=llama-cpp / llama-cpp-server (compiles llama.cpp),
# the review and digest notebooks, LITMINE_TASK_RUNNER=dask.
llm: $(RUN_STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) -e ".[llm]"

notebooks: $(RUN_STAMP)
	$(PIP) -e ".[notebooks]"

dask: $(RUN_STAMP)
	$(PIP) -e ".[dask]"

# The review queue's browser test (tests/test_browser.py) drives the Debian chromium; installed when missing.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -q && apt-get install -y -q chromium chromium-driver; } \
	  || echo "could not install the Debian packages chromium chromium-driver (as root: apt-get install chromium chromium-driver)"

bench: $(TEST_STAMP)
	$(BIN)/python bench/run_all.py

clean-env:
	rm -rf $(VENV)
