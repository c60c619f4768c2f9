"""Keys of the flat config (before issue 12's tree) and where each now lives.

A ragloop.toml written by an older version, `--set training.embedder_lr=...` or
`cfg.set("feedback.judge_mode", ...)` still work: `RagloopConfig.set` logs one warning line per
key ("training.embedder_lr is deprecated: use training.embedder.lr") and sets the new key(s).
`training.seed` seeded every trainer and the loop, so it sets each of their seeds.
"""

from __future__ import annotations

_FEEDBACK = {
    "judge": "judge.backend",  # was the llm/none switch; `feedback.judge` is now the judge's section
    "judge_mode": "judge.mode",
    "judge_batch": "judge.batch",
    "judge_depth": "judge.depth",
    "quote_min_match": "judge.quote_min_match",
    "quote_min_chars": "judge.quote_min_chars",
    "pointwise_relevant": "judge.pointwise_relevant",
    "pointwise_related": "judge.pointwise_related",
}

_TRAINING = {
    "seed": ("embedder.seed", "reranker.seed", "data.seed", "loop.seed"),
    "embedder_epochs": "embedder.epochs",
    "embedder_lr": "embedder.lr",
    "embedder_batch_size": "embedder.batch_size",
    "temperature": "embedder.temperature",
    "merge_alpha": "embedder.merge_alpha",
    "embedder_max_seq_length": "embedder.max_seq_length",
    "embedder_max_negatives": "embedder.max_negatives",
    "embedder_max_steps": "embedder.max_steps",
    "embedder_min_steps": "embedder.min_steps",
    "embedder_warmup_ratio": "embedder.warmup_ratio",
    "embedder_cached_mini_batch": "embedder.cached_mini_batch",
    "replay_weight": "embedder.replay_weight",
    "loss_probe_examples": "embedder.loss_probe_examples",
    "embedder_distill_weight": "embedder.distill_weight",
    "reranker_lr": "reranker.lr",
    "reranker_epochs": "reranker.epochs",
    "reranker_max_length": "reranker.max_length",
    "reranker_batch_size": "reranker.batch_size",
    "reranker_max_steps": "reranker.max_steps",
    "reranker_min_steps": "reranker.min_steps",
    "max_grad_norm": "reranker.max_grad_norm",
    "reranker_base_temperature": "reranker.base_temperature",
    "reranker_merge_alpha": "reranker.merge_alpha",
    "reranker_head_lr_scale": "reranker.head_lr_scale",
    "reranker_algo": "reranker.objective",
    "reranker_min_positives": "bce.min_positives",
    "distill_teacher_temperature": "distill.teacher_temperature",
    "distill_queries_per_step": "distill.queries_per_step",
    "dpo_beta": "dpo.beta",
    "ppo_clip": "ppo.clip",
    "ppo_kl": "ppo.kl_coef",
    "ppo_samples": "ppo.samples",
    "ppo_top_k": "ppo.top_k",
    "ppo_epochs": "ppo.epochs",
    "ppo_queries_per_step": "ppo.queries_per_step",
    "ppo_task_reward_weight": "ppo.task_reward_weight",
    "positive_grade": "data.positive_grade",
    "supervised_max_tasks": "data.supervised_max_tasks",
    "supervised_top_k": "data.supervised_top_k",
    "loop_split": "loop.split",
    "tasks_per_cycle": "loop.tasks_per_cycle",
    "contracts_per_cycle": "loop.contracts_per_cycle",
    "tasks_per_contract": "loop.tasks_per_contract",
    "prefer_answer_types": "loop.prefer_answer_types",
    "probe_contracts": "loop.probe_contracts",
    "probe_tasks": "loop.probe_tasks",
    "probe_tolerance": "loop.probe_tolerance",
    "probe_alpha": "loop.probe_alpha",
    "dev_suite": "loop.dev_suite",
    "dev_split": "loop.dev_split",
    "guard_suites": "loop.guard_suites",
    "guard_against_base": "loop.guard_against_base",
    "loop_rerank_k": "loop.rerank_k",
}


def _expand(section: str, table: dict) -> dict[str, tuple[str, ...]]:
    out = {}
    for old, new in table.items():
        targets = (new,) if isinstance(new, str) else new
        out[f"{section}.{old}"] = tuple(f"{section}.{t}" for t in targets)
    return out


# old dotted key -> the new dotted key(s) it sets
DEPRECATED: dict[str, tuple[str, ...]] = _expand("feedback", _FEEDBACK) | _expand("training", _TRAINING)
