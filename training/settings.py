"""The `training` section of the one config: one sub-section per component, each the very
settings object that component receives (rag_agent.config assembles the tree)."""

from __future__ import annotations

from pydantic import Field

from rag_agent.config_section import Section
from training.embedder_config import EmbedderTrainConfig
from training.lexical_config import LexicalConfig
from training.reranker_config import BCEConfig, DistillConfig, DPOConfig, PPOConfig, RerankerTrainConfig


class TrainingDataConfig(Section):
    """Which harvested rows become training data (training/data.py, training/supervised.py)."""

    section_path = "training.data"

    positive_grade: int = 2
    """Judge grade (0..3) from which a chunk counts as a positive: 2 = "contains the clause"."""
    supervised_max_tasks: int = 400
    """Supervised reference: TRAIN tasks used (CPU time)."""
    supervised_top_k: int = 10
    """Supervised reference: hard negatives come from the base embedder's top-k in the contract."""
    seed: int = 0
    """Seeds which TRAIN tasks the supervised reference samples."""


class LoopConfig(Section):
    """The training loop (training/loop*.py, docs/loop.md): what a cycle runs and what it must pass."""

    section_path = "training.loop"

    split: str = "train"
    """CUAD split whose tasks the agent answers; never the dev split."""
    tasks_per_cycle: int = 8
    """Tasks per cycle when `training loop` runs without `--minutes` (with it, the plan sizes each
    cycle from measured throughput). On 2 idle cores the 1.5B agent takes ~26 s a task and the
    judge ~2.7 s a judgment, ~5 judgments a task (2026-12-05). Raise it on bigger machines."""
    contracts_per_cycle: int = 2
    """Fresh train contracts per cycle (their tasks feed that cycle)."""
    tasks_per_contract: int = 4
    """Tasks a cycle takes from one contract before adding another (at least contracts_per_cycle):
    the judge reuses a chunk's KV prefix across questions about it. A contract has ~3.7 date/text
    questions (taken first; their clause is always present) and ~32 yes/no ones, 78 % answered
    "No". At 10 (until 2026-12-07), 10 of run G's first 16 tasks were absent clauses, which give no
    positive and no judged list; 4 takes about one yes/no question per contract."""
    prefer_answer_types: str = "date,text"
    """Answer types the loop asks first ("" = none). Measured in the first clean loop cycle: 9 of 10
    random tasks asked about a clause the contract lacks (a checked "No"), which gives no positive."""
    probe_contracts: int = 2
    """Train contracts held back for the agent-success probe, never trained on."""
    probe_tasks: int = 4
    """Probe tasks run by the champion and by the proposed pipeline (0 = no probe)."""
    probe_alpha: float = 0.05
    """The agent probe vetoes only a significant drop: exact one-sided McNemar p below this
    (training/loop_probe.py)."""
    probe_tolerance: int = 0
    """Ignored since probe_alpha replaced it; kept so older ragloop.toml files still load."""
    dev_suite: str = "cuad"
    """In-domain suite (under data_dir) that must rise: contracts the loop never saw."""
    dev_split: str = "dev"
    """Split of dev_suite the gate evaluates."""
    guard_suites: str = "mteb_law/aila_statutes,mteb_law/legalbench_corporate_lobbying"
    """Comma-separated suites (under data_dir) that must not regress."""
    guard_against_base: bool = True
    """Guard suites must also hold against the base models, not only the current champion: each
    promotion may lose up to gate.tolerance, which would otherwise add up over cycles."""
    pair_reranker: bool = True
    """Also fit the reranker objective over each embedder candidate, so an embedder whose dev gain
    costs a law task alone can pass together with it: the gate then judges the pipeline that
    would be served (training/loop_gate.choose_candidates). Run G (2026-12-07): two embedders with
    dev +0.043 / +0.033 were vetoed alone on LegalBenchCorporateLobbying (-0.017 against the base),
    while the lexical reranker lifted that task +0.03. Costs one more reranker fit per cycle
    (seconds for lexical)."""
    reranker_min_lists: int = 10
    """The loop trains a reranker candidate only once its feedback (all cycles so far) holds at
    least this many usable judged lists (`training.data.load_scored_lists_from_workspace`); before
    that the cycle records "no candidate" and why (0 = train one every cycle). Why 10: the lexical
    reranker ("auto") fits one weight, and fitted on a fresh-clone run's 11 lists it raised the
    TUNING half of dev by +0.020 (95 % CI [-0.001, +0.041]; 2026-12-07; weight 0.56 by the KL fit
    of then, the pairwise fit gives 0.62 on those lists), ~2 min to fit and score.
    It was 30 while the reranker was a cross-encoder: every one distilled from fewer lists lowered
    or held dev (4 lists -0.014, 19 lists +0.001 n.s.), and scoring one on dev took 555 s."""
    rerank_k: int = 10
    """Ignored: the gate reranks agent.retrieve_k candidates, the depth the agent reranks; kept so
    older ragloop.toml files still load."""
    seed: int = 0
    """Seeds which contracts and tasks each cycle and the probe take, and the probe's statistics."""


class TrainingConfig(Section):
    section_path = "training"

    embedder: EmbedderTrainConfig = Field(default_factory=EmbedderTrainConfig)
    """The embedder fine-tune (training/embedder_trainer.py)."""
    reranker: RerankerTrainConfig = Field(default_factory=RerankerTrainConfig)
    """What every reranker objective shares (training/reranker_model.py)."""
    distill: DistillConfig = Field(default_factory=DistillConfig)
    """Listwise distillation of the judge (reranker objective, and the embedder's optional KL term)."""
    dpo: DPOConfig = Field(default_factory=DPOConfig)
    """The dpo reranker objective."""
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    """The ppo reranker objective."""
    bce: BCEConfig = Field(default_factory=BCEConfig)
    """The legacy bce reranker objective."""
    lexical: LexicalConfig = Field(default_factory=LexicalConfig)
    """The lexical reranker objective (g = weight * BM25)."""
    data: TrainingDataConfig = Field(default_factory=TrainingDataConfig)
    """Which harvested rows become training data."""
    loop: LoopConfig = Field(default_factory=LoopConfig)
    """The training loop."""
