"""The reranker model every objective trains: a MiniLM cross-encoder with a 1-logit head.

Residual (distill, and dpo/ppo given an embedder or a residual parent): the reranker's score is
    score(q, c) = base_scale * cos_E(q, c) + g(q, c)
(rag_agent.retrieval.reranker.residual_score) with E the embedder it is bound to (frozen here:
its cosines are computed once, `ResidualBase`) and g the cross-encoder. A fresh g is MiniLM with
its output layer set to zero (weights and bias), so before any step the reranker ranks exactly
as the embedder does; a residual parent's g is continued. The folder is a standard CrossEncoder
(g) plus residual.json and README.md (the card), loaded by `rag_agent.retrieval.reranker.load_reranker`.
After training, g may be merged with the weights it started from (`merge_alpha`, LM-Cocktail).

Legacy (bce, or dpo/ppo from a plain CrossEncoder parent): the score is g alone, with a fresh
randomly initialised head when there is no parent (what issue 10 measured ranking below no
reranker; kept selectable, never the loop's choice).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from rag_agent.errors import ConfigError
from training.reranker_config import RerankerTrainConfig

log = logging.getLogger(__name__)

BASE_RERANKER_INIT = "bundled:all-MiniLM-L6-v2"


def init_reranker(parent_path: Path | str | None, max_length: int, device: str):
    """A trainable CrossEncoder on `device` (`models.device`): the parent's, or MiniLM with a fresh 1-logit head."""
    from sentence_transformers import CrossEncoder

    from rag_agent.models import embedder_path

    if parent_path is None or str(parent_path) == "none":
        # A bi-encoder checkpoint loaded as a cross-encoder: sentence-transformers warns that it is
        # "Converting" it, which is the design here (the new head is zeroed or trained), not news.
        st_logger = logging.getLogger("sentence_transformers")
        level = st_logger.level
        st_logger.setLevel(logging.ERROR)
        try:
            model = CrossEncoder(str(embedder_path(BASE_RERANKER_INIT)), num_labels=1, max_length=max_length, device=device, local_files_only=True)
        finally:
            st_logger.setLevel(level)
        log.info("reranker cross-encoder initialised from %s with a new 1-logit head", BASE_RERANKER_INIT)
    else:
        model = CrossEncoder(str(parent_path), max_length=max_length, device=device, local_files_only=True)
    return model


def frozen_copy(model):
    """The reference model (DPO/PPO): a deep copy that never trains."""
    reference = copy.deepcopy(model)
    reference.eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def score(model, queries: list[str], texts: list[str], forward=None):
    """Raw logits of (query, text) pairs, differentiable; `forward` is the accelerate-prepared
    module when there is one (preprocessing always uses the plain model)."""
    from sentence_transformers.util import batch_to_device

    features = batch_to_device(model.preprocess(list(zip(queries, texts))), model.device)
    return (forward or model)(features)["scores"].view(-1)


def save_reranker(model, out_dir: Path | str, card: dict | None = None) -> Path:
    """A standard CrossEncoder folder; with `card` (residual), also residual.json and README.md."""
    from training.common import atomic_output

    with atomic_output(out_dir) as tmp:
        model.save(str(tmp))
        if card is not None:
            write_card(Path(tmp), card)
    return Path(out_dir)


def write_card(folder: Path, card: dict, text: str | None = None) -> None:
    """residual.json and README.md (`text`: the card's template, default the cross-encoder's CARD_TEXT)."""
    import json

    from rag_agent.retrieval.reranker import BASE_STEP, RESIDUAL_CARD

    card = {"kind": "residual", "base_step": BASE_STEP, **card}
    (folder / RESIDUAL_CARD).write_text(json.dumps(card, indent=2, sort_keys=True, default=str))
    (folder / "README.md").write_text((text or CARD_TEXT).format(json=json.dumps(card, indent=2, sort_keys=True, default=str)))


CARD_TEXT = """# Residual reranker (ragloop)

score(q, c) = base_scale * round(cos_E(q, c) / base_step) * base_step + g(q, c)

* `cos_E`: cosine of the bound embedder E (`embedder_path`, version `embedder_version`): the
  embedder this reranker was trained over. A reranker is only meaningful with that embedder.
* `g`: this folder as a standard sentence-transformers CrossEncoder (raw 1-logit output).
* Before training g = 0 (zero output layer), so the ranking is exactly the embedder's.

```python
from sentence_transformers import CrossEncoder, SentenceTransformer
g = CrossEncoder(FOLDER).predict([(q, c)], activation_fn=torch.nn.Identity())[0]
E = SentenceTransformer(card["embedder_path"])
cos = float(E.encode(q, normalize_embeddings=True) @ E.encode(c, normalize_embeddings=True))
score = card["base_scale"] * round(cos / card["base_step"]) * card["base_step"] + g
```
(`rag_agent.retrieval.reranker.load_reranker(FOLDER).score(q, texts)` does exactly this.)

## Card
```json
{json}
```
"""


