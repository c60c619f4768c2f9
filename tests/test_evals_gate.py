"""The gate fails a planted regression and passes noise and improvements (API and CLI exit codes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from evals.cli import app
from evals.gate import gate, gate_many
from evals.results import SuiteResult, dump_results
from rag_agent.config import RagloopConfig
from rag_agent.errors import DataError

N_QUERIES = 300


def _result(scores: np.ndarray, suite: str = "cuad", split: str = "dev") -> SuiteResult:
    per_query = {"ndcg@10": {f"q{i}": float(v) for i, v in enumerate(scores)}}
    return SuiteResult(suite=suite, split=split, metrics={"ndcg@10": float(np.mean(scores))}, per_query=per_query, n_queries=len(scores))


@pytest.fixture()
def base_scores() -> np.ndarray:
    return np.random.default_rng(1).uniform(0.2, 0.9, N_QUERIES)


def _regressed(base: np.ndarray) -> np.ndarray:
    lowered = base.copy()
    lowered[: int(0.8 * N_QUERIES)] -= 0.05  # most queries lose 0.05: mean drop 0.04 > tolerance 0.01
    return np.clip(lowered, 0, 1)


def _noisy(base: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(2).choice([-0.03, 0.03], N_QUERIES)  # symmetric, mean ~0
    return base + noise


def test_planted_regression_fails_the_gate(base_scores):
    decision = gate(_result(_regressed(base_scores)), _result(base_scores), RagloopConfig())
    (suite,) = decision.suites
    assert not decision.passed and suite.regressed
    assert suite.delta == pytest.approx(-0.04, abs=1e-9)
    assert suite.ci_high < -0.01 and suite.p_not_worse < 0.05
    assert "cuad/dev" in decision.message


def test_noise_and_improvement_pass(base_scores):
    noise = gate(_result(_noisy(base_scores)), _result(base_scores))
    assert noise.passed and noise.suites[0].ci_low < 0 < noise.suites[0].ci_high
    better = gate(_result(base_scores + 0.05), _result(base_scores))
    assert better.passed and better.suites[0].p_not_worse == 1.0


def test_a_drop_within_tolerance_passes_and_a_tighter_tolerance_fails(base_scores):
    slightly_worse = base_scores - 0.005
    assert gate(_result(slightly_worse), _result(base_scores)).passed
    assert not gate(_result(slightly_worse), _result(base_scores), tolerance=0.001).passed


def test_the_bootstrap_is_seeded(base_scores):
    first = gate(_result(_noisy(base_scores)), _result(base_scores))
    second = gate(_result(_noisy(base_scores)), _result(base_scores))
    assert first.suites[0] == second.suites[0]


def test_suites_pair_by_name_and_split_on_shared_queries(base_scores):
    other = _result(base_scores[:50], suite="aila_statutes", split="test")
    decision = gate_many([_result(base_scores[:200]), other], [_result(base_scores)])
    assert [s.suite for s in decision.suites] == ["cuad/dev"]
    assert decision.suites[0].n_queries == 200
    assert decision.unpaired == ["aila_statutes/test"]
    with pytest.raises(DataError):
        gate(other, _result(base_scores))


def _cli(tmp_path, candidate: SuiteResult, baseline: SuiteResult, *extra: str):
    (tmp_path / "c.json").write_text(dump_results([candidate]))
    (tmp_path / "b.json").write_text(dump_results([baseline]))
    args = ["gate", "--candidate", str(tmp_path / "c.json"), "--baseline", str(tmp_path / "b.json"), "-w", str(tmp_path / "ws"), *extra]
    return CliRunner().invoke(app, args)


def test_cli_exit_codes(tmp_path, base_scores):
    failed = _cli(tmp_path, _result(_regressed(base_scores)), _result(base_scores))
    assert failed.exit_code == 1
    assert "gate FAILED: cuad/dev" in failed.stderr
    assert _cli(tmp_path, _result(_noisy(base_scores)), _result(base_scores)).exit_code == 0
    improved = _cli(tmp_path, _result(base_scores + 0.05), _result(base_scores), "--json")
    assert improved.exit_code == 0
    assert json.loads(improved.stdout)["passed"] is True
