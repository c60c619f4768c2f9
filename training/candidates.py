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
ALGOS = ("lexical", "distill", "bce", "dpo", "ppo")


def train_embedder_candidate(ws, source: str = "feedback", run_ids: list[str] | None = None, **overrides) -> registry.ModelVersion:
    """Train and register an embedder candidate with the workspace's `training.embedder` section
    (`overrides`: field changes for this call only, validated)."""
    from training.embedder_trainer import train_embedder

    training = ws.config.training
    cfg = training.embedder.updated(**overrides) if overrides else training.embedder
    if source == "feedback":
        from training.data import load_embedder_examples_from_workspace

        examples = load_embedder_examples_from_workspace(
            ws, training.data.positive_grade, max(cfg.max_negatives, 1), run_ids=run_ids
        )
    else:
        examples = _supervised(ws, source).examples
    if len(examples) < 2:
        raise DataError(f"{len(examples)} embedder examples from {source}", "at least 2", "run tasks and `feedback harvest` first")
    distill, trained_on = [], summarize(examples, source)
    if cfg.distill_weight > 0 and source == "feedback":
        from training.data import load_scored_lists_from_workspace

        distill, counts = load_scored_lists_from_workspace(ws, run_ids)
        trained_on["distill"] = vars(counts)  # soft lists used alongside InfoNCE (0 usable: InfoNCE only)
    parent = registry.champion(ws, "embedder")
    version_id = registry.new_version_id(ws, "embedder")
    result = train_embedder(parent.path, examples, cfg, registry.version_dir(ws, "embedder", version_id), distill=distill,
                            distill_cfg=training.distill, models=ws.config.models)
    return registry.register_candidate(ws, "embedder", version_id, parent.version_id, cfg.to_dict(), trained_on, result.metrics)


def train_reranker_candidate(
    ws, algo: str | None = None, source: str = "feedback", run_ids: list[str] | None = None, parent_id: str | None = None,
    embedder_id: str | None = None, **overrides
) -> registry.ModelVersion:
    """Train and register a reranker candidate. `algo` None takes `training.reranker.objective`;
    "auto" follows `choose_objective`. `parent_id` (default: the reranker champion) is the model
    training starts from and, for dpo/ppo, the frozen reference, e.g. this cycle's distilled
    candidate. lexical/distill/dpo/ppo train a residual reranker bound to the embedder
    `embedder_id` (default: the champion embedder; the loop also fits one over its embedder
    candidate, so the pair can be gated together: training/loop_gate.py)."""
    parent = registry.get_version(ws, parent_id) if parent_id else registry.champion(ws, "reranker")
    training = ws.config.training
    algo, rule = choose_objective(parent, algo or training.reranker.objective)
    if algo not in ALGOS:
        raise ConfigError(f"--objective {algo}", f"one of {', '.join(ALGOS)}", f"pick an objective: --objective {'|'.join(ALGOS)}")
    # A cross-encoder objective over a lexical parent (the loop's usual champion) has no
    # cross-encoder to start from: it starts where a "none" parent would (zero head, g = 0).
    parent_path = None if parent.is_none or (algo != "lexical" and not _has_cross_encoder(parent)) else parent.path
    if algo in ("dpo", "ppo") and parent_path is None:
        log.warning("%s without a distilled parent: the frozen reference is the retriever itself (g = 0)", algo)
    embedder = registry.get_version(ws, embedder_id) if embedder_id else registry.champion(ws, "embedder")
    cfg = training.reranker.updated(**overrides) if overrides else training.reranker
    objective = getattr(training, algo)  # the objective's own section: training.lexical / distill / dpo / ppo / bce
    data, trainer, counts = _reranker_job(ws, algo, source, run_ids)
    if not data:
        detail = counts.line() if counts is not None else f"0 {algo} items from {source}"
        raise DataError(detail, f"usable {algo} training data", _FIX[algo])
    if algo == "bce":
        _require_positives(data, training.data.positive_grade, objective.min_positives)
    version_id = registry.new_version_id(ws, "reranker")
    out_dir = registry.version_dir(ws, "reranker", version_id)
    if algo == "bce":
        result = trainer(parent_path, data, cfg, out_dir, models=ws.config.models)
        binding = {}
    else:
        result = trainer(parent_path, data, cfg, out_dir, embedder=embedder.path, objective=objective, models=ws.config.models)
        binding = {"embedder_id": embedder.version_id, "embedder_version": embedder.content_version}
    trained_on = summarize(data, source) | ({"counts": vars(counts)} if counts is not None else {})
    config = {"algo": algo, "objective_rule": rule, **binding, **cfg.model_dump(exclude={"objective"}), algo: objective.to_dict()}
    return registry.register_candidate(ws, "reranker", version_id, parent.version_id, config, trained_on, result.metrics)


