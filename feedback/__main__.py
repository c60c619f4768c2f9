"""`python -m feedback ...` (same commands as the `feedback` console script)."""

from rag_agent.cli_common import run_app

from feedback.cli import app

if __name__ == "__main__":
    run_app(app)
