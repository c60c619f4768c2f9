"""End to end through the CLI on a real workspace: harvested rows -> candidates -> shadow index ->
promote -> rollback. One optimizer step each; the point is the plumbing, not the learning."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from test_training_data import fill_feedback
from training import registry
from training.cli import app

pytestmark = pytest.mark.slow

TINY = [
    "--set", "training.embedder.max_steps=1", "--set", "training.embedder.batch_size=2",
    "--set", "training.embedder.max_seq_length=32", "--set", "training.reranker.max_steps=1",
    "--set", "training.reranker.batch_size=4", "--set", "training.reranker.max_length=32", "--set", "training.bce.min_positives=1",
]


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_candidates_reindex_promote_rollback(workspace):
    from rag_agent.retrieval.factory import load_index

    fill_feedback(workspace)
    root = str(workspace.root)
    out = _run("embedder", "-w", root, "--reindex", *TINY).output
    candidate = next(v for v in registry.list_versions(workspace, "embedder") if v.status == "candidate")
    assert candidate.parent_id == "embedder-base"
    assert (candidate.trained_on["source"], candidate.trained_on["n"]) == ("feedback", 2)
    assert candidate.metrics["merge_alpha"] == 0.5 and "loss_after_merge" in candidate.metrics
    # the shadow index is the candidate's own folder, bound to the candidate's embedder version
    index = load_index(_index_dir(workspace, candidate))
    assert index.embedder_version == candidate.content_version and candidate.version_id in out
    assert registry.champion(workspace, "embedder").version_id == "embedder-base"  # not promoted yet

    _run("promote", candidate.version_id, "--reason", "test", "-w", root)
    assert registry.champion(workspace, "embedder").version_id == candidate.version_id
    assert registry.use_champions(workspace).config.models.embedder == candidate.path
    models = _run("models", "-w", root, "--history").output
    assert candidate.version_id in models and "champion" in models and "registry problem" not in models

    rolled = _run("rollback", "-w", root, "--kind", "embedder")
    assert registry.champion(workspace, "embedder").version_id == "embedder-base"
    assert "no index" in rolled.output  # the base was never ingested here: told how to fix it
    assert registry.get_version(workspace, candidate.version_id).status == "rejected"

    _run("reranker", "-w", root, "--objective", "bce", *TINY)
    reranker = next(v for v in registry.list_versions(workspace, "reranker") if v.status == "candidate")
    assert reranker.parent_id == "reranker-none" and reranker.config["algo"] == "bce"
    from sentence_transformers import CrossEncoder

    scores = CrossEncoder(reranker.path, local_files_only=True).predict([("q", "a text"), ("q", "another")])
    assert len(scores) == 2
    assert registry.check_invariants(workspace) == []


def _index_dir(ws, version):
    from training.reindex import index_dir_for

    return index_dir_for(ws, version)
