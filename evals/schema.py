"""Tables owned by the evals stage: one row per suite evaluation, plus its per-query scores.

Per-query scores are kept so that a later gate can pair any two runs query by query without
re-running either (`evals gate --candidate <eval_id> --baseline <eval_id>`).
"""

OWNER = "evals"

MIGRATIONS = [
    """
    CREATE TABLE eval_runs (
        eval_id          TEXT PRIMARY KEY,   -- uuid4 hex
        suite            TEXT NOT NULL,      -- suite name, e.g. 'aila_statutes', 'cuad'
        split            TEXT NOT NULL,      -- e.g. 'test', 'dev'
        suite_path       TEXT,               -- folder the suite was read from
        embedder_version TEXT NOT NULL,
        reranker_version TEXT,               -- NULL when no reranker was applied
        chunking         TEXT,               -- JSON of the ChunkingConfig (NULL for BEIR suites: no chunking)
        created_at       TIMESTAMP DEFAULT current_timestamp,
        n_queries        INTEGER NOT NULL,
        seconds          DOUBLE,
        metrics          TEXT NOT NULL,      -- JSON {metric: mean over queries}
        details          TEXT                -- JSON with suite-specific counts (e.g. unlocatable evidence)
    );
    CREATE TABLE eval_scores (
        eval_id  TEXT NOT NULL,
        query_id TEXT NOT NULL,
        metric   TEXT NOT NULL,              -- 'ndcg@10', 'recall@100', 'recall@10', 'mrr@10'
        value    DOUBLE NOT NULL
    );
    CREATE INDEX eval_scores_run ON eval_scores (eval_id);
    """,
]
