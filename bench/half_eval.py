"""A loop's embedders on ONE half of CUAD dev, each against the base with the gate's paired bootstrap.

    .venv/bin/python bench/half_eval.py --workspace workspace [--half reporting]

The loop's gate scores all of dev; the judge's formulations and bars were chosen on the TUNING half
(rag_agent.dev_split), so the fresh figure is the REPORTING half's. Evaluates the base embedder
and every embedder version under the workspace's models/embedder (in name order) on that half,
reusing the workspace's encoding cache, and prints NDCG@10 with the delta vs base and its 95 % CI
(evals.gate.compare_suite: the same statistics the loop's gate uses). When the champion reranker is
not "none", the champion pipeline (training.registry.champion_specs, reranking agent.retrieve_k
candidates as the gate does) gets a row too, against the base and against its embedder alone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--half", default="reporting", choices=["tuning", "reporting"])
    args = parser.parse_args()
    from rag_agent.cli_common import offline_env

    offline_env()
    from rich.table import Table

    from evals.gate import compare_suite
    from evals.promotion import PromotionPolicy
    from evals.runner import evaluate_suite
    from rag_agent.cli_common import table_console
    from rag_agent.retrieval.embedder import load_embedder
    from rag_agent.retrieval.reranker import NO_RERANKER, load_reranker
    from rag_agent.workspace import Workspace
    from training import registry
    from supervised_reference import dev_suite

    ws = Workspace.open(args.workspace, create=False)
    cfg = ws.config
    suite = dev_suite(Path(cfg.data_dir), args.half, 0, Path(tempfile.mkdtemp(prefix="half-eval-")))
    versions = sorted(p for p in (ws.root / "models" / "embedder").iterdir() if p.is_dir())
    policy = PromotionPolicy.from_config(cfg)
    results = {}
    for name, path in [("base", cfg.models.embedder)] + [(p.name, str(p)) for p in versions]:
        results[name] = evaluate_suite(suite, "dev", load_embedder(cfg.models, path), None, ws=ws, cfg=cfg)
    embedder_spec, reranker_spec = registry.champion_specs(ws)
    pipeline = None
    if reranker_spec != NO_RERANKER:
        cfg.eval.rerank_k = cfg.agent.retrieve_k  # the depth the agent reranks, as the loop's gate does
        embedder = load_embedder(cfg.models, str(embedder_spec))
        pipeline = f"{Path(embedder_spec).name} + {Path(reranker_spec).name}"
        results[pipeline] = evaluate_suite(suite, "dev", embedder, load_reranker(cfg.models, str(reranker_spec), embedder=embedder), ws=ws, cfg=cfg)
    base = results["base"]
    table = Table(title=f"NDCG@10 on the {args.half} half of CUAD dev ({base.n_queries} queries), {args.workspace}")
    for column in ("embedder", "ndcg@10", "vs base", "95% CI"):
        table.add_column(column)
    for name, result in results.items():
        if name == "base":
            table.add_row(name, f"{result.metrics['ndcg@10']:.4f}", "", "")
            continue
        gate = compare_suite(result, base, policy, policy.tolerance, "ndcg@10")
        table.add_row(name, f"{gate.candidate:.4f}", f"{gate.delta:+.4f}", f"[{gate.ci_low:+.4f}, {gate.ci_high:+.4f}]")
    if pipeline:
        alone = results.get(Path(embedder_spec).name, base)  # the base embedder when none was promoted
        gate = compare_suite(results[pipeline], alone, policy, policy.tolerance, "ndcg@10")
        table.add_row(f"{pipeline} vs its embedder alone", "", f"{gate.delta:+.4f}", f"[{gate.ci_low:+.4f}, {gate.ci_high:+.4f}]")
    table_console().print(table)


if __name__ == "__main__":
    main()
