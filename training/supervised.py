"""SUPERVISED REFERENCE data, built from gold evidence of CUAD **TRAIN** tasks only.

This is NOT what the self-improvement loop trains on (the loop may use a task's question and
answer checker, never its evidence). It exists as a labelled reference point: "how far would
gold supervision get?", to compare with what feedback-trained models reach. Every artefact it
produces carries `source="supervised-reference"`, and the dev split is refused outright.

Recipe (the one measured in docs/training.md): chunk each contract with the project chunker,
embed the chunks with the base embedder; for each task, positives = chunks overlapping a gold
evidence span by at least `overlap_fraction` of the shorter one (the evaluation's relevance
rule), hard negatives = the other chunks among the base embedder's top-k within the contract.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from rag_agent.errors import DataError
from training.data import EmbedderExample, GradedList, LabeledText, PreferencePair

log = logging.getLogger(__name__)

SOURCE = "supervised-reference"
SPLIT = "train"  # never dev: dev evidence is only for measuring retrieval


@dataclass
class SupervisedReference:
    source: str = SOURCE
    examples: list[EmbedderExample] = field(default_factory=list)  # embedder
    labels: list[LabeledText] = field(default_factory=list)  # reranker BCE
    pairs: list[PreferencePair] = field(default_factory=list)  # reranker DPO
    lists: list[GradedList] = field(default_factory=list)  # reranker PPO
    corpus: list[str] = field(default_factory=list)  # every chunk of the contracts used (lexical reranker's BM25 statistics)
    n_tasks: int = 0
    n_contracts: int = 0

    def summary(self) -> dict:
        return {
            "source": self.source,
            "split": SPLIT,
            "tasks": self.n_tasks,
            "contracts": self.n_contracts,
            "examples": len(self.examples),
            "labels": len(self.labels),
            "pairs": len(self.pairs),
            "lists": len(self.lists),
        }


def build_supervised_reference(
    cuad_dir: Path | str,
    chunking,
    embedder,
    max_tasks: int = 400,
    top_k: int = 10,
    overlap_fraction: float = 0.5,
    seed: int = 0,
    split: str = SPLIT,
    task_ids: set[str] | None = None,
) -> SupervisedReference:
    """Build the reference from `cuad_dir` (the folder with tasks_train.jsonl). `embedder` is a
    TextEmbedder (the base model); `chunking` a ChunkingConfig. `task_ids`: exactly these train
    tasks (e.g. the same tasks another run used), else `max_tasks` from a seeded spread of contracts."""
    import numpy as np

    from evals.suites import SuiteRef, load_cuad, relevant_chunks
    from rag_agent.ingest.chunker import chunk_document

    if split != SPLIT:
        raise DataError(f"split={split!r}", "the train split", "the supervised reference never reads dev evidence")
    suite = load_cuad(SuiteRef("cuad", Path(cuad_dir), SPLIT))
    by_doc: dict[str, list] = {}
    for task in suite.tasks:
        if task_ids is None or task.task_id in task_ids:
            by_doc.setdefault(task.doc_id, []).append(task)
    if task_ids is not None:
        max_tasks = len(task_ids)
    doc_ids = sorted(by_doc)
    random.Random(seed).shuffle(doc_ids)  # a seeded spread of contracts, not the first few
    ref = SupervisedReference()
    for doc_id in doc_ids:
        if ref.n_tasks >= max_tasks:
            break
        chunks = chunk_document(suite.contracts[doc_id], chunking)
        if len(chunks) < 2:
            continue
        tasks = by_doc[doc_id][: max_tasks - ref.n_tasks]
        chunk_vectors = embedder.encode([c.text for c in chunks])
        query_vectors = embedder.encode([t.question for t in tasks], is_query=True)
        scores = query_vectors @ chunk_vectors.T
        ref.n_contracts += 1
        ref.corpus.extend(c.text for c in chunks)
        for task, row in zip(tasks, scores):
            relevant = relevant_chunks(chunks, task.spans, overlap_fraction)
            if not relevant:
                continue
            ranked = [chunks[i] for i in np.argsort(-row, kind="stable")[:top_k]]
            positives = [c for c in chunks if c.chunk_id in relevant]
            negatives = [c for c in ranked if c.chunk_id not in relevant]
            _add_task(ref, task, positives, negatives)
            ref.n_tasks += 1
    log.info("supervised reference (%s, TRAIN only): %s", SOURCE, ref.summary())
    return ref


def _add_task(ref: SupervisedReference, task, positives, negatives) -> None:
    origin = f"{SOURCE}:{task.task_id}"
    negative_texts = [c.text for c in negatives]
    for positive in positives:
        ref.examples.append(EmbedderExample(task.question, positive.text, negative_texts, 1.0, origin))
        ref.labels.append(LabeledText(task.question, positive.text, 1.0, origin))
        for negative in negatives:
            ref.pairs.append(PreferencePair(task.question, positive.text, negative.text, 1.0, origin))
    ref.labels += [LabeledText(task.question, text, 0.0, origin) for text in negative_texts]
    if negatives:
        texts = [c.text for c in positives] + negative_texts
        ref.lists.append(GradedList(task.question, texts, [3.0] * len(positives) + [0.0] * len(negatives), None, origin))