LEXICAL_CARD_TEXT = """# Lexical residual reranker (ragloop)

score(q, c) = base_scale * round(cos_E(q, c) / base_step) * base_step + weight * bm25(q, c)

* `cos_E`: cosine of the bound embedder E (`embedder_path`, version `embedder_version`).
* `bm25`: Okapi BM25 with the corpus statistics in lexical.json (`rag_agent.retrieval.lexical`:
  lower-cased alphanumeric words, function words dropped), `weight` fitted to the LLM judge's
  scores (training/lexical_trainer.py). weight = 0 is the embedder's ranking exactly.

`rag_agent.retrieval.reranker.load_reranker(FOLDER).score(q, texts)` computes it.

## Card
```json
{json}
```
"""


def train_mode(model, on: bool) -> None:
    """Dropout off while sampling/measuring, on while fitting."""
    model.train(on)


def fit(model, n_items: int, cfg: RerankerTrainConfig, batch_loss, batch_size: int | None = None, residual: bool = False,
        per_step: int | None = None) -> list[float]:
    """The plain PyTorch loop every pointwise/pairwise/listwise objective shares, via `accelerate`
    (so it runs unchanged under `accelerate launch`): shuffled batches of item indices, AdamW,
    gradient clipping. `batch_loss(indices, forward)` returns the batch's loss. Returns the loss
    per step. `residual`: the zero head trains at `head_lr_scale` x lr. `per_step`: items an epoch
    counts per step (default the batch size; listwise objectives count lists per step)."""
    from training.common import make_accelerator, shuffled_batches
    from training.progress import step_bar

    accelerator, optimizer = make_accelerator(str(model.device)), make_optimizer(model, cfg, residual)
    forward, optimizer = accelerator.prepare(model, optimizer)
    losses = []
    n_steps = cfg.n_steps(n_items, per_step)
    with step_bar("training reranker", n_steps) as advance:
        for batch in shuffled_batches(n_items, batch_size or cfg.batch_size, n_steps, cfg.seed):
            train_mode(model, True)
            loss = batch_loss(batch, forward)
            optimizer.zero_grad()
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            losses.append(float(loss.detach()))
            advance(losses[-1])
    train_mode(model, False)
    return losses


def make_optimizer(model, cfg: RerankerTrainConfig, residual: bool = False):
    """AdamW; for a residual reranker the output layer gets `head_lr_scale` x lr (a zero head must
    grow before the body receives any gradient: at zero weights d loss / d body = 0)."""
    import torch

    if not residual:
        return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    head = {id(p) for p in output_layer(model).parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in head], "lr": cfg.lr},
        {"params": [p for p in trainable if id(p) in head], "lr": cfg.lr * cfg.head_lr_scale},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr)


def batched_scores(model, queries: list[str], texts: list[str], batch_size: int = 64, base=None) -> list[float]:
    """Scores without gradient or dropout (for probes and held-out measurements); with `base`
    (a ResidualBase) the full residual score, else the raw logits."""
    import torch

    train_mode(model, False)
    out: list[float] = []
    with torch.no_grad():
        for start in range(0, len(queries), batch_size):
            q, t = queries[start : start + batch_size], texts[start : start + batch_size]
            out += full_score(model, q, t, base).float().cpu().tolist()
    return out


# ---- residual rerankers -------------------------------------------------------------------------
def output_layer(model):
    """The 1-logit output layer of a CrossEncoder (BERT/MiniLM: `model.model.classifier`)."""
    import torch

    inner = getattr(model, "model", model)
    layer = getattr(inner, "classifier", None)
    if isinstance(layer, torch.nn.Linear):
        return layer
    linears = [m for m in inner.modules() if isinstance(m, torch.nn.Linear) and m.out_features == 1]
    if not linears:
        raise ConfigError(type(inner).__name__, "a cross-encoder with a 1-logit linear output layer", "use a BERT-style CrossEncoder")
    return linears[-1]


def zero_output_layer(model) -> None:
    """Weights and bias 0: g(q, c) = 0 for every pair, so the residual score is the embedder's."""
    import torch

    layer = output_layer(model)
    with torch.no_grad():
        layer.weight.zero_()
        if layer.bias is not None:
            layer.bias.zero_()


