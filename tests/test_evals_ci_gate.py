"""CI gate: the current code reproduces the committed baselines (evals/baselines/*.json).

The computation is deterministic (exact search, seeded nothing, fixed model), so any aggregate
metric moving by more than 1e-4 means the evaluator, the chunker or the embedder wrapper changed
behaviour. If that change is intended, regenerate with `python -m evals baseline` and commit the
new files with the change that caused them (see docs/evals.md).

Each suite runs once per session; the data folder missing skips cleanly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.cli import BASELINES_DIR, ci_suite_paths
from evals.gate import gate
from evals.results import read_results_file
from rag_agent.config import RagloopConfig

TOLERANCE = 1e-4
BASELINE_FILES = sorted(BASELINES_DIR.glob("*.json"))


@pytest.fixture(scope="module")
def current_results(shared_data, embedder, tmp_path_factory):
    from evals.runner import evaluate_path
    from rag_agent.workspace import Workspace

    paths = ci_suite_paths(Path(shared_data))
    missing = [p for p in paths if not p.is_dir()]
    if missing:
        pytest.skip(f"shared suites missing: {missing}")
    cfg = RagloopConfig()  # baselines are defined on the default config
    ws = Workspace.open(tmp_path_factory.mktemp("ci_gate_ws"))  # empty cache: really recompute
    results = {}
    for path in paths:
        for result in evaluate_path(path, None, embedder, cfg.models.reranker, ws=ws, cfg=cfg):
            results[result.key] = result
    return results


def test_every_ci_suite_has_a_committed_baseline():
    names = {p.name for p in BASELINE_FILES}
    assert {"aila_statutes_test.json", "legalbench_corporate_lobbying_test.json", "cuad_dev.json"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("baseline_file", BASELINE_FILES, ids=lambda p: p.stem)
def test_current_code_reproduces_the_baseline(baseline_file, current_results):
    (baseline,) = read_results_file(baseline_file)
    current = current_results.get(baseline.key)
    assert current is not None, f"{baseline.key} was not evaluated"
    assert current.embedder_version == baseline.embedder_version, "the default embedder changed: regenerate the baselines"
    assert current.n_queries == baseline.n_queries
    for metric, value in baseline.metrics.items():
        assert current.metrics[metric] == pytest.approx(value, abs=TOLERANCE), f"{baseline.key} {metric}"
    # The same numbers must also pass the promotion gate against themselves (sanity of the pairing).
    assert gate(current, baseline, RagloopConfig()).passed


@pytest.mark.slow
@pytest.mark.parametrize("baseline_file", BASELINE_FILES, ids=lambda p: p.stem)
def test_the_loop_uses_a_committed_baseline_only_as_the_same_evaluation(baseline_file, current_results, shared_data):
    """The training loop takes a committed result as the base model's scores (evals/committed.py):
    it must be this code's fresh evaluation query by query, not just on average."""
    from evals.committed import committed_result
    from evals.runner import single_suite

    (baseline,) = read_results_file(baseline_file)
    current = current_results[baseline.key]
    path = next(p for p in ci_suite_paths(Path(shared_data)) if p.name == baseline.suite)
    used = committed_result(single_suite(path, baseline.split), current.embedder_version, RagloopConfig())
    assert used is not None, "the default config no longer matches the committed baseline: regenerate it (python -m evals baseline)"
    for metric, values in current.per_query.items():
        assert used.per_query[metric] == pytest.approx(values, abs=1e-9), f"{baseline.key} {metric}"
