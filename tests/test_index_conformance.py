"""Every VectorIndex backend passes the same suite: faiss flat/HNSW, chroma folder/server.

Indexes are made through the workspace factory, so the factory's backend dispatch, folder
naming and embedder-version guard are exercised for each backend too.
"""

from __future__ import annotations

import os
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from rag_agent.errors import IndexError_
from rag_agent.retrieval.factory import index_dir, load_index, open_index, save_index
from rag_agent.workspace import Workspace
from tests.servers import free_port, serve

DIM = 32
VERSION = "test-embedder@000000000001"
BACKENDS = ["faiss-flat", "faiss-hnsw", "chroma-persistent", pytest.param("chroma-http", marks=pytest.mark.slow)]  # a server
EXACT = {"faiss-flat"}  # the others are HNSW graphs: checked by recall, scoped search is exact for all


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A `chroma run` server on a free port; skips when the CLI cannot start in 60 s."""
    cli = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(cli).exists():
        pytest.skip("the `chroma` CLI is not installed")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    url = f"http://127.0.0.1:{port}"
    command = [cli, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)]
    with serve(command, f"{url}/api/v2/heartbeat", data / "server.log", 60, {**os.environ, "ANONYMIZED_TELEMETRY": "False"}, pytest.skip):
        yield url


def _workspace(root: Path, backend: str, request) -> Workspace:
    name, _, variant = backend.partition("-")
    overrides = [f"index.backend={name}"]
    if name == "faiss":
        overrides.append(f"index.kind={variant}")
    if variant == "http":
        overrides.append(f"index.chroma_url={request.getfixturevalue('chroma_server')}")
    return Workspace.open(root, overrides)


@pytest.fixture(params=BACKENDS)
def make_ws(request, tmp_path):
    """Factory of workspaces configured for one backend (several per test for isolation)."""
    counter = iter(range(100))

    def make(version: str = VERSION) -> Workspace:
        return _workspace(tmp_path / f"ws{next(counter)}", request.param, request)

    make.backend = request.param
    return make


def _unique_version(request) -> str:
    # A server outlives tests: give each test its own collection via its own embedder version.
    return f"{VERSION}-{zlib.crc32(request.node.nodeid.encode()):08x}"


def random_unit(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def corpus(n_docs: int = 20, per_doc: int = 15, seed: int = 0):
    vectors = random_unit(n_docs * per_doc, seed)
    doc_ids = [f"doc{i % n_docs}" for i in range(len(vectors))]
    chunk_ids = [f"{d}:{i * 10}-{i * 10 + 10}" for i, d in enumerate(doc_ids)]
    return chunk_ids, doc_ids, vectors


def brute_force(queries, vectors, chunk_ids, k, allowed=None):
    scores = queries @ vectors.T
    out = []
    for row in scores:
        order = [i for i in np.argsort(-row, kind="stable") if allowed is None or i in allowed]
        out.append([chunk_ids[i] for i in order[:k]])
    return out


@pytest.fixture
def filled(make_ws, request):
    ws = make_ws()
    version = _unique_version(request)
    chunk_ids, doc_ids, vectors = corpus()
    index = open_index(ws, version, DIM)
    index.add(chunk_ids, doc_ids, vectors)
    return ws, version, index, (chunk_ids, doc_ids, vectors)


def test_global_search_matches_brute_force(filled, make_ws):
    _, _, index, (chunk_ids, _, vectors) = filled
    queries = random_unit(25, seed=1)
    expected = brute_force(queries, vectors, chunk_ids, 10)
    got = index.search(queries, 10)
    assert len(got) == len(queries)
    for hits in got:
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
    if make_ws.backend in EXACT:
        assert [[h.chunk_id for h in hits] for hits in got] == expected
        for hits, q in zip(got, queries):
            for h in hits:
                assert h.score == pytest.approx(float(q @ vectors[chunk_ids.index(h.chunk_id)]), abs=1e-5)
    else:
        recall = np.mean([len(set(e) & {h.chunk_id for h in g}) / 10 for e, g in zip(expected, got)])
        assert recall >= 0.95


def test_scope_returns_true_top_k_inside_scope(filled):
    _, _, index, (chunk_ids, doc_ids, vectors) = filled
    # Queries aimed at doc0's chunks: the global top-10 of each is dominated by doc0, while the
    # scope asks for two other docs that never appear in it.
    queries = vectors[:3] + 0.01 * random_unit(3, seed=2)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scope = {"doc7", "doc13"}
    global_top = brute_force(queries, vectors, chunk_ids, 3)
    assert not any(c.split(":")[0] in scope for top in global_top for c in top)
    allowed = {i for i, d in enumerate(doc_ids) if d in scope}
    expected = brute_force(queries, vectors, chunk_ids, 5, allowed)
    got = index.search(queries, 5, scope=scope)
    assert [[h.chunk_id for h in hits] for hits in got] == expected
    assert all(h.doc_id in scope for hits in got for h in hits)


def test_k_larger_than_candidates_returns_all(filled):
    _, _, index, (chunk_ids, _, _) = filled
    query = random_unit(1, seed=3)
    assert len(index.search(query, 10_000)[0]) == len(chunk_ids)
    scoped = index.search(query, 10_000, scope={"doc4"})[0]
    assert sorted(h.chunk_id for h in scoped) == sorted(c for c in chunk_ids if c.startswith("doc4:"))


def test_empty_scope_and_unknown_docs_give_empty_results(filled):
    _, _, index, _ = filled
    queries = random_unit(2, seed=4)
    assert index.search(queries, 5, scope=set()) == [[], []]
    assert index.search(queries, 5, scope={"no-such-doc"}) == [[], []]
    mixed = index.search(queries, 5, scope={"no-such-doc", "doc2"})
    assert all(h.doc_id == "doc2" for hits in mixed for h in hits) and all(len(h) == 5 for h in mixed)


def test_save_load_round_trip_and_incremental_add(filled):
    ws, version, index, (chunk_ids, doc_ids, vectors) = filled
    queries = random_unit(5, seed=5)
    before = index.search(queries, 8)
    save_index(ws, index)
    reopened = open_index(ws, version, DIM, create=False)
    assert len(reopened) == len(chunk_ids)
    assert [[h.chunk_id for h in hits] for hits in reopened.search(queries, 8)] == [[h.chunk_id for h in hits] for hits in before]

    extra_ids, extra_docs, extra_vectors = ["docX:0-10", "docX:10-20"], ["docX", "docX"], queries[:2].copy()
    reopened.add(extra_ids + chunk_ids[:3], extra_docs + doc_ids[:3], np.vstack([extra_vectors, vectors[:3]]))
    assert len(reopened) == len(chunk_ids) + 2  # already-present ids are not duplicated
    assert "docX:0-10" in reopened and "docY:0-1" not in reopened
    assert reopened.missing(["docY:0-1", chunk_ids[5], "docX:10-20", "docZ:1-2"]) == ["docY:0-1", "docZ:1-2"]
    top = reopened.search(queries[:2], 1)
    assert [hits[0].chunk_id for hits in top] == extra_ids
    save_index(ws, reopened)
    again = load_index(index_dir(ws, version), embedder_version=version)
    assert len(again) == len(chunk_ids) + 2
    assert [h.chunk_id for h in again.search(queries[:1], 1, scope={"docX"})[0]] == ["docX:0-10"]


def test_other_embedder_version_is_refused(filled):
    ws, version, index, _ = filled
    save_index(ws, index)
    path = index_dir(ws, version)
    with pytest.raises(IndexError_, match="re-ingest with this embedder"):
        load_index(path, embedder_version="another-embedder@ffffffffffff")
    # Same folder reached through the factory with another version: missing, with a fix.
    with pytest.raises(IndexError_, match="ingest"):
        open_index(ws, "another-embedder@ffffffffffff", DIM, create=False)


def test_wrong_dimension_is_refused(filled):
    _, _, index, _ = filled
    with pytest.raises(IndexError_, match="shape"):
        index.search(random_unit(1, seed=6, dim=DIM + 1), 3)
    with pytest.raises(IndexError_, match="shape"):
        index.add(["d:0-1"], ["d"], random_unit(1, seed=6, dim=DIM + 1))


def test_empty_index_searches_empty(make_ws, request):
    index = open_index(make_ws(), _unique_version(request) + "-empty", DIM)
    assert len(index) == 0
    assert index.search(random_unit(2, seed=7), 5) == [[], []]


def test_hnsw_recall_on_larger_set(tmp_path):
    ws = Workspace.open(tmp_path / "ws", ["index.kind=hnsw"])
    vectors = random_unit(3000, seed=8)
    chunk_ids = [f"d{i % 50}:{i}-{i + 1}" for i in range(3000)]
    index = open_index(ws, VERSION, DIM)
    index.add(chunk_ids, [c.split(":")[0] for c in chunk_ids], vectors)
    queries = random_unit(50, seed=9)
    expected = brute_force(queries, vectors, chunk_ids, 10)
    got = index.search(queries, 10)
    recall = np.mean([len(set(e) & {h.chunk_id for h in g}) / 10 for e, g in zip(expected, got)])
    assert recall >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["faiss-flat", "chroma-persistent"])
def test_real_embedder_finds_the_paraphrase(embedder, tmp_path, backend, request):
    ws = _workspace(tmp_path / "ws", backend, request)
    sentences = {
        "lease:0-60": "The tenant shall pay rent on the first day of each month.",
        "lease:60-120": "Either party may terminate this lease with ninety days notice.",
        "nda:0-70": "The receiving party shall keep all confidential information secret.",
        "nda:70-140": "This agreement is governed by the laws of the State of Delaware.",
        "sale:0-50": "The seller warrants the goods are free from defects.",
    }
    ids = list(sentences)
    index = open_index(ws, embedder.version, embedder.dim)
    index.add(ids, [i.split(":")[0] for i in ids], embedder.encode(list(sentences.values())))
    save_index(ws, index)
    index = open_index(ws, embedder.version, embedder.dim, create=False)
    queries = embedder.encode(["Which state's law applies to the contract?", "How can the lease be ended early?"], is_query=True)
    assert [hits[0].chunk_id for hits in index.search(queries, 3)] == ["nda:70-140", "lease:60-120"]
    assert index.search(queries[:1], 1, scope={"lease"})[0][0].doc_id == "lease"
