"""Tables owned by the training loop: per-cycle, per-step state, so a crash resumes where it stopped.

A step's row is written once, when the step has finished, with everything later steps need in
`payload` (json). A cycle's steps run in the order of `training.loop.STEPS`; on restart, a step
with a row is skipped and its payload reused. Documented in docs/training.md.
"""

OWNER = "training.loop"

MIGRATIONS = [
    """
    CREATE TABLE loop_steps (
        cycle       INTEGER NOT NULL,
        step        TEXT NOT NULL,       -- training.loop.STEPS
        payload     TEXT NOT NULL,       -- json: what the step produced (ids, metrics, decision)
        seconds     DOUBLE NOT NULL,     -- wall time of the step
        finished_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (cycle, step)
    );
    """,
]
