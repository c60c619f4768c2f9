"""Tables owned by training: the model registry. Documented in docs/training.md.

`model_versions` holds every embedder/reranker version (files under `models/<kind>/<version_id>`);
exactly one row per kind has status 'champion' and that row is what retrieval opens.
`promotions` is the append-only history of champion switches (promote and rollback).
No foreign keys: DuckDB refuses UPDATEs of referenced rows, and status changes are updates; the
registry checks parents itself (tested).
"""

OWNER = "training.registry"

MIGRATIONS = [
    """
    CREATE TABLE model_versions (
        version_id      TEXT PRIMARY KEY,   -- e.g. 'embedder-0003-1a2b3c'; also the folder name
        kind            TEXT NOT NULL,      -- 'embedder' | 'reranker'
        parent_id       TEXT,               -- the version it was trained from (NULL for a base)
        path            TEXT NOT NULL,      -- model directory ('none' for the no-reranker base)
        content_version TEXT,               -- embedder '<name>@<hash>' that keys its index folder
        config          TEXT NOT NULL,      -- json: the training config used
        trained_on      TEXT NOT NULL,      -- json: source + data ids or a summary
        metrics         TEXT NOT NULL,      -- json: training losses, gate results, ...
        status          TEXT NOT NULL,      -- 'candidate' | 'champion' | 'rejected' | 'retired'
        reason          TEXT,               -- why it has its status
        created_at      TIMESTAMP DEFAULT current_timestamp
    );
    CREATE TABLE promotions (
        promotion_no INTEGER NOT NULL,     -- order of switches (global, 1-based)
        kind         TEXT NOT NULL,
        from_id      TEXT,                 -- champion before the switch
        to_id        TEXT NOT NULL,        -- champion after it
        action       TEXT NOT NULL,        -- 'base' | 'promote' | 'rollback'
        reason       TEXT,
        promoted_at  TIMESTAMP DEFAULT current_timestamp
    );
    """,
]
