"""What a person watching `training loop` sees: progress bars, one verdict line per cycle, no noise.

Bars go to stderr (rich, count + ETA) and vanish when done; logging keeps the record.
"""

from __future__ import annotations

from contextlib import contextmanager


def quiet_libraries() -> None:
    """Silence library chatter ("Loading weights" bars, info logs) for every loop command.

    The environment variables reach libraries not imported yet; the calls reach those already
    imported. Our own warnings and errors still show."""
    from rag_agent.cli_common import offline_env, quiet_library_loggers

    offline_env()
    quiet_library_loggers()
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # transformers absent: nothing to silence
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:
        pass


@contextmanager
def task_bar(label: str, enabled: bool = True):
    """(on_start, on_task) callbacks for `run_tasks`: a bar with done/total, successes and ETA."""
    if not enabled:
        yield None, None
        return
    from rich.console import Console
    from rich.progress import Progress

    from rag_agent.progress import bar_columns

    solved = {"ok": 0, "n": 0}
    with Progress(*bar_columns(), console=Console(stderr=True), transient=True) as progress:
        bar = progress.add_task(label, total=None, note="")

        def on_start(pending: int) -> None:
            progress.update(bar, total=pending)

        def on_task(result) -> None:
            if result.success is not None:
                solved["n"] += 1
                solved["ok"] += bool(result.success)
            progress.update(bar, advance=1, note=f"solved {solved['ok']}/{solved['n']}" if solved["n"] else "")

        yield on_start, on_task


def verdict_line(cycle: int, decide: dict, evaluation: dict, train: dict) -> str:
    """'cycle 2: embedder 0003 promoted: dev 0.5310 -> 0.5710, law tasks held; reranker: no candidate',
    from the stored decide, evaluate and train payloads (the words: evals/promotion.py)."""
    from evals.promotion import CycleDecision, CycleEvaluation, kinds_of, verdict_text

    return verdict_text(cycle, kinds_of(CycleDecision.from_dict(decide), CycleEvaluation.from_dict(evaluation, train)))
