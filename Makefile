# litmine's two commands:  `make run` (set up, then run the pipeline once)  and  `make test`.
# Set-up is idempotent: it reinstalls only when pyproject.toml changed since the last install.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.litmine-setup
# llama.cpp's default native build crashes on some CPUs; this portable x86-64 build does not.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: setup run test browser bench clean-env

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "litmine needs Python 3.11, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# torch first, pinned: 2.13.0 is the CPU build here; a looser spec pulls GBs of CUDA packages.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

run: setup
	$(BIN)/litmine run

test: setup browser
	$(BIN)/python -m pytest

# The review queue's browser test (tests/test_browser.py) drives the Debian chromium; installed when missing.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -q && apt-get install -y -q chromium chromium-driver; } \
	  || echo "could not install the Debian packages chromium chromium-driver (as root: apt-get install chromium chromium-driver)"

bench: setup
	$(BIN)/python bench/run_all.py

clean-env:
	rm -rf $(VENV)
