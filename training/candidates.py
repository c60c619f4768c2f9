"""Train a candidate from a workspace's data and register it: the calls the training loop makes.

    version = train_embedder_candidate(ws, source="feedback")        # registered as 'candidate'
    index = shadow_reindex(ws, version.path)                          # its own index folder
    ... gate it (evals) ...
    registry.promote(ws, version.version_id) or registry.reject(ws, version.version_id, why)

Parents are the current champions; data comes from the feedback tables (`source="feedback"`) or
from the clearly labelled supervised reference (`source="supervised-reference"`, TRAIN only).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from rag_agent.errors import ConfigError, DataError
from training import registry
from training.data import summarize

log = logging.getLogger(__name__)

Source = Literal["feedback", "supervised-reference"]
SOURCES = ("feedback", "supervised-reference")
ALGOS = ("bce", "dpo", "ppo")


def train_embedder_candidate(ws, source: str = "feedback", run_ids: list[str] | None = None, **overrides) -> registry.ModelVersion:
    from training.embedder_config import EmbedderTrainConfig
    from training.embedder_trainer import train_embedder

    cfg = EmbedderTrainConfig.from_training(ws.config.training, **overrides)
    if source == "feedback":
        from training.data import load_embedder_examples_from_workspace

        examples = load_embedder_examples_from_workspace(
            ws, ws.config.training.positive_grade, max(cfg.max_negatives, 1), run_ids=run_ids
        )
    else:
        examples = _supervised(ws, source).examples
    if len(examples) < 2:
        raise DataError(f"{len(examples)} embedder examples from {source}", "at least 2", "run tasks and `feedback harvest` first")
    parent = registry.champion(ws, "embedder")
    version_id = registry.new_version_id(ws, "embedder")
    result = train_embedder(parent.path, examples, cfg, registry.version_dir(ws, "embedder", version_id))
    return registry.register_candidate(
        ws, "embedder", version_id, parent.version_id, cfg.to_dict(), summarize(examples, source), result.metrics
    )


def train_reranker_candidate(
    ws, algo: str | None = None, source: str = "feedback", run_ids: list[str] | None = None, **overrides
) -> registry.ModelVersion:
    """`algo` None takes `training.reranker_algo`; "auto" = bce while no reranker is champion, else dpo."""
    parent = registry.champion(ws, "reranker")
    parent_path = None if parent.is_none else parent.path
    algo = algo or ws.config.training.reranker_algo
    if algo == "auto":
        algo = "bce" if parent_path is None else "dpo"
    if algo not in ALGOS:
        raise ConfigError(f"--objective {algo}", "one of bce, dpo, ppo", "pick an objective: --objective bce|dpo|ppo")
    if parent_path is None and algo != "bce":
        log.warning("no reranker champion yet: %s starts from a fresh head; a `--objective bce` warm start usually comes first", algo)
    data, trainer, cfg = _reranker_job(ws, algo, source, run_ids, overrides)
    if not data:
        raise DataError(f"0 {algo} items from {source}", "harvested feedback", "run tasks and `feedback harvest` first")
    if algo == "bce":
        _require_positives(data, ws.config.training.positive_grade, ws.config.training.reranker_min_positives)
    version_id = registry.new_version_id(ws, "reranker")
    result = trainer(parent_path, data, cfg, registry.version_dir(ws, "reranker", version_id))
    return registry.register_candidate(
        ws, "reranker", version_id, parent.version_id, {"algo": algo, **cfg.to_dict()}, summarize(data, source), result.metrics
    )


def _require_positives(labels, positive_grade: int, needed: int) -> None:
    """A fresh BCE head needs relevant labels: measured in the loop, one fitted to grades 0/1 only
    learned a bias and cut LegalBenchCorporateLobbying from 0.864 to 0.420."""
    n_positive = sum(1 for item in labels if item.label >= positive_grade / 3)
    if n_positive < needed:
        raise DataError(
            f"{len(labels)} judge labels, {n_positive} graded >= {positive_grade}",
            f"at least {needed} relevant labels (training.reranker_min_positives)",
            "harvest more tasks first",
        )


def _reranker_job(ws, algo: str, source: str, run_ids, overrides):
    from training import data as loaders

    reference = _supervised(ws, source) if source != "feedback" else None
    if algo == "bce":
        from training.bce_config import BCEConfig
        from training.bce_trainer import train_reranker_bce

        items = reference.labels if reference else loaders.load_labels_from_workspace(ws, run_ids)
        return items, train_reranker_bce, BCEConfig.from_training(ws.config.training, **overrides)
    if algo == "dpo":
        from training.dpo_config import DPOConfig
        from training.dpo_trainer import train_reranker_dpo

        items = reference.pairs if reference else loaders.load_pairs_from_workspace(ws, run_ids)
        return items, train_reranker_dpo, DPOConfig.from_training(ws.config.training, **overrides)
    from training.ppo_config import PPOConfig
    from training.ppo_trainer import train_reranker_ppo

    items = reference.lists if reference else loaders.load_graded_lists_from_workspace(ws, run_ids)
    return items, train_reranker_ppo, PPOConfig.from_training(ws.config.training, **overrides)


def _supervised(ws, source: str):
    if source not in SOURCES:
        raise ConfigError(f"--source {source}", "feedback or supervised-reference", "pick a data source")
    from rag_agent.retrieval.embedder import SentenceTransformerEmbedder
    from training.supervised import build_supervised_reference

    cfg = ws.config
    base = registry.get_version(ws, "embedder-base")  # hard negatives come from the BASE embedder
    embedder = SentenceTransformerEmbedder(Path(base.path), batch_size=cfg.models.batch_size, device=cfg.models.device)
    return build_supervised_reference(
        Path(cfg.data_dir) / "cuad",
        cfg.chunking,
        embedder,
        max_tasks=cfg.training.supervised_max_tasks,
        top_k=cfg.training.supervised_top_k,
        overlap_fraction=cfg.eval.overlap_fraction,
        seed=cfg.training.seed,
    )
