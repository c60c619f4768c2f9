"""Shadow re-indexing: build a candidate embedder's index beside the champion's.

Indexes are per embedder version (`rag_agent.retrieval.factory.index_dir`), so the candidate's
index never touches the one the agent is using; promotion only switches the registry's champion
pointer, and rollback finds the old index still in place.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

ROWS_PER_FETCH = 1024  # chunk rows read from DuckDB at a time: flat memory on large corpora


def shadow_reindex(ws, embedder_version_path: Path | str, show_progress: bool = False) -> Path:
    """Embed every chunk of the workspace with the model at `embedder_version_path` into its own
    index folder; returns that folder. The champion's index is left untouched."""
    from rag_agent.retrieval.embedder import load_embedder
    from rag_agent.retrieval.factory import build_index, index_dir

    models = ws.config.models
    embedder = load_embedder(models, str(embedder_version_path))
    target = index_dir(ws, embedder.version)
    build_index(ws, embedder, _chunk_rows(ws), dir=target, show_progress=show_progress)
    log.info("shadow index for %s at %s", embedder.version, target)
    return target


def index_dir_for(ws, version) -> Path:
    """Where the index of a registered embedder version lives (it may not be built yet)."""
    from rag_agent.retrieval.factory import index_dir

    return index_dir(ws, version.content_version)


def _chunk_rows(ws):
    with ws.db(read_only=False) as con:
        cursor = con.execute("SELECT chunk_id, doc_id, text FROM chunks ORDER BY doc_id, ordinal")
        while rows := cursor.fetchmany(ROWS_PER_FETCH):
            yield from rows
