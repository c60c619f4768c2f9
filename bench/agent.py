"""Agent throughput and self-correction on CUAD dev tasks, beside the floor llama.cpp allows.

    .venv/bin/python bench/agent.py --tasks 20 --half reporting --modes list,score

Runs the same tasks through the real agent (real embedder, faiss, GGUF model) once per grade mode,
in one process (`list` = the pre-v3 generated grader and JSON groundedness check; `score` = the
P(yes) grade and groundedness reading, see docs/llm.md), then reads the traces back. Per mode it
prints success, the median seconds per task without rewrites and, separately, with rewrites,
rewrite rate and success, and how many rewrites surfaced a chunk the first query did not show.

The floor is computed from llama.cpp's prompt and generation speed measured in this script on this
machine: per task, its longest single prompt read once plus its generated tokens,
    floor = max prompt tokens of one call / prompt tok/s + generated tokens / generation tok/s,
i.e. what a task would cost if the documents were read exactly once. Gold evidence is read only to
measure the grade (AUC of attempt 0's score against "a shown chunk holds the gold clause").
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_tasks import auc, choose_tasks, ensure_contracts, gold_chunks  # noqa: E402
from rag_agent.cli_common import offline_env  # noqa: E402

GROUND_OF = {"list": "json", "score": "score"}  # each grade mode with the groundedness check of its era


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20, help="number of dev tasks")
    parser.add_argument("--backend", default="llama-cpp", choices=["llama-cpp", "tiny", "smol"])
    parser.add_argument("--modes", default="score", help="comma list of agent.grade_mode values, run on the same tasks")
    parser.add_argument("--variants", default=None,
                        help="instead of --modes: 'label:key=value,key=value;label2:...' config variants run on the same tasks "
                             "(e.g. 'old:agent.rewrite_shows_new=false;new:agent.rewrite_shows_new=true')")
    parser.add_argument("--half", default="reporting", choices=["tuning", "reporting", "all"], help="dev half (rag_agent.dev_split)")
    parser.add_argument("--contracts", type=int, default=4, help="draw the tasks from this many contracts (ingest cost)")
    parser.add_argument("--workspace", type=Path, default=Path(tempfile.gettempdir()) / "ragloop-bench-agent")
    parser.add_argument("--tasks-file", type=Path, default=None, help="default: <data_dir>/cuad/tasks_dev.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    args = parser.parse_args()
    offline_env()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from rag_agent.cli_common import table_console

    from rag_agent.graph.runner import run_tasks
    from rag_agent.llm.factory import load_llm
    from rag_agent.retrieval.searcher import WorkspaceRetriever
    from rag_agent.workspace import Workspace

    ws = Workspace.open(args.workspace, overrides=[f"llm.backend={args.backend}", *args.overrides])
    cuad = Path(ws.config.data_dir) / "cuad"
    chosen = choose_tasks(args.tasks_file or cuad / "tasks_dev.jsonl", args.tasks, args.half, args.contracts, args.seed)
    ensure_contracts(ws, cuad, {t.doc_id for t in chosen.tasks if t.doc_id})
    console = table_console()
    console.print(f"{len(chosen.tasks)} {args.half}-half dev tasks from {len({t.doc_id for t in chosen.tasks})} contracts, "
                  f"{sum(bool(e) for e in chosen.evidence.values())} with gold evidence; llm.backend={args.backend}")

    llm = load_llm(ws.config.llm)
    retriever = WorkspaceRetriever.open(ws)
    prompt_tps, gen_tps = measure_speed(llm, ws)
    console.print(f"llama.cpp on this machine: prompt {prompt_tps:.1f} tok/s, generation {gen_tps:.1f} tok/s")

    stamp = time.strftime("%Y%m%d-%H%M%S")
    variants = parse_variants(args.variants) if args.variants else {
        m.strip(): [f"agent.grade_mode={m.strip()}", f"agent.ground_mode={GROUND_OF[m.strip()]}"] for m in args.modes.split(",") if m.strip()}
    modes = list(variants)
    run_ids = {mode: f"bench-{stamp}-{mode}" for mode in modes}
    baseline = {key: getattr(getattr(ws.config, key.split(".")[0]), key.split(".")[1])
                for overrides in variants.values() for key in (o.split("=", 1)[0] for o in overrides)}
    # Task-major, modes alternating in order: stopped early (Ctrl-C), the modes still cover the same
    # tasks. The KV cache is cleared before each run, else a mode would reuse the documents the
    # previous mode just read for the same task, which no real run of consecutive tasks gets.
    try:
        for i, task in enumerate(chosen.tasks):
            for mode in modes if i % 2 == 0 else modes[::-1]:
                for key, value in baseline.items():  # each variant starts from the same config
                    ws.config.set(key, value)
                ws.config.apply_overrides(variants[mode])
                llm._loaded.llama.reset()
                run_tasks(ws, [task], run_ids[mode], llm=llm, retriever=retriever, seed=args.seed)
            console.print(f"task {i + 1}/{len(chosen.tasks)} done", style="dim")
    except KeyboardInterrupt:
        console.print("stopped: reporting the tasks every mode finished")
    from rag_agent.tracing import TraceStore

    with TraceStore.for_workspace(ws) as store:
        done = set.intersection(*(store.finished_task_ids(run_id) for run_id in run_ids.values()))
    for mode, run_id in run_ids.items():
        report(console, ws, run_id, mode, chosen.evidence, prompt_tps, gen_tps, done)


def parse_variants(text: str) -> dict[str, list[str]]:
    """'old:a.b=1,c.d=x;new:a.b=2' -> {"old": ["a.b=1", "c.d=x"], "new": ["a.b=2"]}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        label, _, overrides = part.partition(":")
        if not label.strip().replace("-", "").replace("_", "").isalnum():
            raise SystemExit(f"--variants: label {label!r} must be letters, digits, - or _ (it names a run id)")
        out[label.strip()] = [o.strip() for o in overrides.split(",") if o.strip()]
    return out


