"""Tables owned by ingestion: documents and their chunks. Documented in docs/schema.md."""

OWNER = "rag_agent.corpus"

MIGRATIONS = [
    """
    CREATE TABLE documents (
        doc_id      TEXT PRIMARY KEY,
        source      TEXT NOT NULL,      -- file the text came from (path as given)
        title       TEXT,
        sha256      TEXT NOT NULL,      -- of the text; re-ingesting identical text is a no-op
        n_chars     INTEGER NOT NULL,
        text        TEXT NOT NULL,
        ingested_at TIMESTAMP DEFAULT current_timestamp
    );
    CREATE TABLE chunks (
        chunk_id     TEXT PRIMARY KEY,  -- "<doc_id>:<start>-<end>"
        doc_id       TEXT NOT NULL,
        ordinal      INTEGER NOT NULL,  -- position within the document
        start_char   INTEGER NOT NULL,  -- documents.text[start_char:end_char] == text
        end_char     INTEGER NOT NULL,
        text         TEXT NOT NULL,
        content_hash TEXT NOT NULL
    );
    CREATE INDEX chunks_doc ON chunks (doc_id);
    """,
]
