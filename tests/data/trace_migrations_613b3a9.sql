-- The trace tables' migrations exactly as ragloop wrote them at commit 613b3a9 (before the tables were
-- declared in rag_agent/tracing_schema.py). tests/test_trace_schema.py builds a workspace from these
-- scripts and checks that the generated DDL makes the same tables and that such a workspace still opens.
-- migration 1
CREATE TABLE runs (
    run_id           TEXT PRIMARY KEY,
    started_at       TIMESTAMP DEFAULT current_timestamp,
    tasks_file       TEXT,
    llm              TEXT,             -- backend/model name
    embedder_version TEXT,
    reranker_version TEXT,
    seed             INTEGER,
    config_json      TEXT              -- the full RagloopConfig used
);
CREATE TABLE tasks (
    run_id       TEXT NOT NULL,
    task_id      TEXT NOT NULL,
    doc_id       TEXT,                 -- scope; NULL = whole corpus
    question     TEXT NOT NULL,
    answer_type  TEXT,
    status       TEXT NOT NULL,        -- 'done' | 'failed'
    error        TEXT,                 -- why it failed (invalid LLM JSON after retries, ...)
    seconds      DOUBLE,
    llm_seconds  DOUBLE,
    tokens_in    INTEGER,
    tokens_out   INTEGER,
    finished_at  TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (run_id, task_id)
);
CREATE TABLE steps (
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    step_no     INTEGER NOT NULL,      -- order within the task
    node        TEXT NOT NULL,         -- graph node name
    seconds     DOUBLE NOT NULL,       -- wall time of the node
    llm_seconds DOUBLE NOT NULL,       -- part of it spent inside LLM calls
    tokens_in   INTEGER NOT NULL,
    tokens_out  INTEGER NOT NULL
);
CREATE TABLE retrievals (
    run_id           TEXT NOT NULL,
    task_id          TEXT NOT NULL,
    attempt          INTEGER NOT NULL, -- 0 = original query, n = after the n-th rewrite
    query            TEXT NOT NULL,
    stage            TEXT NOT NULL,    -- 'retrieve' (index order) | 'rerank' (reranker order)
    rank             INTEGER NOT NULL, -- 1-based within (attempt, stage)
    chunk_id         TEXT NOT NULL,
    doc_id           TEXT,
    score            DOUBLE,
    shown            BOOLEAN NOT NULL, -- the LLM saw this chunk (in grading/answering)
    embedder_version TEXT,
    reranker_version TEXT
);
CREATE TABLE grades (
    run_id   TEXT NOT NULL,
    task_id  TEXT NOT NULL,
    attempt  INTEGER NOT NULL,
    chunk_id TEXT NOT NULL,
    rank     INTEGER NOT NULL,         -- position shown to the grader (1-based)
    relevant BOOLEAN NOT NULL
);
CREATE TABLE citations (
    run_id       TEXT NOT NULL,
    task_id      TEXT NOT NULL,
    chunk_id     TEXT NOT NULL,
    citation_no  INTEGER NOT NULL,     -- the [n] used in the answer
    rank         INTEGER NOT NULL      -- position in the answer context (1-based)
);
CREATE TABLE ignored (                 -- shown in the answer context but not cited
    run_id   TEXT NOT NULL,
    task_id  TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    rank     INTEGER NOT NULL
);
CREATE TABLE rewrites (
    run_id     TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    attempt    INTEGER NOT NULL,       -- the attempt this rewrite starts
    from_query TEXT NOT NULL,
    to_query   TEXT NOT NULL
);
CREATE TABLE web_fallbacks (
    run_id    TEXT NOT NULL,
    task_id   TEXT NOT NULL,
    query     TEXT NOT NULL,
    backend   TEXT NOT NULL,
    n_results INTEGER NOT NULL,
    results_json TEXT
);
CREATE TABLE answers (
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    generation  INTEGER NOT NULL,      -- 0 = first answer, 1 = after a failed groundedness check
    answer      TEXT NOT NULL,
    grounded    BOOLEAN,               -- the groundedness check's verdict (NULL = not checked)
    final       BOOLEAN NOT NULL
);
CREATE TABLE outcomes (
    run_id    TEXT NOT NULL,
    task_id   TEXT NOT NULL,
    success   BOOLEAN,                 -- NULL when the task file has no answer
    checker   TEXT,                    -- 'date' | 'yes_no' | 'text'
    predicted TEXT,
    gold      TEXT,
    reason    TEXT
);

-- migration 2
CREATE TABLE grade_scores (
    run_id    TEXT NOT NULL,
    task_id   TEXT NOT NULL,
    attempt   INTEGER NOT NULL,
    mode      TEXT NOT NULL,           -- agent.grade_mode: 'score' | 'list'
    score     DOUBLE,                  -- P(yes) that the shown chunks answer the question; NULL in list mode
    threshold DOUBLE,                  -- agent.grade_threshold in score mode; NULL in list mode
    passed    BOOLEAN NOT NULL         -- the attempt went on to answer (else rewrite / fallback)
);
