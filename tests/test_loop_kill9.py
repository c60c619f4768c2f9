"""kill -9 inside each stage of a cycle (agent, harvest, train, evaluate), then rerun: the loop
completes, no task, label, pair or model row is duplicated, and the registry invariants hold.

Each run is a real child process killed with SIGKILL by a hook placed mid-stage (after the first
agent task, after the first judge call, when the first trained model is about to be registered,
after the first suite result of the evaluation is stored). Real DuckDB, MiniLM, faiss and
trainers on the miniature data of tests/test_training_loop.py; scripted agent and judge.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_training_loop import _mini_data

REPO = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, os, signal, sys
from pathlib import Path
from rag_agent.workspace import Workspace
from tests.test_training_loop import JudgingLLM
from training.loop import TrainingLoop

stage, ws_root, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def die(original, before=False, at=1):
    """SIGKILL this process at call number `at`: before it runs, or right after it returned."""
    calls = []
    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) < at:
            return original(*args, **kwargs)
        if before:
            os.kill(os.getpid(), signal.SIGKILL)
        out = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return out
    return wrapped

llm = JudgingLLM(answer={"answer": "Yes", "citations": [1]})
if stage == "agent":
    import rag_agent.graph.runner as runner
    runner.execute_task = die(runner.execute_task)
elif stage == "harvest":
    llm.choice_probabilities = die(llm.choice_probabilities)
elif stage == "train":
    from training import registry
    registry.register_candidate = die(registry.register_candidate, before=True)
elif stage == "evaluate":
    import evals.runner
    evals.runner.evaluate_ref = die(evals.runner.evaluate_ref, before=True, at=2)  # the first result is stored
TrainingLoop(Workspace.open(ws_root, overrides=overrides), llm=llm, progress=False).run(1)
'''


def _run(stage: str, ws_root: Path, overrides: list[str]) -> int:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", CHILD, stage, str(ws_root), json.dumps(overrides)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"{stage}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return proc.returncode


def _rows(ws, sql: str):
    with ws.db() as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_kill_9_in_each_stage_then_rerun_completes_without_duplicates(tmp_path, shared_data):
    from rag_agent.workspace import Workspace
    from training import registry
    from training.loop import STEPS

    data = _mini_data(shared_data, tmp_path / "data")
    overrides = [f"data_dir={data}", "feedback.judge.backend=llm", "feedback.judge.mode=pointwise", "training.loop.tasks_per_cycle=4",
                 "training.loop.contracts_per_cycle=2", "training.loop.probe_contracts=1", "training.loop.probe_tasks=2",
                 "training.loop.guard_suites=mteb_law/tiny_statutes", "training.embedder.max_steps=2", "training.embedder.batch_size=4",
                 "training.embedder.max_seq_length=64", "training.reranker.max_steps=2", "training.reranker.batch_size=4",
                 "training.reranker.max_length=64", "training.bce.min_positives=1", "training.loop.reranker_min_lists=0", "agent.retrieve_k=5", "gate.bootstrap_samples=200"]
    root = tmp_path / "ws"
    ws = Workspace.open(root, overrides=overrides)
    for stage in ("agent", "harvest", "train", "evaluate"):
        assert _run(stage, root, overrides) == -signal.SIGKILL, f"the {stage} hook never fired"
        finished = {s for (s,) in _rows(ws, "SELECT step FROM loop_steps WHERE cycle = 1")}
        assert stage not in finished, f"{stage} was recorded as finished although killed"
    assert _run("none", root, overrides) == 0

    assert _rows(ws, "SELECT step, count(*) FROM loop_steps WHERE cycle = 1 GROUP BY 1 HAVING count(*) > 1") == []
    assert {s for (s,) in _rows(ws, "SELECT step FROM loop_steps WHERE cycle = 1")} == set(STEPS)
    assert _rows(ws, "SELECT count(*) FROM tasks WHERE run_id = 'loop-1'") == [(4,)]
    assert _rows(ws, "SELECT run_id, task_id FROM tasks GROUP BY 1, 2 HAVING count(*) > 1") == []
    assert _rows(ws, "SELECT run_id, task_id, chunk_id FROM judge_labels GROUP BY 1, 2, 3 HAVING count(*) > 1") == []
    assert _rows(ws, "SELECT run_id, task_id FROM harvest_state GROUP BY 1, 2 HAVING count(*) > 1") == []
    trained = dict(_rows(ws, "SELECT kind, count(*) FROM model_versions WHERE parent_id IS NOT NULL GROUP BY 1"))
    # the killed training registered nothing: one embedder, and one reranker over the champion plus
    # one over the embedder candidate (training.loop.pair_reranker)
    assert trained.get("embedder") == 1 and trained.get("reranker") == 2
    assert registry.check_invariants(ws) == []
    assert all(status != "candidate" for (status,) in _rows(ws, "SELECT status FROM model_versions"))  # every candidate decided
