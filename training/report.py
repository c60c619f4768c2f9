"""`report.html` for the training loop: per-cycle table, decisions, and PNG plots beside it.

Plots: NDCG@10 per suite per cycle, one panel per suite (champion before the cycle, candidate
embedder alone, candidate reranker's pipeline), seconds per stage per cycle (stacked), labels per
agent task (with the judge's calibrated precision when the harvest measured it), task success,
preference pairs per signal, judge agreement with citations, and each candidate's training loss
per step (where feedback is too thin to learn from, this is where it shows). Every decision is
listed with its reason and the agent probe's paired result. When `bench/reranker_objectives.py
--record` has compared the reranker objectives on this workspace's feedback, its table is shown
too (`OBJECTIVES_FILE`, beside the report). `bench/report_render.py` renders the page in headless
Chromium and checks every image loads.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

from training.loop import CycleRow

log = logging.getLogger(__name__)
OBJECTIVES_FILE = "reranker_objectives.json"  # written by bench/reranker_objectives.py --record


def write_report(rows: list[CycleRow], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    images = [_plot_ndcg(rows, out_dir), _plot_stages(rows, out_dir), _plot_labels(rows, out_dir), _plot_success(rows, out_dir),
              _plot_pairs(rows, out_dir), _plot_agreement(rows, out_dir), _plot_losses(rows, out_dir)]
    depth = next((r.rerank_depth for r in rows if r.rerank_depth), None)
    body = [
        "<h1>ragloop training loop</h1>",
        f"<p>{len(rows)} cycles, {sum(r.tasks for r in rows)} agent tasks, {sum(sum(r.seconds.values()) for r in rows) / 60:.1f} min of steps."
        + (f" The reranker re-scores the top {depth} candidates, as the agent does (agent.retrieve_k)." if depth else "") + "</p>",
        _table(rows),
        "<h2>Decisions</h2>",
        _decisions(rows),
        _objectives(out_dir / OBJECTIVES_FILE),
        *[f'<figure><img src="{img.name}" alt="{img.stem}"><figcaption>{img.stem.replace("_", " ")}</figcaption></figure>' for img in images],
    ]
    path = out_dir / "report.html"
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}td.n{text-align:right}img{max-width:100%}li{margin:.4em 0}")
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>ragloop report</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
    return path


def table_rows(rows: list[CycleRow]) -> tuple[list[str], list[list[str]]]:
    """Header and cells shared by the HTML report and the CLI's final table."""
    law_names = sorted({name for row in rows for name in row.law})
    header = ["cycle", "tasks", "success", "labels/task", "pairs", "dev champion", "dev embedder", "dev +reranker", *law_names, "minutes", "decision"]
    cells = []
    for row in rows:
        cells.append(
            [str(row.cycle), str(row.tasks), _fmt(row.success), f"{row.labels / row.tasks:.1f}" if row.tasks else "–", str(row.pairs),
             _fmt(row.dev_champion), _fmt(row.dev_embedder), _fmt(row.dev_reranked), *[_fmt(row.law.get(n)) for n in law_names],
             f"{sum(row.seconds.values()) / 60:.1f}", row.decision]
        )
    return header, cells


def _decisions(rows: list[CycleRow]) -> str:
    items = []
    for row in rows:
        probe = f"<br><i>agent probe:</i> {html.escape(row.probe)}" if row.probe else ""
        items.append(f"<li><b>{html.escape(row.verdict or f'cycle {row.cycle}: {row.decision}')}</b><br>{html.escape(row.reason)}{probe}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _table(rows: list[CycleRow]) -> str:
    header, cells = table_rows(rows)  # reasons: the Decisions list below
    return _html_table(header, cells, text_last=True)


def _html_table(header: list, lines: list[list], text_last: bool = False) -> str:
    """Escaped cells, right-aligned as numbers (`text_last`: the last column is left-aligned text)."""
    def cell(value, last: bool) -> str:
        return f"<td>{html.escape(str(value))}</td>" if last and text_last else f"<td class='n'>{html.escape(str(value))}</td>"

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(c, i == len(line) - 1) for i, c in enumerate(line)) + "</tr>" for line in lines)
    return f"<table><tr>{head}</tr>{body}</table>"


def _objectives(path: Path) -> str:
    """The recorded side-by-side of reranker objectives from the same feedback, or nothing."""
    if not path.is_file():
        return ""
    try:
        data = json.loads(path.read_text())
        header, lines = data["columns"], [[row["pipeline"], row["trained_on"], *row["cells"], row["dev_ci"]] for row in data["rows"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a hand-edited or truncated file must not cost the report
        log.warning("%s: not shown in the report (%s); rerun bench/reranker_objectives.py --record", path, exc)
        return ""
    note = html.escape(str(data.get("caption", "")))
    return f"<h2>Reranker objectives from the same feedback</h2><p>{note}</p>{_html_table(header, lines)}"


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    return plt, fig, ax


def _save(plt, fig, ax, out: Path, title: str, ylabel: str, xlabel: str = "cycle", legend_outside: bool = False) -> Path:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, **({"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if legend_outside else {}))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _plot_ndcg(rows: list[CycleRow], out_dir: Path) -> Path:
    """One panel per suite: champion (before the cycle), candidate embedder, candidate reranker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = sorted({s for r in rows for s in (*r.champion, *r.candidate, *r.reranked)}) or ["(no evaluation)"]
    fig, axes = plt.subplots(1, len(suites), figsize=(4.2 * len(suites), 3.6), squeeze=False)
    for ax, suite in zip(axes[0], suites):
        for label, attr, style in (("champion", "champion", "o-"), ("candidate embedder", "candidate", "s--"), ("candidate reranker", "reranked", "^:")):
            points = [(r.cycle, getattr(r, attr)[suite]) for r in rows if suite in getattr(r, attr)]
            if points:
                ax.plot(*zip(*points), style, label=label)
        ax.set_title(suite, fontsize=10)
        ax.set_xlabel("cycle")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][0].set_ylabel("NDCG@10")
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=8)
    fig.suptitle("NDCG@10 per suite per cycle (missing points: not scored, verdict already decided)", fontsize=10)
    fig.tight_layout()
    out = out_dir / "ndcg_per_suite.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _plot_stages(rows: list[CycleRow], out_dir: Path) -> Path:
    from training.loop import STEPS

    plt, fig, ax = _figure()
    bottom = [0.0] * len(rows)
    for step in STEPS:
        values = [r.seconds.get(step, 0.0) for r in rows]
        if any(values):
            ax.bar([r.cycle for r in rows], values, bottom=bottom, label=step)
            bottom = [b + v for b, v in zip(bottom, values)]
    return _save(plt, fig, ax, out_dir / "stage_seconds.png", "Wall time per stage per cycle", "seconds", legend_outside=True)


def _plot_labels(rows: list[CycleRow], out_dir: Path) -> Path:
    plt, fig, ax = _figure()
    measured = [r for r in rows if r.tasks]
    ax.bar([r.cycle for r in measured], [r.labels / r.tasks for r in measured], label="judge labels per agent task")
    precise = [(r.cycle, r.calibrated_precision) for r in rows if r.calibrated_precision is not None]
    if precise:
        twin = ax.twinx()
        twin.plot(*zip(*precise), "o-", color="black", label="calibrated precision")
        twin.set_ylim(0, 1)
        twin.set_ylabel("calibrated precision")
    return _save(plt, fig, ax, out_dir / "labels_per_task.png", "Labels per task" + (" and their calibrated precision" if precise else ""), "labels / task")


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
