"""`feedback harvest --workers K`: concurrent judge requests to a real `llama_cpp.server` on
127.0.0.1 (the bundled SmolLM2-135M) store the same verdicts, in the same order, as one at a time."""

from __future__ import annotations


import pytest

from rag_agent.config import LLMConfig

from feedback.harvest import Harvester
from feedback.judge import JudgeSettings, LLMJudge
from tests.servers import llama_server
from tests.test_feedback_harvest import NoMining, build, snapshot

pytest.importorskip("llama_cpp")
pytest.importorskip("uvicorn")  # the server extra

READY_WAIT_S = 90  # model load on a busy 2-core machine; fail, never hang
N_CTX = 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with llama_server(N_CTX, tmp_path_factory.mktemp("server") / "server.log", READY_WAIT_S, pytest.fail) as base_url:
        yield base_url


@pytest.mark.slow
@pytest.mark.llm
def test_concurrent_judging_stores_what_sequential_judging_stores(tmp_path, server):
    from rag_agent.llm import load_llm

    results = {}
    for workers in (1, 3):
        ws = build(tmp_path / f"w{workers}")
        llm = load_llm(LLMConfig(backend="openai", base_url=server, model="smol", timeout_s=120))
        with ws.db() as con:
            report = Harvester(ws, con, LLMJudge(llm, JudgeSettings(mode="passage-first")), NoMining(ws), workers=workers).run()
            cache = con.execute("SELECT query_hash, content_hash, score FROM judge_cache ORDER BY created_at, query_hash, content_hash").fetchall()
        assert report.tasks_harvested == 4 and report.judge_invalid == 0
        results[workers] = (_rounded(snapshot(ws)), sorted(cache), report.judge_calls)
    assert results[1][2] == results[3][2] > 0
    sequential, concurrent = results[1][1], results[3][1]
    assert [(q, c) for q, c, _ in sequential] == [(q, c) for q, c, _ in concurrent]
    # The server may reuse a different KV prefix when requests arrive in another order: float noise only.
    assert all(abs(a - b) < 1e-3 for (_, _, a), (_, _, b) in zip(sequential, concurrent))
    assert results[1][0] == results[3][0]


def _rounded(snap: dict) -> dict:
    return {table: [tuple(round(v, 3) if isinstance(v, float) else v for v in row) for row in rows] for table, rows in snap.items()}
