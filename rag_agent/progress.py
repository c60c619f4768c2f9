"""Progress bars shared by every ragloop stage: one set of columns, and an encode with a bar.

Bars go to stderr (stdout stays parseable), are transient (logging keeps the record) and rich's own
(library tqdm bars are off: `cli_common.offline_env`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

ENCODE_BATCH_TEXTS = 256  # texts per encode call under a bar: a step every few seconds on 2 cores


def bar_columns() -> tuple:
    """The columns of every ragloop bar: label, bar, done/total, a note, elapsed, ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def encode_with_progress(embedder, texts: Sequence[str], label: str, is_query: bool = False) -> np.ndarray:
    """`embedder.encode(texts)` in batches of ENCODE_BATCH_TEXTS under a bar counting texts."""
    from rich.progress import Progress

    parts = []
    with Progress(*bar_columns(), console=stderr_console(), transient=True) as progress:
        bar = progress.add_task(label, total=len(texts), note="")
        for start in range(0, len(texts), ENCODE_BATCH_TEXTS):
            batch = texts[start : start + ENCODE_BATCH_TEXTS]
            parts.append(embedder.encode(batch, is_query=is_query) if is_query else embedder.encode(batch))
            progress.advance(bar, len(batch))
    if not parts:
        return embedder.encode([])
    return np.concatenate(parts, axis=0)
