"""Fine-tune an embedder on (query, positive, hard negatives) with forgetting control.

`train_embedder(parent_path, examples, cfg, out_dir, models=...)` (cfg: the `training.embedder`
section itself; models: the `models` section, whose device it trains on) runs sentence-transformers'
`SentenceTransformerTrainer` with the weighted InfoNCE loss (training/losses/
mnrl_with_hard_negatives.py), then interpolates the result with the parent (`cfg.merge_alpha`,
training/merge.py) and writes a standard sentence-transformers folder to `out_dir`.

Forgetting control, all configurable (docs/training.md has the measurements behind the defaults):
* weight merging with the parent (`merge_alpha`, default 0.5);
* low learning rate / few steps (`lr`, `max_steps`);
* replay: `replay` examples (e.g. general-domain pairs) are mixed in at `replay_weight`.

Listwise distillation (`distill` lists of judge soft scores, `cfg.distill_weight` > 0, with the
`training.distill` section's teacher temperature and lists per step): each step
adds weight x the listwise KL (training/losses/listwise_kl.py) between the judge's distribution
over a few queries' judged chunks and the embedder's own (cos / temperature), so the embedder
learns the judge's graded order over the whole ranking, not only its hard positives.

The training loss is measured before and after on the same probe examples (eval mode, no
dropout), so "the loss went down" compares like with like.
"""

from __future__ import annotations

import logging
import random
import tempfile
from pathlib import Path

from training.common import TrainResult, atomic_output, seed_everything
from training.data import EmbedderExample, ScoredList
from training.embedder_config import EmbedderTrainConfig
from training.reranker_config import DistillConfig
from training.losses.mnrl_with_hard_negatives import build_loss, info_nce

log = logging.getLogger(__name__)


def train_embedder(
    parent_path: Path | str,
    examples: list[EmbedderExample],
    cfg: EmbedderTrainConfig,
    out_dir: Path | str,
    replay: list[EmbedderExample] | None = None,
    distill: list[ScoredList] | None = None,
    distill_cfg: DistillConfig | None = None,
    *,
    models,
) -> TrainResult:
    """Train from the model at `parent_path` on `models.device` (the `models` section); write the
    (merged) model to `out_dir`. `distill_cfg`: the `training.distill` section (its defaults when None)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from rag_agent.errors import DataError
    from training.merge import merge_into

    replay = [EmbedderExample(e.query, e.positive, e.negatives, e.weight * cfg.replay_weight, e.origin or "replay") for e in replay or []]
    all_examples = list(examples) + replay
    if len(all_examples) < 2:
        raise DataError(f"{len(all_examples)} embedder examples", "at least 2 (in-batch negatives)", "harvest more feedback first")
    seed_everything(cfg.seed)
    model = SentenceTransformer(str(parent_path), device=models.device, local_files_only=True)
    model.to(torch.float32)  # fp32 master weights: a half-precision checkpoint collapses under plain fp16 updates
    model.max_seq_length = cfg.max_seq_length

    n_negatives = min(cfg.max_negatives, max(len(e.negatives) for e in all_examples))
    dataset = to_dataset(all_examples, n_negatives, cfg.seed)
    probe = all_examples[: cfg.loss_probe_examples]
    loss_before = probe_loss(model, probe, n_negatives, cfg)

    distill = [g for g in distill or [] if len(g.texts) >= 2 and max(g.scores) > min(g.scores)] if cfg.distill_weight > 0 else []
    losses = _fit(model, dataset, cfg, distill, distill_cfg or DistillConfig(), models.device)
    loss_after = probe_loss(model, probe, n_negatives, cfg)
    metrics = {
        "losses": losses,
        "loss_before": loss_before,
        "loss_after": loss_after,
        "n_negatives": n_negatives,
        "n_replay": len(replay),
        "merge_alpha": cfg.merge_alpha,
        "distill_weight": cfg.distill_weight if distill else 0.0,
        "n_distill_lists": len(distill),
    }
    if cfg.merge_alpha < 1.0:
        merge_into(model, parent_path, cfg.merge_alpha, kind="embedder")
        metrics["loss_after_merge"] = probe_loss(model, probe, n_negatives, cfg)
    with atomic_output(out_dir) as tmp:
        model.save(str(tmp))
    log.info(
        "embedder trained on %d examples (%d steps): probe loss %.4f -> %.4f", len(all_examples), len(losses), loss_before, loss_after
    )
    return TrainResult(Path(out_dir), metrics, len(all_examples))


def to_dataset(examples: list[EmbedderExample], n_negatives: int, seed: int):
    """Columns anchor, positive, negative_1..n, label (= example weight).

    Every row needs the same number of negative columns: an example with fewer negatives repeats
    its own, and one with none borrows other examples' positives (in-batch negatives anyway)."""
    from datasets import Dataset

    rng = random.Random(seed)
    columns: dict[str, list] = {"anchor": [], "positive": []}
    columns.update({f"negative_{i + 1}": [] for i in range(n_negatives)})
    columns["label"] = []
    for index, example in enumerate(examples):
        columns["anchor"].append(example.query)
        columns["positive"].append(example.positive)
        for i, text in enumerate(padded_negatives(example, examples, index, n_negatives, rng)):
            columns[f"negative_{i + 1}"].append(text)
        columns["label"].append(float(example.weight))
    return Dataset.from_dict(columns)


