"""`report.html` for the training loop: per-cycle table and PNG plots beside it.

Plots: NDCG@10 per suite per cycle (champion before the cycle, candidate embedder alone, and with
the candidate reranker), task success, preference pairs per signal, judge agreement with
citations, and each candidate's training loss per step (where feedback is too thin to learn
from, this is where it shows). The table repeats every decision with its reason.
"""

from __future__ import annotations

import html
from pathlib import Path

from training.loop import CycleRow


def write_report(rows: list[CycleRow], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    images = [_plot_ndcg(rows, out_dir), _plot_success(rows, out_dir), _plot_pairs(rows, out_dir), _plot_agreement(rows, out_dir), _plot_losses(rows, out_dir)]
    body = [
        "<h1>ragloop training loop</h1>",
        _table(rows),
        *[f'<figure><img src="{img.name}" alt="{img.stem}"><figcaption>{img.stem.replace("_", " ")}</figcaption></figure>' for img in images],
    ]
    path = out_dir / "report.html"
    style = "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}img{max-width:100%}"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>ragloop report</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
    return path


def table_rows(rows: list[CycleRow]) -> tuple[list[str], list[list[str]]]:
    """Header and cells shared by the HTML report and the CLI's final table."""
    law_names = sorted({name for row in rows for name in row.law})
    header = ["cycle", "tasks", "success", "pairs", "dev champion", "dev embedder", "dev +reranker", *law_names, "decision"]
    cells = []
    for row in rows:
        cells.append(
            [str(row.cycle), str(row.tasks), _fmt(row.success), str(row.pairs), _fmt(row.dev_champion), _fmt(row.dev_embedder),
             _fmt(row.dev_reranked), *[_fmt(row.law.get(n)) for n in law_names], row.decision]
        )
    return header, cells


def _table(rows: list[CycleRow]) -> str:
    header, cells = table_rows(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header + ["reason"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + f"<td>{html.escape(row.reason)}</td></tr>" for line, row in zip(cells, rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    return plt, fig, ax


def _save(plt, fig, ax, out: Path, title: str, ylabel: str, xlabel: str = "cycle") -> Path:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _plot_ndcg(rows: list[CycleRow], out_dir: Path) -> Path:
    plt, fig, ax = _figure()
    cycles = [r.cycle for r in rows]
    series = {"dev champion": [r.dev_champion for r in rows], "dev embedder": [r.dev_embedder for r in rows], "dev +reranker": [r.dev_reranked for r in rows]}
    for name in sorted({n for r in rows for n in r.law}):
        series[name] = [r.law.get(name) for r in rows]
    for name, values in series.items():
        points = [(c, v) for c, v in zip(cycles, values) if v is not None]
        if points:
            ax.plot(*zip(*points), marker="o", label=name)
    return _save(plt, fig, ax, out_dir / "ndcg_per_suite.png", "NDCG@10 per suite per cycle", "NDCG@10")


def _plot_success(rows: list[CycleRow], out_dir: Path) -> Path:
    return _plot_share(rows, "success", "agent task success", out_dir / "task_success.png", "Agent task success per cycle", "success rate")


def _plot_pairs(rows: list[CycleRow], out_dir: Path) -> Path:
    plt, fig, ax = _figure()
    signals = sorted({s for r in rows for s in r.pairs_by_signal})
    bottom = [0] * len(rows)
    for signal in signals:
        values = [r.pairs_by_signal.get(signal, 0) for r in rows]
        ax.bar([r.cycle for r in rows], values, bottom=bottom, label=signal)
        bottom = [b + v for b, v in zip(bottom, values)]
    return _save(plt, fig, ax, out_dir / "pairs_per_signal.png", "Preference pairs per signal", "pairs")


def _plot_agreement(rows: list[CycleRow], out_dir: Path) -> Path:
    return _plot_share(rows, "judge_agreement", "cited chunks judged relevant", out_dir / "judge_agreement.png", "Judge agreement with citations", "share")


def _plot_losses(rows: list[CycleRow], out_dir: Path) -> Path:
    plt, fig, ax = _figure()
    for row in rows:
        for kind, losses in sorted(row.losses.items()):
            ax.plot(range(1, len(losses) + 1), losses, marker="." if len(losses) < 40 else None, label=f"cycle {row.cycle} {kind}")
    return _save(plt, fig, ax, out_dir / "training_loss.png", "Training loss per optimizer step", "loss", xlabel="step")


def _plot_share(rows: list[CycleRow], attr: str, label: str, out: Path, title: str, ylabel: str) -> Path:
    """One 0..1 series per cycle (cycles without a value are left out)."""
    plt, fig, ax = _figure()
    points = [(r.cycle, getattr(r, attr)) for r in rows if getattr(r, attr) is not None]
    if points:
        ax.plot(*zip(*points), marker="o", label=label)
    ax.set_ylim(0, 1)
    return _save(plt, fig, ax, out, title, ylabel)
