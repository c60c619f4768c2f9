"""`training.reranker` (what every reranker objective shares) and one section per objective:
`training.distill`, `training.dpo`, `training.ppo`, `training.bce`. These classes ARE the config
sections; a trainer receives `training.reranker` and its objective's section as they stand."""

from __future__ import annotations

from typing import Literal

from rag_agent.config_section import Section
from training.common import optimizer_steps


class RerankerTrainConfig(Section):
    section_path = "training.reranker"

    objective: Literal["auto", "lexical", "bce", "dpo", "ppo", "distill"] = "auto"
    """Objective when the caller names none: "auto" = lexical (a BM25 weight fitted to the judge's
    scores over the champion embedder; the rule and why: training/candidates.py choose_objective)."""
    lr: float = 3e-5
    """AdamW learning rate of the cross-encoder g (its output layer: lr x head_lr_scale)."""
    epochs: int = 1
    """Passes over the training items (repeated up to `min_steps`)."""
    batch_size: int = 16
    """Items per step for bce; dpo steps on batch_size // 2 pairs (two texts each)."""
    max_steps: int = 0
    """0 = run the epochs; > 0 caps optimizer steps."""
    min_steps: int = 20
    """Epochs repeat until at least this many steps (small feedback sets would be one step)."""
    max_length: int = 256
    """Query + chunk word pieces; a 1,000-character chunk is ~220 of them."""
    max_grad_norm: float = 1.0
    """Gradient clipping: keeps a fresh 1-logit head from blowing up early steps."""
    seed: int = 0
    """Seeds item order, sampling and torch."""
    base_temperature: float = 0.05
    """Residual score = cos_E / this + g: 0.05 is the contrastive temperature MiniLM was trained with
    (scale 20), so the base term is the embedder's own logit and a softmax over it is its own ranking."""
    merge_alpha: float = 1.0
    """g is averaged with the weights it started from (1.0 = no merge). The residual form already
    anchors the reranker to the retriever, so merging is opt-in (0.5 = LM-Cocktail's halfway)."""
    head_lr_scale: float = 30.0
    """The zero-initialised output layer trains at lr x this: at zero weights the body gets no
    gradient, and 3e-5 alone needs hundreds of steps before g can move a 0.02 cosine gap."""

    def n_steps(self, n_items: int, per_step: int | None = None) -> int:
        """Optimizer steps over `n_items` taken `per_step` at a time (default batch_size)."""
        return optimizer_steps(n_items, per_step or self.batch_size, self.epochs, self.max_steps, self.min_steps)


class DistillConfig(Section):
    """Listwise soft-label distillation of the judge's scores: the reranker's distill objective,
    and the embedder's KL term when training.embedder.distill_weight > 0."""

    section_path = "training.distill"

    teacher_temperature: float = 0.1
    """tau of softmax(P(yes) / tau): the 1.5B judge's P(yes) spans ~0.1-0.4 within a query; 0.1
    turns a 0.2 gap into e^2 odds instead of a near-uniform target."""
    queries_per_step: int = 4
    """Judged lists per optimizer step (each ~feedback.judge.depth chunks)."""
    lists_need_clause: bool = True
    """Skip the judged list of a task whose checked answer says the clause is absent (a verified "No",
    a failed "Yes"; harvest_state.clause_exists): none of its chunks is relevant, so a softmax target
    over them would only rank the judge's noise. About half of a loop cycle's tasks are such tasks
    (78 % of CUAD's yes/no questions are answered "No")."""


class DPOConfig(Section):
    """Pairwise DPO against a frozen reference reranker."""

    section_path = "training.dpo"

    beta: float = 0.1
    """Margin temperature: a small beta lets scores move far from the reference."""


class PPOConfig(Section):
    """The PPO-style Plackett-Luce ranking policy update."""

    section_path = "training.ppo"

    clip: float = 0.2
    """epsilon of the clipped importance ratio (PPO's usual 0.2)."""
    kl_coef: float = 0.05
    """lambda of the KL penalty to the frozen reference."""
    samples: int = 8
    """Rankings sampled per query: the group the baseline averages over (at least 2)."""
    top_k: int = 10
    """Sampled ranking length = the NDCG cut-off the agent is judged at (NDCG@10)."""
    epochs: int = 2
    """Gradient steps per batch of sampled rankings (the ratio is clipped)."""
    queries_per_step: int = 4
    """Graded lists per optimizer step."""
    task_reward_weight: float = 0.0
    """0: the reward is NDCG@10 against judge labels only; > 0 adds this x the task's reward."""


class BCEConfig(Section):
    """The legacy BCE warm start (pointwise judge labels as soft targets); the shared reranker
    settings carry the rest."""

    section_path = "training.bce"

    min_positives: int = 10
    """A fresh BCE head needs relevant labels to learn more than a bias: measured in the loop, one
    fitted to grades 0/1 only cut LegalBenchCorporateLobbying from 0.864 to 0.420."""