def init_residual(parent_path: Path | str | None, max_length: int, device: str):
    """g: the parent's cross-encoder part when the parent is residual, else MiniLM with a zero head."""
    from rag_agent.retrieval.reranker import is_residual

    if parent_path is not None and str(parent_path) != "none" and is_residual(parent_path):
        return init_reranker(parent_path, max_length, device)
    if parent_path is not None and str(parent_path) != "none":
        log.warning("parent %s is not a residual reranker: g starts from MiniLM with a zero head", parent_path)
    model = init_reranker(None, max_length, device)
    zero_output_layer(model)
    return model


class ResidualBase:
    """The frozen embedder term base_scale * quantised cos_E(q, c), computed once per (query, text)."""

    def __init__(self, embedder_path: str, base_temperature: float, embedder=None, models=None):
        """`embedder`: an already loaded one to reuse; else it is loaded with `models` (the
        `models` section: device and batch size; its defaults when None)."""
        from rag_agent.config import ModelsConfig
        from rag_agent.retrieval.embedder import load_embedder

        self.embedder = embedder or load_embedder(models or ModelsConfig(), str(embedder_path))
        self.embedder_path = str(embedder_path)
        self.embedder_version = self.embedder.version
        self.scale = 1.0 / base_temperature
        self._cosines: dict[tuple[str, str], float] = {}

    def prepare(self, queries: list[str], texts: list[str]) -> None:
        """Encode what is missing, grouped by query (each distinct text is encoded once)."""
        missing = {(q, t) for q, t in zip(queries, texts) if (q, t) not in self._cosines}
        if not missing:
            return
        unique_texts = sorted({t for _, t in missing})
        unique_queries = sorted({q for q, _ in missing})
        text_rows = dict(zip(unique_texts, self.embedder.encode(unique_texts)))
        query_rows = dict(zip(unique_queries, self.embedder.encode(unique_queries, is_query=True)))
        for q, t in missing:
            self._cosines[(q, t)] = float(query_rows[q] @ text_rows[t])

    def terms(self, queries: list[str], texts: list[str]):
        import torch

        from rag_agent.retrieval.reranker import quantise_cosine

        self.prepare(queries, texts)
        return torch.tensor([self.scale * quantise_cosine(self._cosines[(q, t)]) for q, t in zip(queries, texts)], dtype=torch.float32)

    def card(self) -> dict:
        return {"embedder_path": self.embedder_path, "embedder_version": self.embedder_version, "base_scale": self.scale}


def full_score(model, queries: list[str], texts: list[str], base: ResidualBase | None = None, forward=None):
    """g(q, c), plus the embedder term when `base` is given (differentiable in g only)."""
    logits = score(model, queries, texts, forward)
    if base is None:
        return logits
    return logits + base.terms(queries, texts).to(device=logits.device, dtype=logits.dtype)


def start(parent_path: Path | str | None, cfg: RerankerTrainConfig, embedder: str | None = None, *, models):
    """(model, base, start_state) on `models.device`: residual when `embedder` is given or the parent is
    residual (the parent's card names its embedder), else legacy (base None)."""
    from rag_agent.retrieval.reranker import is_residual, read_residual_card

    parent_residual = parent_path is not None and str(parent_path) != "none" and is_residual(parent_path)
    base_temperature = cfg.base_temperature
    if parent_residual:
        card = read_residual_card(Path(parent_path))
        embedder = embedder or card["embedder_path"]
        base_temperature = 1.0 / float(card["base_scale"])  # g was learnt against this scale: keep it
    if embedder is None:
        return init_reranker(parent_path, cfg.max_length, models.device), None, None
    model = init_residual(parent_path, cfg.max_length, models.device)
    start_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
    return model, ResidualBase(embedder, base_temperature, models=models), start_state


def finish(model, base: ResidualBase | None, start_state: dict | None, cfg: RerankerTrainConfig, out_dir: Path | str, card: dict) -> dict:
    """Merge g with the weights it started from (`merge_alpha` < 1), then save (with the card when
    residual). Returns the metrics the merge adds."""
    from training.merge import interpolate_state_dicts

    extra = {}
    if base is not None and start_state is not None and cfg.merge_alpha < 1.0:
        model.load_state_dict(interpolate_state_dicts(start_state, model.state_dict(), cfg.merge_alpha))
        extra["merge_alpha"] = cfg.merge_alpha
        log.info("reranker g merged with its starting weights at alpha=%.2f", cfg.merge_alpha)
    save_reranker(model, out_dir, None if base is None else {**card, **base.card(), "base_temperature": 1.0 / base.scale, **extra})
    return extra
