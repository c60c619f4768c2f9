"""Weight merging with the parent: the forgetting control of embedder re-tuning.

merged = alpha * fine_tuned + (1 - alpha) * parent, parameter by parameter (linear interpolation
of two models with the same architecture and a common ancestor; Wortsman et al. 2022, "Robust
fine-tuning of zero-shot models" / model soups). Measured on this project's data: a fine-tune on
agent-visible top-10 gained +0.28 in-domain NDCG@10 with law-task losses up to 0.016; averaging it
0.5 with the base kept +0.20 in-domain while every law task stayed at or above the base.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def interpolate_state_dicts(parent: dict, child: dict, alpha: float) -> dict:
    """alpha * child + (1 - alpha) * parent for every floating-point tensor; other tensors
    (integer buffers such as position ids) are taken from the child unchanged."""
    if parent.keys() != child.keys():
        missing = sorted(set(parent) ^ set(child))[:5]
        raise ValueError(f"models differ in parameters (e.g. {missing}); merge needs the same architecture")
    merged = {}
    for name, child_tensor in child.items():
        parent_tensor = parent[name]
        if child_tensor.is_floating_point():
            if parent_tensor.shape != child_tensor.shape:
                raise ValueError(f"parameter {name} has shape {tuple(parent_tensor.shape)} vs {tuple(child_tensor.shape)}")
            # The parent is loaded on the CPU; the child may be training on a GPU.
            merged[name] = alpha * child_tensor + (1.0 - alpha) * parent_tensor.to(device=child_tensor.device, dtype=child_tensor.dtype)
        else:
            merged[name] = child_tensor.clone()
    return merged


def load_model(path: Path | str, kind: str = "embedder"):
    if kind == "reranker":
        from sentence_transformers import CrossEncoder

        return CrossEncoder(str(path), device="cpu", local_files_only=True)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def merge_into(child_model, parent_path: Path | str, alpha: float, kind: str = "embedder"):
    """Interpolate `child_model`'s weights in place towards the model at `parent_path`."""
    if alpha >= 1.0:
        return child_model
    parent = load_model(parent_path, kind)
    merged = interpolate_state_dicts(parent.state_dict(), child_model.state_dict(), alpha)
    child_model.load_state_dict(merged)
    log.info("merged with parent %s at alpha=%.2f", parent_path, alpha)
    return child_model


def merge_dirs(parent_path: Path | str, child_path: Path | str, alpha: float, out_dir: Path | str, kind: str = "embedder") -> Path:
    """Write the merge of two saved models to `out_dir` (the child's format and tokenizer)."""
    from training.common import atomic_output

    child = load_model(child_path, kind)
    merge_into(child, parent_path, alpha, kind)
    with atomic_output(out_dir) as tmp:
        child.save(str(tmp))
    return Path(out_dir)
