"""Tables owned by `feedback`: everything a harvest derives from traces. Documented in docs/feedback.md.

Every product row carries its provenance: the trace ids (run_id, task_id), the signal that
produced it, and (where a judge was involved) the judge model and prompt version. `feedback`
only reads the trace tables (rag_agent/tracing_schema.py); it never writes them.
"""

OWNER = "feedback"

MIGRATIONS = [
    """
    CREATE TABLE harvest_state (           -- one row per harvested (run, task): makes harvest incremental
        run_id       TEXT NOT NULL,
        task_id      TEXT NOT NULL,
        status       TEXT NOT NULL,        -- 'harvested' | 'skipped' (malformed trace; reason says why)
        reason       TEXT,
        judge        TEXT,                 -- judge used ('none' when --judge none)
        harvested_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (run_id, task_id)
    );
    CREATE TABLE harvest_log (             -- one row per `feedback harvest` call: counts, incl. skips
        harvest_id      TEXT PRIMARY KEY,
        started_at      TIMESTAMP DEFAULT current_timestamp,
        seconds         DOUBLE,
        judge           TEXT,
        tasks_harvested INTEGER,
        tasks_skipped   INTEGER,           -- malformed traces
        judge_calls     INTEGER,
        judge_cache_hits INTEGER,          -- chunks answered from judge_cache
        judge_invalid   INTEGER,           -- judge batches whose output stayed invalid after retries
        chunks_unlabeled INTEGER,          -- chunks left without a label because of those batches
        labels          INTEGER,
        pairs           INTEGER,
        rewards         INTEGER,
        negatives       INTEGER
    );
    CREATE TABLE judge_cache (             -- the judge's raw verdict, reused across runs and harvests
        query_hash     TEXT NOT NULL,      -- sha256 of the query text
        content_hash   TEXT NOT NULL,      -- sha256 of the chunk text
        judge_model    TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        grade          INTEGER NOT NULL,   -- the judge's grade after its own checks (quote verification)
        reason         TEXT,
        score          DOUBLE,             -- P(yes) in pointwise mode
        extra_json     TEXT,
        created_at     TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (query_hash, content_hash, judge_model, prompt_version)
    );
    CREATE TABLE judge_labels (
        run_id         TEXT NOT NULL,
        task_id        TEXT NOT NULL,
        query          TEXT NOT NULL,
        chunk_id       TEXT NOT NULL,
        content_hash   TEXT,
        grade          INTEGER NOT NULL,   -- 0..3 after the documented mapping (docs/feedback.md)
        judge_grade    INTEGER,            -- the LLM judge's grade alone (NULL without an LLM)
        score          DOUBLE,
        answer_hit     BOOLEAN,            -- the verified answer occurs in the chunk (NULL: not applicable)
        cited          BOOLEAN,            -- cited in a successful task
        reason         TEXT,
        signal         TEXT NOT NULL,      -- 'llm_judge' | 'answer_containment' | 'verified_yes'
        judge_model    TEXT,
        prompt_version TEXT,
        PRIMARY KEY (run_id, task_id, chunk_id)
    );
    CREATE TABLE pairs (
        run_id            TEXT NOT NULL,
        task_id           TEXT NOT NULL,
        query             TEXT NOT NULL,
        chosen_chunk_id   TEXT NOT NULL,
        rejected_chunk_id TEXT NOT NULL,
        weight            DOUBLE NOT NULL, -- 0..1: how sure the pair is
        signal            TEXT NOT NULL,   -- the winning rule (signals.RULES)
        support           TEXT,            -- every rule that agreed, comma-separated
        overruled         TEXT,            -- rules that said the opposite and lost
        judge_model       TEXT,
        prompt_version    TEXT,
        PRIMARY KEY (run_id, task_id, query, chosen_chunk_id, rejected_chunk_id)
    );
    CREATE TABLE rewards (
        run_id     TEXT NOT NULL,
        task_id    TEXT NOT NULL,
        kind       TEXT NOT NULL,          -- 'ranking' (one served ranking) | 'task'
        attempt    INTEGER NOT NULL,       -- -1 for kind 'task'
        stage      TEXT NOT NULL,          -- 'retrieve' | 'rerank' | '' for kind 'task'
        query      TEXT,
        value      DOUBLE,                 -- ranking: NDCG@10 vs judge labels; task: the task reward
        coverage   DOUBLE,                 -- ranking: share of its top 10 that has a label
        success    BOOLEAN,
        n_rewrites INTEGER,
        n_fallbacks INTEGER,
        tokens     INTEGER,
        ranking_model TEXT,                -- embedder (retrieve) or reranker (rerank) version that served it
        judge_model    TEXT,
        prompt_version TEXT,
        PRIMARY KEY (run_id, task_id, kind, attempt, stage)
    );
    CREATE TABLE negatives (
        run_id            TEXT NOT NULL,
        task_id           TEXT NOT NULL,
        query             TEXT NOT NULL,
        chunk_id          TEXT NOT NULL,
        positive_chunk_id TEXT,            -- the positive the margin filter compared against
        score             DOUBLE,          -- similarity(query, negative) under embedder_version
        positive_score    DOUBLE,
        rank              INTEGER,         -- rank in the mined list
        weight            DOUBLE NOT NULL,
        signal            TEXT NOT NULL,   -- 'mined' | 'web_fallback'
        embedder_version  TEXT,
        PRIMARY KEY (run_id, task_id, query, chunk_id)
    );
    """,
    # The answer checker's word on the asked-for clause (TaskTrace.clause_exists): TRUE = it is in the
    # contract (a date/text task, a verified "Yes", a failed "No"), FALSE = it is absent (a verified
    # "No", a failed "Yes": every chunk of the task is a verified negative), NULL = unknown. Soft
    # listwise targets skip FALSE tasks (training.distill.lists_need_clause).
    """
    ALTER TABLE harvest_state ADD COLUMN clause_exists BOOLEAN;
    """,
]
