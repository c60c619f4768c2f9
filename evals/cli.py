"""`evals run | gate | baseline | list`: measure retrieval, gate promotions, refresh CI baselines.

Human output (rich tables) and logs go to stdout/stderr respectively; with `--json` stdout holds
the JSON document and nothing else, so `evals run --json > result.json` feeds `evals gate`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import typer

from evals.committed import BASELINES_DIR
from rag_agent.cli_common import RagloopApp, SetOpt, VerboseOpt, WorkspaceOpt, quiet_library_loggers, table_console

log = logging.getLogger(__name__)

app = RagloopApp(
    name="evals",
    help="Retrieval evaluation: MTEB-exact BEIR suites, CUAD in-domain suites, and the promotion gate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)



@dataclass
class EvalScratch:
    """Stands in for a workspace where evals needs only a config and an embedding cache, so
    `evals run` on a bare checkout works without silently creating ./workspace."""

    config: object
    cache_dir: Path


def eval_cache_dir() -> Path:
    """`$RAGLOOP_CACHE/eval-cache` or ~/.cache/ragloop/eval-cache (embeddings only; rebuildable)."""
    return Path(os.environ.get("RAGLOOP_CACHE", Path.home() / ".cache" / "ragloop")) / "eval-cache"


def existing_workspace(workspace: Path, overrides):
    """The workspace at `workspace` when one exists there, else None: a command that only reads a
    workspace (or fails) must never create one."""
    from rag_agent.workspace import Workspace

    if (workspace / "ragloop.toml").is_file() or (workspace / "ragloop.duckdb").is_file():
        return Workspace.open(workspace, overrides=overrides, create=False)
    return None


def _config_of(ws, overrides):
    from rag_agent.config import RagloopConfig

    return ws.config if ws is not None else RagloopConfig().apply_overrides(overrides)


def _setup_logging(verbose: bool) -> None:
    """Logs on stderr (never stdout: `--json` output must stay parseable)."""
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        force=True,
    )
    quiet_library_loggers()


@app.command()
def run(
    suite: Path = typer.Option(..., "--suite", "-s", help="A BEIR or CUAD-style suite folder, or a folder of suites."),
    split: Optional[str] = typer.Option(None, "--split", help="Split to read (default: test for BEIR, dev for CUAD)."),
    embedder: Optional[str] = typer.Option(None, "--embedder", help="Embedder dir or 'bundled:all-MiniLM-L6-v2' (default: models.embedder)."),
    reranker: Optional[str] = typer.Option(None, "--reranker", help="CrossEncoder dir or 'none' (default: models.reranker)."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON (only) on stdout."),
    store: bool = typer.Option(True, "--store/--no-store", help="Record results in the workspace DB (eval_runs, eval_scores)."),
    workspace: Path = WorkspaceOpt,
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Evaluate retrieval on one suite or every suite under a folder."""
    _setup_logging(verbose)
    from evals.results import dump_results, save_result
    from evals.runner import evaluate_path
    from evals.suites import discover

    ws = existing_workspace(workspace, overrides)
    cfg = _config_of(ws, overrides)
    discover(suite, split)  # a wrong --suite/--split fails here, before any model is loaded
    scratch = ws or EvalScratch(cfg, eval_cache_dir())
    results = evaluate_path(suite, split, embedder or cfg.models.embedder, reranker or cfg.models.reranker, ws=scratch, cfg=cfg)
    if store and ws is None:
        log.info("no workspace at %s: results not stored (pass --workspace to an existing one, or --no-store)", workspace)
    elif store:
        with ws.db() as con:
            for result in results:
                save_result(con, result)
    if as_json:
        typer.echo(dump_results(results))
    else:
        print_results(results)