def padded_negatives(example: EmbedderExample, examples: list[EmbedderExample], index: int, n: int, rng: random.Random) -> list[str]:
    if n == 0:
        return []
    own = [text for text in example.negatives if text != example.positive]
    if own:
        return [own[i % len(own)] for i in range(n)]
    others = [e.positive for j, e in enumerate(examples) if j != index and e.positive != example.positive]
    return [rng.choice(others) for _ in range(n)] if others else [example.query] * n


def probe_loss(model, probe: list[EmbedderExample], n_negatives: int, cfg: EmbedderTrainConfig) -> float:
    """The weighted InfoNCE of `probe`, batch by batch as in training, without dropout."""
    import torch

    rng = random.Random(cfg.seed)
    total, weight_sum = 0.0, 0.0
    for start in range(0, len(probe), cfg.batch_size):
        batch = probe[start : start + cfg.batch_size]
        if len(batch) < 2:
            continue
        negs = [padded_negatives(e, probe, start + i, n_negatives, rng) for i, e in enumerate(batch)]
        with torch.no_grad():
            queries = _encode(model, [e.query for e in batch])
            positives = _encode(model, [e.positive for e in batch])
            negatives = [_encode(model, [n[k] for n in negs]) for k in range(n_negatives)]
            weights = torch.tensor([e.weight for e in batch], device=queries.device)
            loss = info_nce(queries, positives, negatives, weights, 1.0 / cfg.temperature, _copies(batch, negs))
        total += float(loss) * float(weights.sum())
        weight_sum += float(weights.sum())
    return total / weight_sum if weight_sum else float("nan")


def _copies(batch: list[EmbedderExample], negs: list[list[str]]):
    """Mask of candidates that are a copy of the query's own positive or of its own query text
    (not its positive column): probe batches are plain slices, so copies do happen there."""
    import torch

    candidates = [e.positive for e in batch] + [n[k] for k in range(len(negs[0]) if negs else 0) for n in negs]
    mask = torch.zeros(len(batch), len(candidates), dtype=torch.bool)
    for i, example in enumerate(batch):
        for j, text in enumerate(candidates):
            if j != i and (text == example.positive or (j < len(batch) and batch[j].query == example.query)):
                mask[i, j] = True
    return mask


def _encode(model, texts: list[str]):
    return model.encode(texts, convert_to_tensor=True, normalize_embeddings=True, batch_size=64, show_progress_bar=False)


def _fit(model, dataset, cfg: EmbedderTrainConfig, distill: list[ScoredList] | None, distill_cfg: DistillConfig, device: str) -> list[float]:
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from transformers import PrinterCallback

    from training.progress import step_bar_callback

    with tempfile.TemporaryDirectory(prefix="ragloop-embedder-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=cfg.epochs,
            max_steps=cfg.n_steps(len(dataset)),
            per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.lr,
            warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a ratio of the steps
            seed=cfg.seed,
            data_seed=cfg.seed,
            # The same text twice in a batch would be its own in-batch negative.
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=not device.startswith("cuda"),
        )
        loss = build_loss(model, cfg.temperature, cfg.cached_mini_batch)
        if distill:
            from training.losses.infonce_plus_listwise_kl import InfoNCEPlusListwiseKL

            loss = InfoNCEPlusListwiseKL(loss, model, distill, cfg.distill_weight, cfg.temperature,
                                         distill_cfg.teacher_temperature, distill_cfg.queries_per_step, cfg.seed)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
        trainer.remove_callback(PrinterCallback)  # printed every step's log dict to stdout
        bar = step_bar_callback("training embedder")
        trainer.add_callback(bar)
        try:
            trainer.train()
        finally:
            bar.close()
        return [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