# How the loop picks a reranker objective (training.reranker.objective = "auto"): lexical, every
# time. g = weight * BM25 over the champion embedder, fitted to the judge's soft scores on all the
# loop's feedback so far (training/lexical_trainer.py): it starts at the retriever (weight 0), fits
# in seconds, scores without a model, and is refitted whenever the champion embedder changes (a
# residual reranker is bound to one embedder). The cross-encoder objectives are chosen by name
# only: distill (listwise KL into a zero-headed cross-encoder g), then dpo or ppo against a
# distilled parent. On the reporting half of dev they trail lexical: over run C's strong embedder
# none beat it (distill -0.004, dpo -0.002, ppo -0.006), over run G's all did but by less (distill
# +0.006, dpo +0.024, ppo +0.015 against lexical's +0.043; docs/training.md), at minutes of CPU
# each. bce is the legacy fresh-head warm start that ranked below no reranker (issue 10).
def choose_objective(parent: registry.ModelVersion, requested: str) -> tuple[str, str]:
    """(objective, why): the rule above for "auto", else the requested objective."""
    if requested != "auto":
        return requested, f"requested {requested}"
    return "lexical", f"auto: lexical (BM25 weight fitted to the judge over the champion embedder; parent {parent.version_id})"


def _has_cross_encoder(version: registry.ModelVersion) -> bool:
    from rag_agent.retrieval.reranker import has_cross_encoder

    return not version.is_none and has_cross_encoder(version.path)


_FIX = {
    "lexical": "run more agent tasks and `feedback harvest` with feedback.judge.mode=pointwise (it stores the judge's P(yes))",
    "distill": "run more agent tasks and `feedback harvest` with feedback.judge.mode=pointwise (it stores the judge's P(yes))",
    "bce": "run tasks and `feedback harvest` first",
    "dpo": "run tasks and `feedback harvest` first (it writes preference pairs)",
    "ppo": "run tasks and `feedback harvest` first (queries with differently graded chunks)",
}


def _require_positives(labels, positive_grade: int, needed: int) -> None:
    """A fresh BCE head needs relevant labels: measured in the loop, one fitted to grades 0/1 only
    learned a bias and cut LegalBenchCorporateLobbying from 0.864 to 0.420."""
    n_positive = sum(1 for item in labels if item.label >= positive_grade / 3)
    if n_positive < needed:
        raise DataError(
            f"{len(labels)} judge labels, {n_positive} graded >= {positive_grade}",
            f"at least {needed} relevant labels (training.bce.min_positives)",
            "harvest more tasks first",
        )


def _reranker_job(ws, algo: str, source: str, run_ids):
    """(items, trainer, counts or None) for one objective."""
    from training import data as loaders

    reference = _supervised(ws, source) if source != "feedback" else None
    if algo == "lexical":
        from functools import partial

        from training.lexical_trainer import train_reranker_lexical

        items, counts = _scored_lists(ws, reference, run_ids)
        corpus = reference.corpus if reference else lexical_corpus(ws, items)
        trainer = partial(train_reranker_lexical, corpus=corpus, distill=ws.config.training.distill)
        return items, trainer, counts
    if algo == "distill":
        from training.distill_trainer import train_reranker_distill

        items, counts = _scored_lists(ws, reference, run_ids)
        return items, train_reranker_distill, counts
    if algo == "bce":
        from training.bce_trainer import train_reranker_bce

        items = reference.labels if reference else loaders.load_labels_from_workspace(ws, run_ids)
        return items, train_reranker_bce, None
    if algo == "dpo":
        from training.dpo_trainer import train_reranker_dpo

        items = reference.pairs if reference else loaders.load_pairs_from_workspace(ws, run_ids)
        return items, train_reranker_dpo, None
    from training.ppo_trainer import train_reranker_ppo

    items = reference.lists if reference else loaders.load_graded_lists_from_workspace(ws, run_ids)
    return items, train_reranker_ppo, None


def _scored_lists(ws, reference, run_ids):
    """(soft-scored lists, counts or None): the reference's graded lists as scores grade / 3, else the feedback's."""
    from training import data as loaders

    if reference:
        return [loaders.ScoredList(g.query, g.texts, [x / loaders.MAX_GRADE for x in g.grades], 1.0, g.origin) for g in reference.lists], None
    return loaders.load_scored_lists_from_workspace(ws, run_ids)


def lexical_corpus(ws, lists) -> list[str]:
    """The texts BM25's statistics are counted over: the workspace's indexed chunks (what the agent
    searches; train contracts only), or the lists' own texts when the workspace indexed none."""
    with ws.db(read_only=True) as con:
        texts = [row[0] for row in con.execute("SELECT text FROM chunks").fetchall()]
    return texts or list(dict.fromkeys(t for g in lists for t in g.texts))


def _supervised(ws, source: str):
    if source not in SOURCES:
        raise ConfigError(f"--source {source}", "feedback or supervised-reference", "pick a data source")
    from rag_agent.retrieval.embedder import load_embedder
    from training.supervised import build_supervised_reference

    cfg = ws.config
    base = registry.get_version(ws, "embedder-base")  # hard negatives come from the BASE embedder
    embedder = load_embedder(cfg.models, str(base.path))
    return build_supervised_reference(
        Path(cfg.data_dir) / "cuad",
        cfg.chunking,
        embedder,
        max_tasks=cfg.training.data.supervised_max_tasks,
        top_k=cfg.training.data.supervised_top_k,
        overlap_fraction=cfg.eval.overlap_fraction,
        seed=cfg.training.data.seed,
    )
