"""Training-step progress bars: count, last loss and ETA on stderr while a model trains.

One bar for every trainer: the reranker objectives' shared PyTorch loop (`reranker_model.fit`), the
PPO loop, and the sentence-transformers trainer behind the embedder (`StepBarCallback`, which also
replaces the trainer's PrinterCallback: with tqdm off it printed every step's log dict to stdout).
Bars are transient (they vanish when done; logging keeps the record) and are drawn only on a
terminal, so logs, CI output and tests stay clean.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rag_agent.progress import bar_columns


@contextmanager
def step_bar(label: str, total: int) -> Iterator[Callable[[float | None], None]]:
    """Yields `advance(loss=None)`: one call per optimizer step."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda loss=None: None
        return
    from rich.progress import Progress

    with Progress(*bar_columns(), console=console, transient=True) as progress:
        bar = progress.add_task(label, total=total, note="")

        def advance(loss: float | None = None) -> None:
            progress.update(bar, advance=1, note="" if loss is None else f"loss {loss:.4f}")

        yield advance


def step_bar_callback(label: str):
    """A transformers TrainerCallback that drives `step_bar` from the trainer's own step count."""
    from transformers import TrainerCallback

    class StepBarCallback(TrainerCallback):
        def __init__(self) -> None:
            self._bar = None
            self._advance = None

        def on_train_begin(self, args, state, control, **kwargs):
            self._bar = step_bar(label, state.max_steps)
            self._advance = self._bar.__enter__()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self._advance is not None and logs and "loss" in logs:
                self._advance(float(logs["loss"]))

        def on_train_end(self, args, state, control, **kwargs):
            self.close()

        def close(self) -> None:
            """Stop the bar; idempotent. The trainer calls no `on_train_end` when training raises,
            so the caller closes it in a `finally` (a live bar would keep redrawing over the error)."""
            if self._bar is not None:
                self._bar.__exit__(None, None, None)
                self._bar = self._advance = None

    return StepBarCallback()
