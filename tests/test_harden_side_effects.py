"""A command that fails creates nothing; commands that need no workspace state work on a bare
checkout without creating ./workspace; tables are not cut when output is not a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BASELINES = REPO / "evals" / "baselines"


def cli(cwd: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("COLUMNS", None)
    if cache is not None:
        env["RAGLOOP_CACHE"] = str(cache)
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def created(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
def test_failed_evals_commands_create_no_workspace(tmp_path):
    (tmp_path / "decoy").mkdir()  # cwd holds something, so "created nothing" is checked against it
    attempts = [
        ("evals", "run", "--suite", "nosuch"),
        ("evals", "gate", "--candidate", "nosuch.json", "--baseline", str(BASELINES)),
        ("evals", "gate", "--candidate", str(BASELINES), "--baseline", str(BASELINES), "--tolerance", "nan"),
        ("evals", "list"),
        ("rag_agent", "ingest", "nosuch.txt", "--set", "chunking.size=0"),
        ("rag_agent", "ingest", str(REPO / "README.md"), "--set", "chunking.size=100"),  # overlap 200 >= size
    ]
    for args in attempts:
        result = cli(tmp_path, *args)
        assert result.returncode != 0 and "Traceback" not in result.stderr, (args, result.stderr[-2000:])
        assert [line for line in result.stderr.splitlines() if line.startswith("error:")], (args, result.stderr[-2000:])
        assert created(tmp_path) == ["decoy"], args


def test_gate_tables_are_not_cut_when_piped():
    result = subprocess.run(
        f"{sys.executable} -m evals gate -c {BASELINES} -b {BASELINES} | cat", shell=True, cwd=REPO, capture_output=True,
        text=True, timeout=300, env={k: v for k, v in dict(os.environ, PYTHONPATH=str(REPO)).items() if k != "COLUMNS"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "…" not in result.stdout and "+0.00000" in result.stdout
    for name in ("aila_statutes", "legalbench_corporate_lobbying", "cuad"):
        assert name in result.stdout


def write_beir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    texts = ["The tenant pays rent monthly.", "Delaware law governs this agreement.", "Either party may terminate."]
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n" for i, t in enumerate(texts)))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "which law governs"}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return folder


@pytest.mark.slow
def test_evals_run_on_a_bare_checkout_uses_a_cache_not_a_workspace(tmp_path):
    suite = write_beir(tmp_path / "suites" / "tiny")
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    result = cli(cwd, "evals", "run", "--suite", str(suite), "--embedder", "bundled:all-MiniLM-L6-v2", "--json", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["results"][0]["n_queries"] == 1
    assert created(cwd) == []  # no ./workspace
    assert any((tmp_path / "cache" / "eval-cache").rglob("*")), "embeddings are cached outside the checkout"


@pytest.mark.slow
def test_commands_that_load_models_print_no_library_bars(tmp_path):
    doc = tmp_path / "lease.txt"
    doc.write_text("The Tenant shall pay rent monthly. This Lease is governed by the laws of Delaware.\n")
    result = cli(tmp_path, "rag_agent", "ingest", str(doc), "-w", str(tmp_path / "ws"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "ws").is_dir()
    assert "Loading weights" not in result.stdout + result.stderr, result.stderr[-2000:]


@pytest.mark.slow
def test_offline_env_silences_plain_tqdm_bars_that_libraries_draw(tmp_path):
    # sentence-transformers draws "Computing widget examples" with plain tqdm when a trained
    # model's card is written; tqdm reads TQDM_* defaults when imported, after offline_env runs.
    code = ("from rag_agent.cli_common import offline_env; offline_env()\n"
            "from tqdm import tqdm\n"
            "for _ in tqdm(range(3), desc='Computing widget examples'): pass\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("TQDM_DISABLE", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Computing widget examples" not in result.stdout + result.stderr, result.stderr[-2000:]


@pytest.mark.slow
def test_a_fresh_reranker_head_prints_no_library_load_report(tmp_path):
    # The residual reranker loads the MiniLM bi-encoder as a cross-encoder with a new head on
    # purpose: transformers' "LOAD REPORT ... classifier.weight MISSING" and sentence-transformers'
    # "Converting ... to CrossEncoder" are expected, and every `training loop` cycle printed them.
    # As in `training loop`: transformers already imported (quiet_libraries) when logging is set up.
    code = ("from rag_agent.cli_common import offline_env, setup_logging; offline_env()\n"
            "import transformers; setup_logging()\n"
            "from training.reranker_model import init_reranker\n"
            "init_reranker(None, 64, 'cpu')\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("TRANSFORMERS_VERBOSITY", None)  # the CLI's own setting must do it
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = result.stdout + result.stderr
    assert "LOAD REPORT" not in shown and "MISSING" not in shown, shown[-2000:]
    assert "Converting" not in shown, shown[-2000:]
    assert "new 1-logit head" in shown  # ragloop's own INFO line still shows