def measure_speed(llm, ws) -> tuple[float, float]:
    """(prompt tokens/s, generated tokens/s) of the loaded GGUF model on a ~850-token agent prompt."""
    import numpy as np

    from rag_agent.graph import prompts
    from rag_agent.llm.speed import prompt_tokens_per_second

    loaded = getattr(llm, "_loaded", None)
    if loaded is None:
        raise SystemExit("measure_speed needs a llama-cpp backend (llm.backend=llama-cpp, tiny or smol)")
    with ws.db() as con:
        (text,) = con.execute("SELECT text FROM documents ORDER BY doc_id LIMIT 1").fetchone()
    passages = [prompts.compact(text)[i * 600 : (i + 1) * 600] for i in range(5)]
    tokens = llm._prompt_tokens(prompts.grade_score_messages("On what date was this agreement made?", passages))
    prompt_tps = prompt_tokens_per_second(llm, tokens=tokens, keep=True)  # generation continues that prompt
    llama = loaded.llama
    with loaded.lock:
        generated = 32
        started = time.perf_counter()
        for _ in range(generated):  # greedy decoding, one token per evaluation, as generation does
            logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),))
            llama.eval([int(logits.argmax())])
        gen_tps = generated / (time.perf_counter() - started)
        llama.reset()
    return prompt_tps, gen_tps


def task_rows(con, run_id: str) -> list[dict]:
    rows = con.execute(
        """SELECT t.task_id, t.doc_id, t.seconds, o.success,
                  (SELECT count(*) FROM rewrites r WHERE r.run_id = t.run_id AND r.task_id = t.task_id),
                  (SELECT max(tokens_in) FROM steps s WHERE s.run_id = t.run_id AND s.task_id = t.task_id),
                  (SELECT sum(tokens_out) FROM steps s WHERE s.run_id = t.run_id AND s.task_id = t.task_id),
                  (SELECT count(*) FROM steps s WHERE s.run_id = t.run_id AND s.task_id = t.task_id AND s.llm_seconds > 0),
                  (SELECT count(*) FROM web_fallbacks w WHERE w.run_id = t.run_id AND w.task_id = t.task_id)
           FROM tasks t LEFT JOIN outcomes o USING (run_id, task_id) WHERE t.run_id = ? ORDER BY t.task_id""", [run_id]).fetchall()
    shown = {}
    for task_id, attempt, chunk_id in con.execute(
            "SELECT task_id, attempt, chunk_id FROM retrievals WHERE run_id = ? AND stage = 'rerank' AND shown", [run_id]).fetchall():
        shown.setdefault(task_id, {}).setdefault(attempt, set()).add(chunk_id)
    scores = {}
    for task_id, attempt, score, passed in con.execute(
            "SELECT task_id, attempt, score, passed FROM grade_scores WHERE run_id = ?", [run_id]).fetchall():
        scores.setdefault(task_id, {})[attempt] = (score, passed)
    out = []
    for task_id, doc_id, seconds, success, rewrites, max_in, out_tokens, calls, fallbacks in rows:
        attempts = shown.get(task_id, {})
        first = attempts.get(0, set())
        later = set().union(*(c for a, c in attempts.items() if a > 0)) if len(attempts) > 1 else set()
        out.append({"task_id": task_id, "doc_id": doc_id, "seconds": seconds, "success": bool(success), "rewrites": rewrites,
                    "max_in": max_in or 0, "out": out_tokens or 0, "calls": calls, "fallback": bool(fallbacks), "shown0": sorted(first),
                    "new_chunk": bool(later - first), "grades": scores.get(task_id, {})})
    return out


