"""Rerankers: identity order, and a real CrossEncoder (MiniLM + fresh 1-label head) saved and reloaded."""

from __future__ import annotations

import pytest

from rag_agent.config import ModelsConfig
from rag_agent.errors import ModelError
from rag_agent.retrieval.reranker import CrossEncoderReranker, NoReranker, load_reranker


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory):
    import torch
    from sentence_transformers import CrossEncoder

    from rag_agent.models import embedder_path

    torch.manual_seed(0)
    model = CrossEncoder(str(embedder_path("bundled:all-MiniLM-L6-v2")), num_labels=1, local_files_only=True, device="cpu")
    path = tmp_path_factory.mktemp("rerankers") / "reranker-test"
    model.save(str(path))
    return path


def test_no_reranker_keeps_incoming_order():
    reranker = load_reranker(ModelsConfig(), "none")
    assert isinstance(reranker, NoReranker) and reranker.version == "none"
    scores = reranker.score("q", ["a", "b", "c", "d"])
    assert all(a > b for a, b in zip(scores, scores[1:]))
    assert reranker.score("q", []) == []


@pytest.mark.slow
def test_cross_encoder_loads_scores_in_batches_and_truncates(cross_encoder_dir):
    reranker = load_reranker(ModelsConfig(), str(cross_encoder_dir))
    assert isinstance(reranker, CrossEncoderReranker)
    assert reranker.version.startswith("reranker-test@") and len(reranker.version.split("@")[1]) == 12
    texts = ["The tenant pays rent monthly.", "Governed by Delaware law.", "word " * 3000, "Arbitration in New York."]
    batched = CrossEncoderReranker(cross_encoder_dir, batch_size=2).score("Which law governs?", texts)
    one_batch = reranker.score("Which law governs?", texts)
    assert len(batched) == len(texts) and all(isinstance(s, float) for s in batched)
    assert batched == pytest.approx(one_batch, abs=1e-4)  # batching does not change scores
    assert len(set(round(s, 6) for s in one_batch)) == len(texts)  # a real model, not a constant
    assert reranker.score("Which law governs?", []) == []


@pytest.mark.slow
def test_reranker_version_follows_the_weights(cross_encoder_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    copy = tmp_path / "reranker-test"
    shutil.copytree(cross_encoder_dir, copy)
    assert CrossEncoderReranker(copy).version == CrossEncoderReranker(cross_encoder_dir).version
    weights = load_file(str(copy / "model.safetensors"))
    name = next(k for k in weights if "classifier" in k and k.endswith("bias"))
    weights[name] = weights[name] + 1.0
    save_file(weights, str(copy / "model.safetensors"), metadata={"format": "pt"})
    assert CrossEncoderReranker(copy).version != CrossEncoderReranker(cross_encoder_dir).version


@pytest.mark.slow
def test_bad_reranker_spec_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="models.reranker"):
        load_reranker(ModelsConfig(), str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError):
        load_reranker(ModelsConfig(), str(tmp_path / "empty")).score("q", ["t"])
