"""`training.embedder`: the settings of one embedder fine-tune. This class IS the config section;
`train_embedder` receives it as it stands in the workspace config (call sites that change a value,
like a bench's `merge_alpha=`, use `.updated(...)`, which validates)."""

from __future__ import annotations

from rag_agent.config_section import Section
from training.common import optimizer_steps


class EmbedderTrainConfig(Section):
    section_path = "training.embedder"

    lr: float = 2e-5
    """AdamW learning rate: sentence-transformers' fine-tuning default for MiniLM-sized models."""
    epochs: int = 1
    """Passes over the harvested examples (repeated up to `min_steps`, see there)."""
    batch_size: int = 16
    """Examples per step; the other examples of a batch are its in-batch negatives (at least 2)."""
    max_steps: int = 0
    """0 = run the epochs; > 0 caps optimizer steps (the "few steps" forgetting control)."""
    min_steps: int = 20
    """Epochs repeat until at least this many steps (ignored when max_steps > 0). Feedback arrives
    a few examples at a time (~0.5 positives per agent task): one epoch of 7 examples is one step,
    spent entirely in LR warm-up (measured: loss 3.80 -> 3.80)."""
    warmup_ratio: float = 0.1
    """Share of the steps spent warming the learning rate up from 0."""
    temperature: float = 0.05
    """InfoNCE temperature (= 1 / MNRL scale): 0.05 is the scale 20 MiniLM was trained with."""
    max_seq_length: int = 256
    """Word pieces per text: 256 cover a 1,000-character chunk; longer costs CPU time for no measured gain."""
    max_negatives: int = 4
    """Hard negatives per example (columns negative_1..n). The agent sees ~10 chunks, so a few of its
    non-relevant ones already make the task hard; each extra column costs a forward pass."""
    cached_mini_batch: int = 0
    """> 0: CachedMultipleNegativesRankingLoss with this mini-batch (big batches in little memory;
    it ignores example weights, so the weighted in-house loss stays the default)."""
    merge_alpha: float = 0.5
    """Weight of the fine-tuned model when averaged with its parent (1.0 = keep the fine-tuned
    weights; 0.5 = halfway back, the LM-Cocktail forgetting control)."""
    replay_weight: float = 0.5
    """Weight of replayed general-domain examples relative to harvested ones (forgetting control)."""
    loss_probe_examples: int = 64
    """Examples whose loss is measured before and after training, so "loss went down" is measured on
    the same data, not on different batches."""
    seed: int = 0
    """Seeds example order, padding negatives and torch."""
    distill_weight: float = 0.0
    """Weight of the listwise KL to the judge's scores (training.distill) added to InfoNCE on hard
    positives. 0 keeps the measured InfoNCE-only recipe until the with/without comparison on loop
    feedback is run."""

    def n_steps(self, n_examples: int) -> int:
        """Optimizer steps for `n_examples`: max_steps if set, else the epochs, at least min_steps."""
        return optimizer_steps(n_examples, self.batch_size, self.epochs, self.max_steps, self.min_steps)