@app.command()
def gate(
    candidate: List[str] = typer.Option(..., "--candidate", "-c", help="Result JSON file from `evals run --json`, or an eval_id (repeatable)."),
    baseline: List[str] = typer.Option(..., "--baseline", "-b", help="Result JSON file, baseline folder, or eval_id (repeatable)."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", help="Largest acceptable drop (default: gate.tolerance)."),
    metric: str = typer.Option("ndcg@10", "--metric", help="Per-query metric to gate on."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON (only) on stdout."),
    workspace: Path = WorkspaceOpt,
    overrides: Optional[List[str]] = SetOpt,
) -> None:
    """Exit 1 when any suite drops by more than the tolerance with significance; 0 otherwise."""
    _setup_logging(False)
    from evals.gate import gate_many
    from rag_agent.config_bounds import check_number
    from rag_agent.errors import ConfigError

    if tolerance is not None and check_number("gate.tolerance", tolerance, float):
        raise ConfigError(f"--tolerance {tolerance}", check_number("gate.tolerance", tolerance, float), "pass a tolerance like 0.01")
    ws = existing_workspace(workspace, overrides)
    decision = gate_many(_load_results(candidate, ws, workspace), _load_results(baseline, ws, workspace), _config_of(ws, overrides),
                         tolerance=tolerance, metric=metric)
    if as_json:
        typer.echo(json.dumps(decision.to_dict(), indent=1))
    else:
        print_gate(decision)
    if not decision.passed:
        typer.echo(decision.message, err=True)
        raise typer.Exit(1)


@app.command()
def baseline(
    out: Path = typer.Option(BASELINES_DIR, "--out", help="Folder for <suite>_<split>.json files."),
    suite: Optional[Path] = typer.Option(None, "--suite", help="Suite folder(s) to run (default: the shared CI suites under data_dir)."),
    workspace: Path = WorkspaceOpt,
    overrides: Optional[List[str]] = SetOpt,
) -> None:
    """Recompute the committed CI baselines with the DEFAULT config (the workspace TOML is ignored)."""
    _setup_logging(False)
    from evals.committed import stamp
    from evals.results import dump_results
    from evals.runner import evaluate_path
    from rag_agent.config import RagloopConfig

    cfg = RagloopConfig().apply_overrides(overrides)
    existing = existing_workspace(workspace, None)
    ws = EvalScratch(cfg, existing.cache_dir if existing else eval_cache_dir())  # only an embedding cache is used
    results = []
    for path in [suite] if suite else ci_suite_paths(Path(cfg.data_dir)):
        # stamped with the suite files' fingerprint and the eval settings: the training loop then
        # uses a committed result as the base model's scores only when it is the same evaluation
        results += [stamp(r, cfg) for r in evaluate_path(path, None, cfg.models.embedder, cfg.models.reranker, ws=ws, cfg=cfg)]
    out.mkdir(parents=True, exist_ok=True)
    for result in results:
        result.seconds = 0.0  # keep the committed files free of machine-dependent noise
        result.suite_path = ""
        target = out / f"{result.suite}_{result.split}.json"
        target.write_text(dump_results([result]) + "\n")
        log.info("wrote %s", target)
    print_results(results)


@app.command("list")
def list_runs(workspace: Path = WorkspaceOpt, limit: int = typer.Option(20, "--limit")) -> None:
    """Recent evaluations recorded in the workspace DB."""
    from rich.table import Table

    from evals.results import list_results
    from rag_agent.errors import ConfigError

    if limit < 1:
        raise ConfigError(f"--limit {limit}", "a whole number >= 1", "pass --limit 1 or more")
    ws = existing_workspace(workspace, None)
    if ws is None:
        raise ConfigError(str(workspace), "an existing workspace", "pass --workspace pointing to one (evals run stores results there)")
    table = Table("eval_id", "suite", "split", "embedder", "reranker", "created", "ndcg@10")
    with ws.db(read_only=True) as con:
        for eval_id, suite, split, emb, rr, created, metrics in list_results(con, limit):
            table.add_row(eval_id, suite, split, emb, rr or "-", str(created)[:19], f"{json.loads(metrics).get('ndcg@10', 0):.5f}")
    table_console().print(table)


def ci_suite_paths(data_dir: Path) -> list[Path]:
    """The suites whose baselines are committed: the two MTEB law tasks and CUAD (dev)."""
    return [data_dir / "mteb_law" / "aila_statutes", data_dir / "mteb_law" / "legalbench_corporate_lobbying", data_dir / "cuad"]


def _load_results(items: list[str], ws, workspace: Path):
    from evals.results import load_result, read_results_file
    from rag_agent.errors import DataError

    results = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            for file in sorted(path.glob("*.json")):
                results += read_results_file(file)
        elif path.is_file():
            results += read_results_file(path)
        elif ws is None:
            raise DataError(item, f"a results file, a baseline folder, or an eval_id of an existing workspace (none at {workspace})",
                            "check the path, or pass --workspace")
        else:
            with ws.db(read_only=True) as con:
                results.append(load_result(con, item))
    return results


def print_results(results) -> None:
    from rich.table import Table

    table = Table("suite", "split", "queries", "NDCG@10", "Recall@10", "Recall@100", "MRR@10", "seconds", title="retrieval evaluation")
    for r in results:
        m = r.metrics
        table.add_row(
            r.suite, r.split, str(r.n_queries),
            *(f"{m.get(name, float('nan')):.5f}" for name in ("ndcg@10", "recall@10", "recall@100", "mrr@10")),
            f"{r.seconds:.1f}",
        )
    table_console().print(table)
    for r in results:
        if r.details.get("evidence_total"):
            d = r.details
            table_console(stderr=True).print(
                f"{r.suite}/{r.split}: {d['chunks']} chunks; evidence located {d['evidence_total'] - d['evidence_unlocated']}/{d['evidence_total']}"
                f" (by parts {d['evidence_in_parts']}, normalised {d['evidence_normalised']}); chunking {r.chunking}"
            )


def print_gate(decision) -> None:
    """The promotion policy's GateDecision (evals/promotion.py) as a table."""
    from rich.table import Table

    table = Table("suite", "metric", "queries", "baseline", "candidate", "delta", "95% CI", "P(not worse)", "verdict", title=f"gate (tolerance {decision.tolerance})")
    for s in decision.suites:
        verdict = "[red]REGRESSED[/red]" if s.regressed else "[green]ok[/green]"
        table.add_row(
            s.suite, s.metric, str(s.n_queries), f"{s.baseline:.5f}", f"{s.candidate:.5f}", f"{s.delta:+.5f}",
            f"[{s.ci_low:+.4f}, {s.ci_high:+.4f}]", f"{s.p_not_worse:.3f}", verdict,
        )
    out = table_console()
    out.print(table)
    for key in decision.unpaired:
        out.print(f"not gated (only one side has it): {key}")


def main() -> None:
    from rag_agent.cli_common import run_app

    run_app(app, sys.argv[1:])