def report(console, ws, run_id, mode, evidence, prompt_tps, gen_tps, done: set[str]) -> None:
    from rich.table import Table

    with ws.db() as con:
        rows = [r for r in task_rows(con, run_id) if r["task_id"] in done]
        nodes = con.execute("""SELECT node, count(*), avg(seconds), sum(tokens_in), sum(tokens_out) FROM steps
                               WHERE run_id = ? GROUP BY 1 ORDER BY 3 DESC""", [run_id]).fetchall()
    plain = [r for r in rows if r["rewrites"] == 0]
    rewritten = [r for r in rows if r["rewrites"] > 0]
    med = lambda xs: f"{statistics.median(xs):.1f}" if xs else "-"  # noqa: E731
    floor = [r["max_in"] / prompt_tps + r["out"] / gen_tps for r in plain]
    table = Table(title=f"{mode} ({run_id}, the {len(rows)} tasks every mode finished)", show_header=False)
    table.add_row("success", f"{sum(r['success'] for r in rows)}/{len(rows)} = {_rate(rows)}")
    table.add_row("median s/task, no rewrites", f"{med([r['seconds'] for r in plain])} (n={len(plain)}); floor {med(floor)} "
                  f"(median of max prompt tokens {med([r['max_in'] for r in plain])}, generated {med([r['out'] for r in plain])})")
    table.add_row("median s/task, with rewrites", f"{med([r['seconds'] for r in rewritten])} (n={len(rewritten)})")
    table.add_row("mean s/task (all)", f"{statistics.fmean(r['seconds'] for r in rows):.1f}" if rows else "-")
    table.add_row("LLM calls/task", f"{statistics.fmean(r['calls'] for r in rows):.2f}" if rows else "-")
    table.add_row("rewrite rate", f"{len(rewritten)}/{len(rows)} tasks; {sum(r['rewrites'] for r in rows)} rewrites")
    table.add_row("rewrite success", f"{sum(r['success'] for r in rewritten)}/{len(rewritten)} = {_rate(rewritten)}")
    later_pass = sum(any(p for a, (s, p) in r["grades"].items() if a > 0) for r in rewritten)
    table.add_row("rewrites that passed the grade", f"{later_pass}/{len(rewritten)}")
    table.add_row("rewrites surfacing a chunk attempt 0 did not show",
                  f"{sum(r['new_chunk'] for r in rewritten)}/{len(rewritten)} tasks; "
                  f"{sum(r['new_chunk'] and r['success'] for r in rewritten)} of them successful")
    table.add_row("fallback rate", f"{sum(r['fallback'] for r in rows)}/{len(rows)}")
    pos, neg = [], []
    for r in rows:
        score = r["grades"].get(0, (None, None))[0]
        if score is None:
            continue
        (pos if gold_chunks(ws, r["doc_id"], evidence.get(r["task_id"], []), r["shown0"]) else neg).append(score)
    grade_auc = auc(pos, neg)
    table.add_row("attempt-0 grade AUC vs gold clause shown",
                  "n/a (no scores)" if not pos + neg else
                  f"{'n/a' if grade_auc is None else f'{grade_auc:.3f}'} ({len(pos)} with the clause shown, {len(neg)} without)")
    table.add_row("per node (runs, mean s, tokens in/out)",
                  "; ".join(f"{n} {c}× {s:.1f}s {i}/{o}" for n, c, s, i, o in nodes))
    console.print(table)


def _rate(rows) -> str:
    return f"{sum(r['success'] for r in rows) / len(rows):.0%}" if rows else "-"


if __name__ == "__main__":
    main()
