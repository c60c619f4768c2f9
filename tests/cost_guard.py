"""Checks that a test's markers match what it costs (the rule is in conftest.py's docstring).

Static: a test that asks for a fixture in FIXTURE_MARKERS without that marker fails at set-up,
before the fixture is built. Dynamic: constructing or running a sentence-transformers model
(`slow`) or a llama-cpp model (`llm`), or starting a Python process (`slow`; `llm` too when it
serves a GGUF), is recorded against the running test, and the test fails after the phase in which
it happened. Models are shared across tests (session fixtures, llama-cpp's per-process cache), so
running a model counts as well as loading one. The heavy libraries are patched when something
imports them, so a fast run never imports them just for this check.
"""

from __future__ import annotations

import importlib.abc
import multiprocessing.process
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Fixtures whose mere use puts a test in a marker's class (defined in conftest.py).
FIXTURE_MARKERS = {
    "embedder": "slow",  # the real MiniLM
    "retrieval_workspace": "slow",  # indexed by the real MiniLM
    "shared_data": "slow",  # the big data dir
}
SLOW_SECONDS = 2.0  # an unmarked test using more CPU than this (setup + call + teardown) is reported

# Fixtures seen to load or run a model (or start a process) while being built, with the markers
# that needs: a later test that gets the cached fixture costs the same and needs them too.
_learned: dict[object, dict[str, str]] = {}  # keyed by the FixtureDef (names repeat across modules)
_state: dict = {"item": None, "violations": [], "needed": {}}
_slow_unmarked: list[tuple[float, float, str]] = []
_unmarked_cpu: list[float] = []


def _require(marker: str, what: str) -> None:
    _state["needed"].setdefault(marker, what)
    item = _state["item"]
    if item is None or item.get_closest_marker(marker) is not None:
        return  # outside a test (collection, session teardown), or marked as it should be
    message = f"{item.nodeid} {what} but is not marked @pytest.mark.{marker} (rule: tests/conftest.py docstring)"
    if message not in _state["violations"]:
        _state["violations"].append(message)


def _guarded(cls: type, method: str, marker: str, what: str) -> None:
    """Wrap `cls.method` so that a successful call requires `marker` (a model that fails to load,
    e.g. from an empty folder, cost nothing)."""
    original = getattr(cls, method)
    if getattr(original, "_cost_guarded", False):
        return

    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        _require(marker, what)
        return result

    wrapper._cost_guarded = True
    wrapper.__wrapped__ = original
    wrapper.__name__ = getattr(original, "__name__", method)
    setattr(cls, method, wrapper)


def _patch_sentence_transformers(module) -> None:
    from sentence_transformers.base.model import BaseModel  # SentenceTransformer, CrossEncoder, SparseEncoder

    what = "builds or runs a real sentence-transformers model"
    _guarded(BaseModel, "__init__", "slow", what)
    _guarded(BaseModel, "forward", "slow", what)


def _patch_llama_cpp(module) -> None:
    from llama_cpp.llama import Llama

    what = "loads or runs a real GGUF model (llama-cpp)"
    _guarded(Llama, "__init__", "llm", what)
    _guarded(Llama, "eval", "llm", what)
    _guarded(Llama, "tokenize", "llm", what)


PATCHES = {"sentence_transformers": _patch_sentence_transformers, "llama_cpp": _patch_llama_cpp}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Runs PATCHES[name] right after the package `name` is first imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_then_patch(module):
            exec_module(module)
            PATCHES[fullname](module)

        spec.loader.exec_module = exec_then_patch
        return spec


def _starts_python(program: str) -> bool:
    """The interpreter, or any program of its environment (the CLIs, `chroma`, servers); system
    tools that libraries call on import (ldconfig, uname) do not count."""
    return program == sys.executable or Path(program).parent == Path(sys.executable).parent


_ORIGINAL_POPEN_INIT = subprocess.Popen.__init__


def _popen_init(self, args, *rest, **kwargs):
    argv = [str(a) for a in args] if isinstance(args, (list, tuple)) else [str(args)]
    if argv and _starts_python(argv[0]):
        _require("slow", "starts a Python process or server")
        if any("llama_cpp" in a or a.endswith(".gguf") for a in argv):
            _require("llm", "serves a real GGUF model (llama_cpp.server)")
    _ORIGINAL_POPEN_INIT(self, args, *rest, **kwargs)


_ORIGINAL_PROCESS_START = multiprocessing.process.BaseProcess.start


def _process_start(self):
    _require("slow", "starts a Python process (multiprocessing)")
    return _ORIGINAL_PROCESS_START(self)


def pytest_configure(config):
    sys.meta_path.insert(0, _PatchOnImport())
    for name, patch in PATCHES.items():  # imported before this plugin (e.g. by a conftest)
        if name in sys.modules:
            patch(sys.modules[name])
    subprocess.Popen.__init__ = _popen_init
    multiprocessing.process.BaseProcess.start = _process_start


def pytest_unconfigure(config):
    subprocess.Popen.__init__ = _ORIGINAL_POPEN_INIT
    multiprocessing.process.BaseProcess.start = _ORIGINAL_PROCESS_START
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _PatchOnImport)]


def _fail_on_violations() -> None:
    violations, _state["violations"] = _state["violations"], []
    if violations:
        pytest.fail("\n".join(violations), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _state["item"], _state["violations"], _state["needed"] = item, [], {}
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        return (yield)
    finally:
        _state["item"] = None
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if not (item.get_closest_marker("slow") or item.get_closest_marker("llm")):
            _unmarked_cpu.append(cpu)
            # CPU time, not wall time: on a busy machine wall time says more about the neighbours.
            if cpu > SLOW_SECONDS:
                _slow_unmarked.append((cpu, wall, item.nodeid))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    outer, _state["needed"] = _state["needed"], {}
    try:
        return (yield)
    finally:
        needed = _state["needed"]
        # Only cached fixtures carry their cost to later tests; a function-scoped one is rebuilt per
        # test (and per parameter: the chroma-http instance of `filled` starts a server, the
        # faiss-flat one does not), and each build is charged to the test that runs it.
        if needed and fixturedef.scope != "function":
            _learned.setdefault(fixturedef, {}).update(needed)
        _state["needed"] = outer | needed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    for name in item.fixturenames:
        marker = FIXTURE_MARKERS.get(name)
        if marker is not None:
            _require(marker, f"uses the fixture `{name}`")
        for fixturedef in item._fixtureinfo.name2fixturedefs.get(name, ()):
            for marker, what in _learned.get(fixturedef, {}).items():
                _require(marker, f"uses the fixture `{name}`, which {what}")
    _fail_on_violations()  # before the fixtures are built: a missing marker costs nothing
    result = yield
    _fail_on_violations()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    _fail_on_violations()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    _fail_on_violations()
    return result


def pytest_terminal_summary(terminalreporter):
    if _unmarked_cpu:
        terminalreporter.write_line(f"cost guard: {len(_unmarked_cpu)} unmarked (fast) tests used {sum(_unmarked_cpu):.1f} s CPU in this process")
    if _slow_unmarked:
        terminalreporter.section(f"unmarked tests that used more than {SLOW_SECONDS:.0f} s CPU (mark them slow)")
        for cpu, wall, nodeid in sorted(_slow_unmarked, reverse=True):
            terminalreporter.write_line(f"{cpu:6.1f}s CPU {wall:6.1f}s wall  {nodeid}")
