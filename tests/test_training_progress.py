"""Training-step bars: drawn with count and last loss on a terminal, silent elsewhere; the
transformers callback opens the bar at train begin, steps it on each logged loss, closes it at end."""

from __future__ import annotations

import pytest

from training.progress import step_bar, step_bar_callback


def test_step_bar_counts_steps_and_shows_the_loss_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats stderr as a terminal
    monkeypatch.delenv("TERM", raising=False)
    with step_bar("training reranker", 3) as advance:
        for loss in (0.9, 0.5, 0.25):
            advance(loss)
    err = capsys.readouterr().err
    assert "training reranker" in err
    assert "3/3" in err and "loss 0.2500" in err


def test_step_bar_draws_nothing_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    with step_bar("training reranker", 2) as advance:
        advance(0.5)
        advance()
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.slow  # imports transformers
def test_trainer_callback_opens_a_bar_at_train_begin_and_closes_it_at_the_end(monkeypatch, capsys):
    from types import SimpleNamespace

    monkeypatch.setenv("FORCE_COLOR", "1")
    callback = step_bar_callback("training embedder")
    state = SimpleNamespace(max_steps=2)
    callback.on_train_begin(None, state, None)
    callback.on_log(None, state, None, logs={"loss": 1.5})
    callback.on_log(None, state, None, logs={"learning_rate": 0.0})  # no loss: no step
    callback.on_log(None, state, None, logs={"loss": 0.75})
    callback.on_train_end(None, state, None)
    err = capsys.readouterr().err
    assert "training embedder" in err and "2/2" in err and "loss 0.7500" in err


@pytest.mark.slow  # imports transformers
def test_trainer_callback_close_stops_a_bar_left_open_by_a_failed_training(monkeypatch):
    """When training raises, transformers never calls on_train_end: `close()` (the trainer's
    `finally`) must stop rich's live display, whose refresh thread would otherwise keep drawing."""
    import threading
    from types import SimpleNamespace

    monkeypatch.setenv("FORCE_COLOR", "1")

    def refresh_threads() -> set:
        return {t for t in threading.enumerate() if type(t).__name__ == "_RefreshThread"}

    before = refresh_threads()  # other tests' bars may still be winding down: only ours count
    callback = step_bar_callback("training embedder")
    callback.on_train_begin(None, SimpleNamespace(max_steps=5), None)
    ours = refresh_threads() - before
    assert len(ours) == 1
    (thread,) = ours
    thread.join(timeout=0.3)
    assert thread.is_alive()  # the open bar keeps redrawing
    callback.close()
    callback.close()  # idempotent: the finally may run after a normal on_train_end
    thread.join(timeout=2.0)  # rich signals its refresh thread to stop and does not join it
    assert not thread.is_alive()


@pytest.mark.slow  # the real MiniLM
def test_a_shadow_reindex_with_progress_draws_a_rich_bar_not_library_tqdm(tmp_path, embedder, monkeypatch, capfd):
    """`training loop`'s reindex step printed sentence-transformers' plain tqdm "Batches" bar into
    the log; the index build now draws ragloop's own bar (count, ETA) and builds the same index."""
    from rag_agent.retrieval.factory import build_index
    from rag_agent.workspace import Workspace

    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    rows = [(f"c{i}", "doc", f"Clause {i}: the licensee shall pay royalties quarterly.") for i in range(5)]
    index = build_index(Workspace.open(tmp_path / "ws"), embedder, rows, dir=tmp_path / "index", show_progress=True)
    err = capfd.readouterr().err
    assert "indexing chunks" in err and "5/5" in err
    assert "Batches" not in err
    hits = index.search(embedder.encode(["Clause 3: the licensee shall pay royalties quarterly."], is_query=True), 1)
    assert hits[0][0].chunk_id == "c3"
